package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Get copies the remote file src to the local path dst: into a temporary
// file beside dst, then renamed over it, so dst is never half written. The
// local file takes the remote file's permission bits.
func (c *Conn) Get(ctx context.Context, src, dst string, progress func(int64)) (err error) {
	cl, err := c.SFTP(ctx)
	if err != nil {
		return err
	}
	in, err := cl.Open(src)
	if err != nil {
		return sftpError("open "+src, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return sftpError("stat "+src, err)
	}
	if st.IsDir() {
		return &Error{Kind: errTransfer, Reason: src + " is a folder (use -r)"}
	}
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".fleet-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.client.Close() })
	defer stop()
	_, err = io.Copy(out, &progressReader{r: in, progress: progress})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return sftpError("read "+src, err)
	}
	if err := os.Chmod(out.Name(), st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(out.Name(), dst)
}

// GetTree copies the remote folder src into the local folder dst, which is
// created. Symbolic links are recreated as links; other special files are
// skipped.
func (c *Conn) GetTree(ctx context.Context, src, dst string, progress func(int64)) error {
	cl, err := c.SFTP(ctx)
	if err != nil {
		return err
	}
	w := cl.Walk(src)
	for w.Step() {
		if err := w.Err(); err != nil {
			return sftpError("read "+w.Path(), err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := relRemote(src, w.Path())
		if err != nil {
			return err
		}
		local := filepath.Join(dst, filepath.FromSlash(rel))
		st := w.Stat()
		switch {
		case st.IsDir():
			if err := os.MkdirAll(local, 0o755); err != nil {
				return err
			}
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := cl.ReadLink(w.Path())
			if err != nil {
				return sftpError("readlink "+w.Path(), err)
			}
			os.Remove(local)
			if err := os.Symlink(target, local); err != nil {
				return err
			}
		case st.Mode().IsRegular():
			if err := c.Get(ctx, w.Path(), local, progress); err != nil {
				return err
			}
		}
	}
	return nil
}

// relRemote is p relative to root, both remote (slash) paths.
func relRemote(root, p string) (string, error) {
	root, p = path.Clean(root), path.Clean(p)
	if p == root {
		return ".", nil
	}
	if len(p) > len(root) && p[:len(root)] == root && (root == "/" || p[len(root)] == '/') {
		return p[len(root)+1-boolInt(root == "/"):], nil
	}
	return "", errors.New(fmt.Sprintf("%s is not under %s", p, root))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
