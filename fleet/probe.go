package fleet

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RemoteFile is what a probe learns about a remote path.
type RemoteFile struct {
	Exists bool
	Dir    bool
	Size   int64
	Mode   os.FileMode // permission bits
	Owner  string
	Group  string
	SHA256 string // hex; only for regular files
}

// Probe reads the state of a remote path in one round trip: type, size,
// mode, owner and the SHA-256 of its content, as root with sudo when the
// path may be private to root. Symbolic links are followed.
func (x *Remote) Probe(ctx context.Context, path string, sudo bool, sudoPassword []byte) (*RemoteFile, error) {
	q := Quote(path)
	script := fmt.Sprintf("if [ -d %[1]s ]; then echo dir; elif [ -e %[1]s ]; then stat -L -c 'file %%s %%a %%U %%G' -- %[1]s && sha256sum < %[1]s; else echo none; fi", q)
	var out, errb bytes.Buffer
	err := x.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(script), Stdout: &out, Stderr: &errb, Sudo: sudo, SudoPassword: sudoPassword})
	if err != nil {
		return nil, remoteError(ctx, "probe "+path, err, errb.String())
	}
	return parseProbe(out.String())
}

// parseProbe reads the probe's answer from the end of the output: a login
// shell may print text of its own first.
func parseProbe(out string) (*RemoteFile, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if n := len(lines); n > 2 || n == 2 && (lines[1] == "none" || lines[1] == "dir") {
		if last := lines[n-1]; last == "none" || last == "dir" {
			lines = lines[n-1:]
		} else {
			lines = lines[n-2:]
		}
	}
	switch {
	case len(lines) == 1 && lines[0] == "none":
		return &RemoteFile{}, nil
	case len(lines) == 1 && lines[0] == "dir":
		return &RemoteFile{Exists: true, Dir: true}, nil
	case len(lines) == 2:
		f := strings.Fields(lines[0])
		h := strings.Fields(lines[1])
		if len(f) == 5 && f[0] == "file" && len(h) >= 1 {
			size, err1 := strconv.ParseInt(f[1], 10, 64)
			mode, err2 := strconv.ParseUint(f[2], 8, 32)
			if _, err3 := hex.DecodeString(h[0]); err1 == nil && err2 == nil && err3 == nil && len(h[0]) == 64 {
				return &RemoteFile{Exists: true, Size: size, Mode: os.FileMode(mode) & os.ModePerm,
					Owner: f[3], Group: f[4], SHA256: h[0]}, nil
			}
		}
	}
	return nil, fmt.Errorf("unexpected answer from the host (are stat and sha256sum installed?): %q", out)
}
