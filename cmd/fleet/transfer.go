package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/time/rate"

	"github.com/fleet-sh/fleet/fleet"
)

// What pscp's and pslurp's scp options (-x -l, -x -p) and scp's paths
// (~/x) mean for fleet's transfers.

// bandwidth is one host's scp -l: a token bucket that the transfer's
// progress reports draw from, so that the transfer waits (the engine reads
// the next chunk only when the report returns).
type bandwidth struct {
	ctx   context.Context
	lim   *rate.Limiter
	burst int
}

// newBandwidth limits one host to bytesPerSec; nil when there is no limit.
func newBandwidth(ctx context.Context, bytesPerSec int64) *bandwidth {
	if bytesPerSec <= 0 {
		return nil
	}
	// A small bucket keeps the rate even: a quarter of a second's worth,
	// within one SFTP packet.
	burst := int(min(max(bytesPerSec/4, 1024), 32<<10))
	return &bandwidth{ctx: ctx, lim: rate.NewLimiter(rate.Limit(bytesPerSec), burst), burst: burst}
}

// take waits until n more bytes are allowed (or the host's context ends,
// which ends the transfer anyway).
func (b *bandwidth) take(n int64) {
	for n > 0 {
		k := min(n, int64(b.burst))
		if b.lim.WaitN(b.ctx, int(k)) != nil {
			return
		}
		n -= k
	}
}

// progress chains the limit in front of next for one file of size bytes.
// A file the engine finds already in place is reported whole at once and
// was not sent: that report is not limited. (A real transfer reports each
// SFTP packet, 32 KiB at most, so only files up to that size are counted
// even when unchanged, for at most a packet's time.)
func (b *bandwidth) progress(size int64, next func(int64)) func(int64) {
	if b == nil {
		return next
	}
	first := true
	return func(n int64) {
		whole := first && n == size && size > 32<<10
		first = false
		if !whole {
			b.take(n)
		}
		if next != nil {
			next(n)
		}
	}
}

// remotePath reads a remote path as scp does: ~ and ~/x are the login
// user's home, which is where SFTP and the login shell start, so they
// become relative paths. ~user/x names another user's home, which fleet
// cannot look up over SFTP: refused.
func remotePath(p string) (string, error) {
	switch {
	case p == "~":
		return ".", nil
	case p == "~/":
		return "./", nil
	case strings.HasPrefix(p, "~/"):
		return strings.TrimLeft(p[2:], "/"), nil
	case strings.HasPrefix(p, "~"):
		return "", usageError("remote path %q: ~user is not supported; write that user's home as a full path", p)
	}
	return p, nil
}

// preserveLocal gives what slurp wrote at name (a file, or with tree the
// folder and everything in it) the remote modes and times, as scp -p does.
// Folders are done last, deepest first, since writing into a folder
// changes its time.
func preserveLocal(ctx context.Context, c *fleet.Conn, root *os.Root, remote, name string, tree bool) error {
	cl, err := c.SFTP(ctx)
	if err != nil {
		return err
	}
	rels := []string{"."}
	if tree {
		rels = nil
		err := fs.WalkDir(root.FS(), name, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type()&fs.ModeSymlink == 0 {
				rel := strings.TrimPrefix(strings.TrimPrefix(p, name), "/")
				rels = append(rels, cmp.Or(rel, "."))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		slices.Reverse(rels) // children before their folder
	}
	for _, rel := range rels {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := cl.Stat(path.Join(remote, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue // --dereference or a skipped entry: nothing to give
		}
		if err != nil {
			return fmt.Errorf("scp -p: %s: %w", path.Join(remote, rel), err)
		}
		local := path.Join(name, rel)
		if err := root.Chmod(local, st.Mode().Perm()); err != nil {
			return fmt.Errorf("local: %w", err)
		}
		if err := root.Chtimes(local, atime(st), st.ModTime()); err != nil {
			return fmt.Errorf("local: %w", err)
		}
	}
	return nil
}

// atime is a remote file's access time as SFTP gives it; a local file's
// is left to its modification time (scp -p's times are both, and the
// modification time is the one that matters to make, rsync and people).
func atime(fi fs.FileInfo) time.Time {
	if s, ok := fi.Sys().(*sftp.FileStat); ok && s.Atime != 0 {
		return time.Unix(int64(s.Atime), 0)
	}
	return fi.ModTime()
}
