package fleet

import (
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
	// Target is, when the path is a symbolic link, the absolute path it
	// resolves to (readlink -f), whether that exists or not; else "".
	Target string
}

// Probe reads the state of a remote path in one round trip: type, size,
// mode, owner and the SHA-256 of its content, as root with sudo when the
// path may be private to root. Symbolic links are followed, and a link's
// resolved path is told in Target.
func (x *Remote) Probe(ctx context.Context, path string, sudo bool, sudoPassword []byte) (*RemoteFile, error) {
	var out, errb answer
	err := x.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(probeScript(path)), Stdout: &out, Stderr: &errb, Sudo: sudo, SudoPassword: sudoPassword})
	if err != nil {
		return nil, remoteError(ctx, "probe "+path, err, errb.String())
	}
	f, err := parseProbe(out.String())
	if err != nil {
		if b := x.conn.Banner(); b != "" {
			return nil, &Error{Kind: errTransfer, Reason: err.Error(), Hint: bannerHint(b), Err: err}
		}
	}
	return f, err
}

// probeScript prints, for a symbolic link, "link TARGET" first (a target
// whose name holds a newline is refused: it would not read back as one
// line), then "dir", "none", or "file SIZE MODE USER GROUP" and the
// SHA-256 line.
func probeScript(path string) string {
	return fmt.Sprintf(`if [ -L %[1]s ]; then t=$(readlink -f -- %[1]s) && [ -n "$t" ] || `+
		`{ echo "cannot resolve the symbolic link" >&2; exit 1; }; `+
		`case $t in *'
'*) echo "the symbolic link's target has a newline in its name" >&2; exit 1;; esac; printf 'link %%s\n' "$t"; fi; `+
		`if [ -d %[1]s ]; then echo dir; elif [ -e %[1]s ]; then stat -L -c 'file %%s %%a %%U %%G' -- %[1]s && sha256sum < %[1]s; else echo none; fi`,
		Quote(path))
}

// parseProbe reads the probe's answer from the end of the output: a login
// shell may print text of its own first.
func parseProbe(out string) (*RemoteFile, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	n := len(lines)
	var f *RemoteFile
	used := 1
	switch {
	case lines[n-1] == "none":
		f = &RemoteFile{}
	case lines[n-1] == "dir":
		f = &RemoteFile{Exists: true, Dir: true}
	case n >= 2:
		f, used = parseProbeFile(lines[n-2], lines[n-1]), 2
	}
	if f == nil {
		return nil, fmt.Errorf("unexpected answer from the host (are stat and sha256sum installed?): %.200q", out)
	}
	if i := n - used - 1; i >= 0 && strings.HasPrefix(lines[i], "link /") {
		f.Target = strings.TrimPrefix(lines[i], "link ")
	}
	return f, nil
}

// parseProbeFile reads "file SIZE MODE USER GROUP" and sha256sum's line,
// or returns nil.
func parseProbeFile(stat, sum string) *RemoteFile {
	f := strings.Fields(stat)
	h := strings.Fields(sum)
	if len(f) != 5 || f[0] != "file" || len(h) < 1 {
		return nil
	}
	size, err1 := strconv.ParseInt(f[1], 10, 64)
	mode, err2 := strconv.ParseUint(f[2], 8, 32)
	if _, err3 := hex.DecodeString(h[0]); err1 != nil || err2 != nil || err3 != nil || len(h[0]) != 64 {
		return nil
	}
	return &RemoteFile{Exists: true, Size: size, Mode: os.FileMode(mode) & os.ModePerm, Owner: f[3], Group: f[4], SHA256: h[0]}
}
