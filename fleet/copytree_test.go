package fleet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// localTree makes a source folder conf.d with a file, a nested file, an
// empty folder and a link.
func localTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "conf.d")
	for _, d := range []string{"sub", "empty"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "a.conf"), "a\n", 0o644)
	writeFile(t, filepath.Join(root, "sub", "b.conf"), "b\n", 0o600)
	if err := os.Symlink("a.conf", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	return root
}

func copyTree(t *testing.T, c *Conn, srcs []*CopySource, remote string) (bool, []string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var steps []string
	changed, err := c.CopyTree(ctx, srcs, remote, CopyOptions{Step: func(s CopyStep) { steps = append(steps, s.String()) }})
	return changed, steps, Classify(ctx, err)
}

func readSources(t *testing.T, recursive bool, paths ...string) []*CopySource {
	t.Helper()
	var out []*CopySource
	for _, p := range paths {
		s, err := ReadCopySource(p, recursive)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// A folder copied into a folder (REMOTE ends in /) lands as REMOTE/NAME
// with its files, folders and links; copied again, nothing changes and each
// step says so.
func TestCopyTreeFolderIntoFolder(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	src := localTree(t)
	remote := t.TempDir()
	srcs := readSources(t, true, src)
	if n := srcs[0].Size(); n != 4 {
		t.Fatalf("Size = %d, want 4 (a\\n and b\\n)", n)
	}

	changed, steps, err := copyTree(t, c, srcs, remote+"/")
	if err != nil || !changed {
		t.Fatalf("first copy: changed=%v err=%v steps=%q", changed, err, steps)
	}
	dst := filepath.Join(remote, "conf.d")
	if b, _ := os.ReadFile(filepath.Join(dst, "sub", "b.conf")); string(b) != "b\n" {
		t.Fatalf("sub/b.conf = %q", b)
	}
	if st, err := os.Stat(filepath.Join(dst, "sub", "b.conf")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sub/b.conf mode: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(dst, "empty")); err != nil || !st.IsDir() {
		t.Fatalf("empty folder: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(dst, "current")); err != nil || target != "a.conf" {
		t.Fatalf("link: %q %v, want a link to a.conf (as cp -a)", target, err)
	}
	want := []string{"folder " + remote + ": unchanged", "folder " + dst + ": changed",
		"file " + dst + "/a.conf: changed", "link " + dst + "/current: changed",
		"folder " + dst + "/empty: changed", "folder " + dst + "/sub: changed", "file " + dst + "/sub/b.conf: changed"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps\n%q\nwant\n%q", steps, want)
	}

	changed, steps, err = copyTree(t, c, srcs, remote+"/")
	if err != nil || changed {
		t.Fatalf("second copy: changed=%v err=%v, want unchanged", changed, err)
	}
	if len(steps) != len(want) {
		t.Fatalf("second copy steps %q, want %d", steps, len(want))
	}
	for _, s := range steps {
		if !strings.HasSuffix(s, ": unchanged") {
			t.Fatalf("second copy step %q, want unchanged", s)
		}
	}
}

// One file: REMOTE that is not a folder becomes the file; REMOTE that is an
// existing folder receives it under its own name.
func TestCopyTreeOneFile(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	p := filepath.Join(t.TempDir(), "daemon.json")
	writeFile(t, p, "{}\n", 0o644)
	srcs := readSources(t, false, p)
	remote := t.TempDir()

	if _, steps, err := copyTree(t, c, srcs, filepath.Join(remote, "renamed.json")); err != nil ||
		!slices.Equal(steps, []string{"file " + remote + "/renamed.json: changed"}) {
		t.Fatalf("to a new name: %v %q", err, steps)
	}
	if _, steps, err := copyTree(t, c, srcs, remote); err != nil ||
		!slices.Equal(steps, []string{"file " + remote + "/daemon.json: changed"}) {
		t.Fatalf("into an existing folder: %v %q", err, steps)
	}
	if b, _ := os.ReadFile(filepath.Join(remote, "daemon.json")); string(b) != "{}\n" {
		t.Fatalf("daemon.json = %q", b)
	}
}

// Several sources always go into REMOTE as a folder, made when missing; a
// file in the way of a folder stops the copy there, reported failed.
func TestCopyTreeSeveralAndBlocked(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, "a", 0o644)
	writeFile(t, b, "b", 0o644)
	remote := filepath.Join(t.TempDir(), "new")
	if _, _, err := copyTree(t, c, readSources(t, false, a, b), remote); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if got, _ := os.ReadFile(filepath.Join(remote, n)); string(got) != n {
			t.Fatalf("%s = %q", n, got)
		}
	}

	blocked := filepath.Join(t.TempDir(), "blocked")
	writeFile(t, blocked, "x", 0o644)
	changed, steps, err := copyTree(t, c, readSources(t, false, a, b), blocked+"/")
	if err == nil || changed || !slices.Equal(steps, []string{"folder " + blocked + ": failed"}) {
		t.Fatalf("into a file: changed=%v err=%v steps=%q, want a failed folder step and nothing sent", changed, err, steps)
	}
}

// A folder without recursive is refused before any host is contacted.
func TestReadCopySourceFolderNeedsRecursive(t *testing.T) {
	_, err := ReadCopySource(t.TempDir(), false)
	if !errors.Is(err, ErrIsFolder) {
		t.Fatalf("err = %v, want ErrIsFolder", err)
	}
}

// With Preserve, every file and folder gets the local modification time
// read with the source (scp -p), folders after what is in them; a second
// copy changes nothing.
func TestCopyTreePreserveTimes(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	root := localTree(t)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, p := range []string{"a.conf", "sub/b.conf", "sub", "empty", "."} {
		if err := os.Chtimes(filepath.Join(root, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	srcs := readSources(t, true, root)
	dst := t.TempDir() + "/"
	ctx := testContext(t, 30*time.Second)
	changedThenUnchanged(t, "copy", func() (bool, error) { return c.CopyTree(ctx, srcs, dst, CopyOptions{Preserve: true}) })
	for _, p := range []string{"conf.d/a.conf", "conf.d/sub/b.conf", "conf.d/sub", "conf.d/empty", "conf.d"} {
		st, err := os.Stat(filepath.Join(dst, p))
		if err != nil || !st.ModTime().Equal(old) {
			t.Errorf("%s: %v, %v; want the local time %v", p, st.ModTime(), err, old)
		}
	}
}
