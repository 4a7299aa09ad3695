package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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

// preserveRemote gives the remote path the local file's times, as scp -p
// does, and says whether it changed them.
func preserveRemote(ctx context.Context, c *fleet.Conn, local, remote string) (bool, error) {
	st, err := os.Stat(local)
	if err != nil {
		return false, fmt.Errorf("local: %w", err)
	}
	cl, err := c.SFTP(ctx)
	if err != nil {
		return false, err
	}
	cur, err := cl.Stat(remote)
	if err != nil {
		return false, fmt.Errorf("scp -p: %s: %w", remote, err)
	}
	mtime := st.ModTime().Truncate(time.Second)
	if cur.ModTime().Equal(mtime) {
		return false, nil
	}
	if err := cl.Chtimes(remote, atime(st), mtime); err != nil {
		return false, fmt.Errorf("scp -p: %s: %w", remote, err)
	}
	return true, nil
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

// putFile copies one file to a host: at the bandwidth limit, and with
// scp -p with the local file's mode and times.
func (o *copyOptions) putFile(ctx context.Context, c *fleet.Conn, f *fleet.LocalFile, dst string, put fleet.PutOptions, bw *bandwidth) (bool, error) {
	put.Progress = bw.progress(f.Size, put.Progress)
	if o.preserve && put.Mode == 0 {
		put.Mode = f.Mode
	}
	changed, err := c.Put(ctx, f, dst, put)
	if err != nil || !o.preserve {
		return changed, err
	}
	ch, err := preserveRemote(ctx, c, f.Path, dst)
	return changed || ch, err
}

// preserveFolders gives, with scp -p, the folders of a copied source
// folder their local times, deepest first (their files are in place).
func (o *copyOptions) preserveFolders(ctx context.Context, c *fleet.Conn, src *copySource, dst string) (bool, error) {
	if !src.isDir {
		return false, nil
	}
	changed := false
	for i := len(src.items) - 1; i >= -1; i-- {
		local, remote := src.path, dst
		if i >= 0 {
			if !src.items[i].dir {
				continue
			}
			local, remote = filepath.Join(src.path, filepath.FromSlash(src.items[i].rel)), path.Join(dst, src.items[i].rel)
		}
		ch, err := preserveRemote(ctx, c, local, remote)
		if err != nil {
			return changed, err
		}
		changed = changed || ch
	}
	return changed, nil
}
