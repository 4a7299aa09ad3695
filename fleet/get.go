package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/pkg/sftp"
)

// GetOptions controls Get and GetTree.
type GetOptions struct {
	// MaxSize caps the size of each file in bytes: a larger file fails the
	// copy and leaves nothing behind. 0 means no cap.
	MaxSize int64
	// MaxSizeText is MaxSize as the user wrote it, for the error message.
	MaxSizeText string
	// Dereference copies, in place of each symbolic link of a tree, the
	// regular file it points to (wherever it is on the host), as cp -L.
	Dereference bool
	// Progress, when set, is called with the bytes of each read.
	Progress func(int64)
	// Skipped, when set, is called for each remote entry not copied: its
	// remote path and why.
	Skipped func(remote, reason string)
}

// maxTreePath bounds the relative path of an entry of a tree: a real
// filesystem never nests that deep, a hostile SFTP server could forever.
const maxTreePath = 4096

// Get copies the remote file src to dst, a path inside root: into a
// temporary file beside dst, then renamed over it, so dst is never half
// written and a link already at dst is replaced, never written through.
// src may be a symbolic link (the user named it) but must end at a regular
// file: a folder, a FIFO or a device fails without being opened. The local
// file takes the remote file's permission bits.
func (c *Conn) Get(ctx context.Context, src string, root *os.Root, dst string, o GetOptions) error {
	return c.get(ctx, src, root, dst, o, false)
}

// GetTree copies the remote folder src (or a link to one: the user named
// it) to the folder dst inside root. Inside the tree only folders, regular
// files and the symbolic links whose targets stay inside the tree come
// back; the rest is reported through o.Skipped and the copy goes on. A src
// that is a regular file is copied as Get does.
func (c *Conn) GetTree(ctx context.Context, src string, root *os.Root, dst string, o GetOptions) error {
	return c.get(ctx, src, root, dst, o, true)
}

func (c *Conn) get(ctx context.Context, src string, root *os.Root, dst string, o GetOptions, tree bool) error {
	return c.cancellable(ctx, func(cl *sftp.Client) error {
		g := &getter{cl: cl, root: root, o: o}
		// Stat, not Open: a FIFO must never be opened, and the top-level
		// path may be a link, which is followed.
		st, err := cl.Stat(src)
		if err != nil {
			return readError("stat "+src, err)
		}
		switch {
		case st.IsDir() && !tree:
			return &Error{Kind: errTransfer, Reason: src + " is a folder (use -r)"}
		case st.IsDir():
			if err := g.mkdir(dst); err != nil {
				return err
			}
			return g.walk(ctx, src, dst, "")
		case !st.Mode().IsRegular():
			return &Error{Kind: errTransfer, Reason: fmt.Sprintf("%s is not a regular file (%s): slurp copies regular files only", src, fileType(st.Mode()))}
		}
		return g.file(src, dst, st)
	})
}

// cancellable runs f with the connection's SFTP client, so that ctx (-t,
// Ctrl-C, SIGTERM) ends it whatever it waits for. pkg/sftp has no
// cancellation and any request can block for good (the open of a FIFO the
// host swapped in, a hung server): closing the connection on ctx fails
// every request in flight.
func (c *Conn) cancellable(ctx context.Context, f func(*sftp.Client) error) error {
	cl, err := c.SFTP(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.client.Close() })
	defer stop()
	if err := f(cl); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// getter holds what one Get or GetTree works with.
type getter struct {
	cl   *sftp.Client
	root *os.Root
	o    GetOptions
}

func (g *getter) skip(remote, reason string) {
	if g.o.Skipped != nil {
		g.o.Skipped(remote, reason)
	}
}

// walk copies what the remote folder dir holds into the local folder rel
// (inTree inside the copied tree, "" at its top), depth first, in name
// order. Entries come from the folder listing, with
// the attributes of the entry itself (lstat): links are never descended.
func (g *getter) walk(ctx context.Context, dir, rel, inTree string) error {
	ents, err := g.cl.ReadDir(dir)
	if err != nil {
		return readError("read folder "+dir, err)
	}
	slices.SortFunc(ents, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range ents {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := e.Name()
		remote := path.Join(dir, name)
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			// Only a hostile server lists such a name; it must not climb.
			g.skip(dir+"/"+name, "not a valid file name")
			continue
		}
		local, treePath := path.Join(rel, name), path.Join(inTree, name)
		if len(local) > maxTreePath {
			return &Error{Kind: errTransfer, Reason: fmt.Sprintf("%s: nested deeper than %d bytes of path", remote, maxTreePath)}
		}
		switch m := e.Mode(); {
		case m.IsDir():
			if err := g.mkdir(local); err != nil {
				return err
			}
			if err := g.walk(ctx, remote, local, treePath); err != nil {
				return err
			}
		case m.IsRegular():
			if err := g.file(remote, local, e); err != nil {
				return err
			}
		case m&fs.ModeSymlink != 0:
			if err := g.link(remote, local, treePath); err != nil {
				return err
			}
		default:
			g.skip(remote, "not a regular file ("+fileType(m)+")")
		}
	}
	return nil
}

// link recreates the remote link remote as the local link local when its
// target stays inside the tree (treePath is the link's path in the tree);
// with Dereference it copies the regular file the link ends at instead.
func (g *getter) link(remote, local, treePath string) error {
	target, err := g.cl.ReadLink(remote)
	if err != nil {
		return readError("readlink "+remote, err)
	}
	if g.o.Dereference {
		st, err := g.cl.Stat(remote)
		switch {
		case err != nil:
			g.skip(remote, fmt.Sprintf("symbolic link to %q, which cannot be read: %q", target, err.Error()))
			return nil
		case !st.Mode().IsRegular():
			g.skip(remote, fmt.Sprintf("symbolic link to %q, which is not a regular file (%s)", target, fileType(st.Mode())))
			return nil
		}
		return g.file(remote, local, st)
	}
	if why := unsafeLink(treePath, target); why != "" {
		g.skip(remote, fmt.Sprintf("symbolic link to %q: %s (use --dereference to copy the file it points to)", target, why))
		return nil
	}
	return g.symlink(target, local)
}

// readError is sftpError for the reading side: permission is the login
// user's to read, which --sudo (a copy's remedy) does not give slurp.
func readError(what string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return &Error{Kind: errTransfer, Reason: what + ": permission denied",
			Hint: "slurp reads as the login user: log in as a user who may read it", Err: err}
	}
	return sftpError(what, err)
}

// fileType names the type of a file that is not regular, for messages.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "folder"
	}
	return "unknown type"
}
