package fleet

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
)

// The local side of Get and GetTree. Every local path is relative to an
// *os.Root opened on the host's own folder, so nothing the host sends (a
// name, a link) and no link already there can make a write land outside
// it; within it, a link found where a folder or a file goes is replaced,
// never followed.

// errTooBig stops a copy at the --max-size cap.
var errTooBig = errors.New("file larger than the cap")

// mkdir makes rel a folder. A link or a file there (planted, or left by an
// earlier copy when the host had a file there) is removed first: writing
// into the folder must never go through a link.
func (g *getter) mkdir(rel string) error {
	fi, err := g.root.Lstat(rel)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		if err := g.root.Remove(rel); err != nil {
			return fmt.Errorf("local: replace %s with a folder: %w", rel, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("local: %w", err)
	}
	if err := g.root.Mkdir(rel, 0o755); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// file copies the remote regular file remote (st: what the listing or the
// stat said of it) to rel, through a temporary file renamed into place.
func (g *getter) file(remote, rel string, st os.FileInfo) (err error) {
	if g.o.MaxSize > 0 && st.Size() > g.o.MaxSize {
		return g.tooBig(remote)
	}
	in, err := g.cl.Open(remote)
	if err != nil {
		return readError("open "+remote, err)
	}
	defer in.Close()
	// The host may have put something else there since the listing: what
	// was opened must still be a regular file (a link to /dev/zero swapped
	// in is caught here; a FIFO blocks the open, which ctx ends).
	fst, err := in.Stat()
	if err != nil {
		return readError("stat "+remote, err)
	}
	if !fst.Mode().IsRegular() {
		return &Error{Kind: errTransfer, Reason: fmt.Sprintf("%s turned into a %s while being copied: slurp copies regular files only", remote, fileType(fst.Mode()))}
	}
	tmp, out, err := g.createTemp(rel)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = g.root.Remove(tmp)
		}
	}()
	w := &capWriter{w: out, limit: g.o.MaxSize, progress: g.o.Progress}
	_, err = in.WriteTo(w)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("local: %w", cerr)
	}
	switch {
	case errors.Is(err, errTooBig):
		return g.tooBig(remote)
	case w.err != nil:
		return fmt.Errorf("local: write %s: %w", rel, w.err)
	case err != nil:
		return readError("read "+remote, err)
	}
	if err := g.root.Chmod(tmp, st.Mode().Perm()&^localUmask()); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := g.root.Rename(tmp, rel); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

func (g *getter) tooBig(remote string) error {
	return &Error{Kind: errTransfer, Reason: fmt.Sprintf("%s is larger than --max-size %s", remote, g.o.MaxSizeText),
		Hint: "if the file is meant to be that big, raise the cap, e.g. --max-size 10G (0: no cap)"}
}

// symlink makes rel a symbolic link to target, replacing what is there by
// rename.
func (g *getter) symlink(target, rel string) error {
	tmp := tempName(rel)
	if err := g.root.Symlink(target, tmp); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := g.root.Rename(tmp, rel); err != nil {
		_ = g.root.Remove(tmp)
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// createTemp creates a new private file beside rel, never opening one that
// exists.
func (g *getter) createTemp(rel string) (string, *os.File, error) {
	for i := 0; ; i++ {
		tmp := tempName(rel)
		f, err := g.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return tmp, f, nil
		}
		if !errors.Is(err, fs.ErrExist) || i == 10 {
			return "", nil, fmt.Errorf("local: %w", err)
		}
	}
}

// capWriter writes to w until limit bytes (0: no limit) and fails the
// write that would pass it, so the local disk never holds more than the
// cap. It keeps w's own error apart from the cap's.
type capWriter struct {
	w        io.Writer
	limit    int64
	n        int64
	progress func(int64)
	err      error
}

func (c *capWriter) Write(b []byte) (int, error) {
	if c.limit > 0 && c.n+int64(len(b)) > c.limit {
		return 0, errTooBig
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	if n > 0 && c.progress != nil {
		c.progress(int64(n))
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// unsafeLink says why a link at treePath (its path inside the copied tree,
// slash separated) to target could lead out of the tree, "" when it cannot.
// The test is lexical, as rsync's --safe-links, and stricter: a target may
// climb (..) only at its start, and no higher than the link's own folder
// is deep, for a ".." after a name climbs from wherever that name leads,
// and the name may itself be a link (sub/up -> .. makes sub/up/../.. leave
// the tree although it reads as inside).
func unsafeLink(treePath, target string) string {
	switch {
	case target == "":
		return "its target is empty"
	case strings.HasPrefix(target, "/"):
		return "its target is an absolute path, outside the copied tree"
	case strings.ContainsRune(target, 0):
		return "its target is not a valid path"
	}
	depth := 0
	if d := path.Dir(path.Clean(treePath)); d != "." {
		depth = strings.Count(d, "/") + 1
	}
	named := false
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if named {
				return "its target climbs (..) after a name, which could lead out of the copied tree"
			}
			if depth--; depth < 0 {
				return "its target leads out of the copied tree"
			}
		default:
			named = true
		}
	}
	return ""
}

// localUmask is this process's umask, which a slurped file's mode passes
// through as OpenSSH's sftp get does: a host cannot make a local file
// group- or world-writable that the user's umask would not. Linux says it
// in /proc/self/status; reading it there leaves the umask untouched (the
// umask call would have to set it, racing other goroutines' creates).
var localUmask = sync.OnceValue(func() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return fs.FileMode(n) & fs.ModePerm
				}
			}
		}
	}
	return 0o022
})
