package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// CopySource is one local file or folder that CopyTree sends, read and
// checksummed once for every host.
type CopySource struct {
	// Name is its base name, the name it takes inside a remote folder.
	Name string
	// File is the file when the source is one; nil for a folder.
	File *LocalFile
	// Items is what a folder holds, in walk order (parents first).
	Items []*CopyItem
}

// CopyItem is a folder, file or symbolic link inside a source folder.
type CopyItem struct {
	Rel    string     // its slash path under the source folder
	Dir    bool       // a folder
	File   *LocalFile // a regular file
	Target string     // a link's target text (neither Dir nor File)
}

// ErrIsFolder is returned by ReadCopySource for a folder when recursive is
// false.
var ErrIsFolder = errors.New("is a folder (use -r to copy folders)")

// ReadCopySource stats the local path p and checksums its files. A folder
// needs recursive (cp -r); inside it, folders, regular files and symbolic
// links (as links, their target text, as cp -a) are kept, and sockets and
// devices are left out.
func ReadCopySource(p string, recursive bool) (*CopySource, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	src := &CopySource{Name: filepath.Base(filepath.Clean(p))}
	if !st.IsDir() {
		if src.File, err = StatLocal(p); err != nil {
			return nil, err
		}
		return src, nil
	}
	if !recursive {
		return nil, fmt.Errorf("%s %w", p, ErrIsFolder)
	}
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, q)
		if rel == "." {
			return nil
		}
		it := &CopyItem{Rel: filepath.ToSlash(rel)}
		switch {
		case d.IsDir():
			it.Dir = true
		case d.Type()&fs.ModeSymlink != 0:
			if it.Target, err = os.Readlink(q); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if it.File, err = StatLocal(q); err != nil {
				return err
			}
		default:
			return nil // sockets, devices: not copied
		}
		src.Items = append(src.Items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// Size is the bytes of the source's files.
func (s *CopySource) Size() int64 {
	if s.File != nil {
		return s.File.Size
	}
	var n int64
	for _, it := range s.Items {
		if it.File != nil {
			n += it.File.Size
		}
	}
	return n
}

// CopyStep is one thing CopyTree did on the host.
type CopyStep struct {
	Kind    string // "folder", "file" or "link"
	Path    string // the remote path
	Changed bool
	Err     error
}

// String is the step as a host log says it: "file /etc/x: changed".
func (s CopyStep) String() string {
	state := "unchanged"
	switch {
	case s.Err != nil:
		state = "failed"
	case s.Changed:
		state = "changed"
	}
	return fmt.Sprintf("%s %s: %s", s.Kind, s.Path, state)
}

// CopyTree copies sources to remote on the host, as cp -r and pscp.pssh
// place them: remote is a folder when it ends in /, when it exists as one,
// or when there are several sources (a folder ending in / is created when
// missing); otherwise the one source becomes remote. Each file goes
// through Put (atomic, unchanged when the same), each folder through
// MkdirAll, each link through PutLink. It is the mirror of GetTree. step,
// when set, is told of every folder, file and link, in order; the copy
// stops at the first failure and reports whether anything changed.
func (c *Conn) CopyTree(ctx context.Context, sources []*CopySource, remote string, o PutOptions, step func(CopyStep)) (changed bool, err error) {
	into := len(sources) > 1 || strings.HasSuffix(remote, "/")
	remote = path.Clean(remote)
	did := func(kind, p string, ch bool, err error) error {
		changed = changed || ch
		if step != nil {
			step(CopyStep{Kind: kind, Path: p, Changed: ch, Err: err})
		}
		return err
	}
	if into {
		made, err := c.MkdirAll(ctx, remote, o)
		if err := did("folder", remote, made, err); err != nil {
			return changed, err
		}
	} else {
		cur, err := c.Probe(ctx, remote, o.Sudo, o.SudoPassword)
		if err != nil {
			return false, err
		}
		into = cur.Dir
	}
	for _, src := range sources {
		dst := remote
		if into {
			dst = path.Join(remote, src.Name)
		}
		if src.File != nil {
			ch, err := c.Put(ctx, src.File, dst, o)
			if err := did("file", dst, ch, err); err != nil {
				return changed, err
			}
			continue
		}
		made, err := c.MkdirAll(ctx, dst, o)
		if err := did("folder", dst, made, err); err != nil {
			return changed, err
		}
		for _, it := range src.Items {
			if err := c.copyItem(ctx, it, path.Join(dst, it.Rel), o, did); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

// copyItem places one item of a source folder at p.
func (c *Conn) copyItem(ctx context.Context, it *CopyItem, p string, o PutOptions, did func(string, string, bool, error) error) error {
	switch {
	case it.Dir:
		ch, err := c.MkdirAll(ctx, p, o)
		return did("folder", p, ch, err)
	case it.File != nil:
		ch, err := c.Put(ctx, it.File, p, o)
		return did("file", p, ch, err)
	}
	ch, err := c.PutLink(ctx, it.Target, p, o)
	return did("link", p, ch, err)
}
