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
	"time"
)

// CopySource is one local file or folder that CopyTree sends, read and
// checksummed once for every host.
type CopySource struct {
	// Name is its base name, the name it takes inside a remote folder.
	Name string
	// Path is the local path as given.
	Path string
	// ModTime is a folder's modification time when it was read (scp -p).
	ModTime time.Time
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
	// ModTime is a folder's modification time when it was read (scp -p).
	ModTime time.Time
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
	src := &CopySource{Name: filepath.Base(filepath.Clean(p)), Path: p, ModTime: st.ModTime()}
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
			info, err := d.Info()
			if err != nil {
				return err
			}
			it.ModTime = info.ModTime()
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

// CopyOptions says how CopyTree places what it copies.
type CopyOptions struct {
	// Put is how each file is put (mode, owner, sudo, progress).
	Put PutOptions
	// Preserve gives each file the local mode and times and each folder
	// the local times, as scp -p does.
	Preserve bool
	// FileProgress, when set, gives the progress callback for one file's
	// put in place of Put.Progress (a bandwidth limit hangs here).
	FileProgress func(f *LocalFile) func(int64)
	// Step, when set, is told of every folder, file and link, in order.
	Step func(CopyStep)
	// DryRun, when set, is given each folder, file and link with its
	// remote path in place of CopyTree placing it, in the same order, and
	// nothing is changed (copy --dry-run). A folder CopyTree would make is
	// an item with Dir set, a source file one with File set.
	DryRun func(it *CopyItem, remote string) error
}

// CopyTree copies sources to remote on the host, as cp -r and pscp.pssh
// place them: remote is a folder when it ends in /, when it exists as one,
// or when there are several sources (a folder ending in / is created when
// missing); otherwise the one source becomes remote. Each file goes
// through Put (atomic, unchanged when the same), each folder through
// MkdirAll, each link through PutLink. It is the mirror of GetTree. The
// copy stops at the first failure and reports whether anything changed.
func (c *Conn) CopyTree(ctx context.Context, sources []*CopySource, remote string, o CopyOptions) (changed bool, err error) {
	into := len(sources) > 1 || strings.HasSuffix(remote, "/")
	remote = path.Clean(remote)
	did := func(kind, p string, ch bool, err error) error {
		changed = changed || ch
		if o.Step != nil {
			o.Step(CopyStep{Kind: kind, Path: p, Changed: ch, Err: err})
		}
		return err
	}
	place := func(it *CopyItem, p string) error { return c.copyItem(ctx, it, p, o, did) }
	if o.DryRun != nil {
		place = o.DryRun
	}
	if into {
		if err := place(&CopyItem{Dir: true}, remote); err != nil {
			return changed, err
		}
	} else {
		cur, err := c.Probe(ctx, remote, o.Put.Sudo, o.Put.SudoPassword)
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
			if err := place(&CopyItem{File: src.File}, dst); err != nil {
				return changed, err
			}
			continue
		}
		if err := place(&CopyItem{Dir: true}, dst); err != nil {
			return changed, err
		}
		for _, it := range src.Items {
			if err := place(it, path.Join(dst, it.Rel)); err != nil {
				return changed, err
			}
		}
		if o.Preserve && o.DryRun == nil {
			ch, err := c.preserveFolders(ctx, src, dst)
			if err := did("times of", dst, ch, err); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

// copyItem places one folder, file or link at p.
func (c *Conn) copyItem(ctx context.Context, it *CopyItem, p string, o CopyOptions, did func(string, string, bool, error) error) error {
	switch {
	case it.Dir:
		ch, err := c.MkdirAll(ctx, p, o.Put)
		return did("folder", p, ch, err)
	case it.File != nil:
		ch, err := c.copyFile(ctx, it.File, p, o)
		return did("file", p, ch, err)
	}
	ch, err := c.PutLink(ctx, it.Target, p, o.Put)
	return did("link", p, ch, err)
}

// copyFile puts one file, with its own progress callback and, with
// Preserve, the local mode and times.
func (c *Conn) copyFile(ctx context.Context, f *LocalFile, dst string, o CopyOptions) (bool, error) {
	put := o.Put
	if o.FileProgress != nil {
		put.Progress = o.FileProgress(f)
	}
	if o.Preserve && put.Mode == 0 {
		put.Mode = f.Mode
	}
	changed, err := c.Put(ctx, f, dst, put)
	if err != nil || !o.Preserve {
		return changed, err
	}
	ch, err := c.setModTime(ctx, f.ModTime, dst)
	return changed || ch, err
}

// preserveFolders gives, with scp -p, the folders of a copied source
// folder their local times, deepest first (their files are in place, and
// writing into a folder changes its time).
func (c *Conn) preserveFolders(ctx context.Context, src *CopySource, dst string) (bool, error) {
	changed := false
	for i := len(src.Items) - 1; i >= -1; i-- {
		mtime, remote := src.ModTime, dst
		if i >= 0 {
			if !src.Items[i].Dir {
				continue
			}
			mtime, remote = src.Items[i].ModTime, path.Join(dst, src.Items[i].Rel)
		}
		ch, err := c.setModTime(ctx, mtime, remote)
		if err != nil {
			return changed, err
		}
		changed = changed || ch
	}
	return changed, nil
}

// setModTime gives the remote path a local file's modification time, as
// scp -p does, and says whether it changed it. The time is the one read
// with the file (ReadCopySource), not read again for each host.
func (c *Conn) setModTime(ctx context.Context, local time.Time, remote string) (bool, error) {
	cl, err := c.SFTP(ctx)
	if err != nil {
		return false, err
	}
	cur, err := cl.Stat(remote)
	if err != nil {
		return false, fmt.Errorf("scp -p: %s: %w", remote, err)
	}
	mtime := local.Truncate(time.Second)
	if cur.ModTime().Equal(mtime) {
		return false, nil
	}
	if err := cl.Chtimes(remote, mtime, mtime); err != nil {
		return false, fmt.Errorf("scp -p: %s: %w", remote, err)
	}
	return true, nil
}
