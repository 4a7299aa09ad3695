package fleet

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// openRoot opens a fresh local folder as a host's root.
func openRoot(t *testing.T) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

func TestGetAndGetTree(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := testContext(t, 20*time.Second)

	remote := t.TempDir()
	os.MkdirAll(filepath.Join(remote, "a", "b"), 0o755)
	data := bytes.Repeat([]byte("0123456789"), 200000)
	os.WriteFile(filepath.Join(remote, "a", "b", "f"), data, 0o640)
	os.Symlink("b/f", filepath.Join(remote, "a", "link"))

	local, root := openRoot(t)
	var got int64
	if err := c.Get(ctx, filepath.Join(remote, "a", "b", "f"), root, "copy", GetOptions{Progress: func(n int64) { got += n }}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(local, "copy"))
	st, _ := os.Stat(filepath.Join(local, "copy"))
	if !bytes.Equal(b, data) || st.Mode().Perm() != 0o640 || got != int64(len(data)) {
		t.Fatalf("get: %d bytes, mode %o, progress %d", len(b), st.Mode().Perm(), got)
	}
	if err := c.Get(ctx, filepath.Join(remote, "missing"), root, "m", GetOptions{}); OutcomeOf(Classify(ctx, err)) != Failed {
		t.Errorf("missing remote file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(local, "m")); err == nil {
		t.Error("a failed get left a file")
	}
	if err := c.Get(ctx, filepath.Join(remote, "a"), root, "d", GetOptions{}); err == nil || !strings.Contains(err.Error(), "is a folder (use -r)") {
		t.Errorf("a folder without -r: %v", err)
	}
	if err := c.GetTree(ctx, filepath.Join(remote, "a"), root, "tree", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(local, "tree", "b", "f")); !bytes.Equal(b, data) {
		t.Error("tree file differs")
	}
	if l, err := os.Readlink(filepath.Join(local, "tree", "link")); err != nil || l != "b/f" {
		t.Errorf("link: %q %v", l, err)
	}
	noLeftovers(t, local, filepath.Join(local, "tree"), filepath.Join(local, "tree", "b"))
}

// hostileTree builds, in a fresh remote folder, a tree whose links try to
// leave it, with special files, beside a file and links that are fine.
func hostileTree(t *testing.T) string {
	t.Helper()
	remote := filepath.Join(t.TempDir(), "tree")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(remote, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(remote, "f"), []byte("data\n"), 0o644))
	must(os.WriteFile(filepath.Join(remote, "sub", "deep", "g"), []byte("deep\n"), 0o600))
	for link, target := range map[string]string{
		"ok":           "f",
		"sub/ok":       "../f",
		"sub/deep/ok":  "../../sub/./deep/g",
		"sub/up":       "..", // inside: the tree's top
		"escape":       "../outside",
		"abs":          "/etc/passwd",
		"sub/climb":    "../../x",
		"sub/evil":     "up/../..", // reads as inside; sub/up makes it the parent
		"sub/deep/far": "a/../../../../b",
		"zero":         "/dev/zero",
	} {
		must(os.Symlink(target, filepath.Join(remote, link)))
	}
	must(syscall.Mkfifo(filepath.Join(remote, "sub", "fifo"), 0o644))
	l, err := net.Listen("unix", filepath.Join(remote, "sock"))
	must(err)
	t.Cleanup(func() { l.Close() })
	return remote
}

// TestGetTreeHostile: links leading out of the tree are skipped, safe ones
// kept; FIFOs, sockets and devices are skipped without being opened; links
// planted in the local tree (pointing outside) are replaced, not followed,
// twice in a row.
func TestGetTreeHostile(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := testContext(t, 20*time.Second)
	remote := hostileTree(t)
	canary := t.TempDir()
	local, root := openRoot(t)
	tree := filepath.Join(local, "tree")
	os.MkdirAll(tree, 0o755)
	os.Symlink(canary, filepath.Join(tree, "sub"))                     // a folder's place
	os.Symlink(filepath.Join(canary, "f"), filepath.Join(tree, "f"))   // a file's place
	os.Symlink(filepath.Join(canary, "ok"), filepath.Join(tree, "ok")) // a link's place

	wantSkipped := []string{"abs", "escape", "sock", "sub/climb", "sub/deep/far", "sub/evil", "sub/fifo", "zero"}
	for run := 0; run < 2; run++ {
		var skipped []string
		o := GetOptions{Skipped: func(p, why string) {
			rel, _ := filepath.Rel(remote, p)
			skipped = append(skipped, rel)
			if why == "" {
				t.Errorf("%s skipped without a reason", p)
			}
		}}
		if err := c.GetTree(ctx, remote, root, "tree", o); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		slices.Sort(skipped)
		if !slices.Equal(skipped, wantSkipped) {
			t.Errorf("run %d: skipped %q, want %q", run+1, skipped, wantSkipped)
		}
		if ents, _ := os.ReadDir(canary); len(ents) != 0 {
			t.Fatalf("run %d: something was written outside the host's folder: %v", run+1, ents)
		}
		if fi, err := os.Lstat(filepath.Join(tree, "sub")); err != nil || !fi.IsDir() {
			t.Errorf("run %d: sub is not a real folder: %v %v", run+1, fi, err)
		}
		if b, err := os.ReadFile(filepath.Join(tree, "f")); string(b) != "data\n" {
			t.Errorf("run %d: f: %q %v", run+1, b, err)
		}
		if b, err := os.ReadFile(filepath.Join(tree, "sub", "deep", "g")); string(b) != "deep\n" {
			t.Errorf("run %d: sub/deep/g: %q %v", run+1, b, err)
		}
		for link, target := range map[string]string{"ok": "f", "sub/ok": "../f", "sub/deep/ok": "../../sub/./deep/g", "sub/up": ".."} {
			if got, err := os.Readlink(filepath.Join(tree, link)); err != nil || got != target {
				t.Errorf("run %d: %s: want a link to %q, got %q %v", run+1, link, target, got, err)
			}
		}
		for _, name := range wantSkipped {
			if _, err := os.Lstat(filepath.Join(tree, name)); err == nil {
				t.Errorf("run %d: skipped %s exists locally", run+1, name)
			}
		}
	}
}

// TestGetDereference: with Dereference, links to regular files come back
// as files (wherever they point), links to anything else are skipped.
func TestGetDereference(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := testContext(t, 20*time.Second)
	remote := hostileTree(t)
	os.WriteFile(filepath.Join(filepath.Dir(remote), "outside"), []byte("outside\n"), 0o644)
	local, root := openRoot(t)
	var skipped []string
	o := GetOptions{Dereference: true, Skipped: func(p, _ string) {
		rel, _ := filepath.Rel(remote, p)
		skipped = append(skipped, rel)
	}}
	if err := c.GetTree(ctx, remote, root, "tree", o); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ok": "data\n", "sub/ok": "data\n", "escape": "outside\n", "sub/deep/ok": "deep\n"} {
		p := filepath.Join(local, "tree", name)
		fi, err := os.Lstat(p)
		b, _ := os.ReadFile(p)
		if err != nil || !fi.Mode().IsRegular() || string(b) != want {
			t.Errorf("%s: want a regular file holding %q, got %v %q", name, want, fi, b)
		}
	}
	slices.Sort(skipped)
	// abs is /etc/passwd, a regular file, so it comes back too; the
	// links to folders, to nothing and to a device do not.
	want := []string{"sock", "sub/climb", "sub/deep/far", "sub/evil", "sub/fifo", "sub/up", "zero"}
	if !slices.Equal(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}
}

// TestGetSpecialTopLevel: a FIFO, a device behind a link, a socket given
// as the path to copy fail at once, without opening them; a link to a
// folder given to GetTree is followed.
func TestGetSpecialTopLevel(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := testContext(t, 20*time.Second)
	remote := hostileTree(t)
	local, root := openRoot(t)
	for name, want := range map[string]string{"sub/fifo": "(fifo)", "zero": "(character device)", "sock": "(socket)"} {
		for _, tree := range []bool{false, true} {
			start := time.Now()
			err := c.get(ctx, filepath.Join(remote, name), root, "x", GetOptions{}, tree)
			if err == nil || !strings.Contains(err.Error(), "is not a regular file "+want) || time.Since(start) > 5*time.Second {
				t.Errorf("%s (tree %v): %v after %v", name, tree, err, time.Since(start))
			}
		}
	}
	if ents, _ := os.ReadDir(local); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(remote, link)
	if err := c.GetTree(ctx, link, root, "viaLink", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(local, "viaLink", "sub", "deep", "g")); string(b) != "deep\n" {
		t.Errorf("through a link to the folder: %q", b)
	}
}

// TestGetMaxSize: a file over the cap fails with a clear error and leaves
// nothing; a file that grew past the cap after it was listed stops at the
// cap, and so does an endless device read through the SFTP stream.
func TestGetMaxSize(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := testContext(t, 20*time.Second)
	remote := filepath.Join(t.TempDir(), "big")
	os.WriteFile(remote, bytes.Repeat([]byte("x"), 3<<20), 0o644)
	local, root := openRoot(t)
	o := GetOptions{MaxSize: 1 << 20, MaxSizeText: "1M"}
	err := c.Get(ctx, remote, root, "big", o)
	if fe, ok := err.(*Error); !ok || !strings.Contains(err.Error(), remote+" is larger than --max-size 1M") || fe.Hint == "" {
		t.Errorf("over the cap: %v", err)
	}
	if err := c.Get(ctx, remote, root, "big", GetOptions{MaxSize: 3 << 20}); err != nil {
		t.Errorf("at the cap: %v", err)
	}
	os.Remove(filepath.Join(local, "big"))

	// The listing said 10 bytes; the file holds 3M when it is read.
	small := fakeInfo{size: 10}
	err = c.cancellable(ctx, func(cl *sftp.Client) error {
		g := &getter{cl: cl, root: root, o: o}
		return g.file(remote, "grown", small)
	})
	if err == nil || !strings.Contains(err.Error(), "is larger than --max-size 1M") {
		t.Errorf("grown file: %v", err)
	}
	// /dev/zero read as if it were a regular file: the cap ends it.
	var n int64
	start := time.Now()
	err = c.cancellable(ctx, func(cl *sftp.Client) error {
		in, err := cl.Open("/dev/zero")
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = in.WriteTo(&capWriter{w: &bytes.Buffer{}, limit: 1 << 20, progress: func(k int64) { n += k }})
		return err
	})
	if err != errTooBig || n > 1<<20 || time.Since(start) > 10*time.Second {
		t.Errorf("/dev/zero: %v after %d bytes and %v", err, n, time.Since(start))
	}
	if ents, _ := os.ReadDir(local); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

// TestGetCancelEndsBlockedOpen: an open that never answers (a FIFO the
// host swapped in after the listing) ends when ctx does.
func TestGetCancelEndsBlockedOpen(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	c, _ := connect(t, sshtest.Config{SFTP: true})
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// The server's open stays blocked until a writer comes: be it, after
	// the test, so the server can stop.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	_, root := openRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := c.cancellable(ctx, func(cl *sftp.Client) error {
		g := &getter{cl: cl, root: root}
		return g.file(fifo, "x", fakeInfo{size: 10})
	})
	if err != context.DeadlineExceeded || time.Since(start) > 5*time.Second {
		t.Errorf("blocked open: %v after %v", err, time.Since(start))
	}
}

// fakeInfo is a listing's entry for a regular file of size bytes.
type fakeInfo struct{ size int64 }

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

func TestUnsafeLink(t *testing.T) {
	for _, c := range []struct {
		at, target string
		safe       bool
	}{
		{"l", "f", true},
		{"l", "./f", true},
		{"l", ".", true},
		{"l", "sub/deep/f", true},
		{"l", "sub//f", true},
		{"sub/l", "../f", true},
		{"sub/l", "..", true},
		{"sub/deep/l", "../../f", true},
		{"sub/deep/l", ".././../x/y", true},
		{"l", "../x", false},
		{"l", "..", false},
		{"sub/l", "../../x", false},
		{"l", "/etc/passwd", false},
		{"l", "/", false},
		{"l", "", false},
		{"l", "a/../../b", false},
		{"l", "a/b/../c", false}, // lexically inside, but a or b may be a link
		{"sub/l", "up/../..", false},
		{"sub/deep/l", "../../../x", false},
		{"l", "a/..", false},
	} {
		why := unsafeLink(c.at, c.target)
		if (why == "") != c.safe {
			t.Errorf("link %s -> %q: safe %v (%q), want %v", c.at, c.target, why == "", why, c.safe)
		}
	}
}

func TestMkdirAllAndPutLink(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "x", "y")
	changedThenUnchanged(t, "mkdir", func() (bool, error) { return c.MkdirAll(ctx, dir, PutOptions{}) })
	link := filepath.Join(dir, "l")
	writeFile(t, link, "a file in the way", 0o644)
	changedThenUnchanged(t, "link", func() (bool, error) { return c.PutLink(ctx, "../target with space", link, PutOptions{}) })
	if l, _ := os.Readlink(link); l != "../target with space" {
		t.Fatalf("link -> %q", l)
	}
	noLeftovers(t, dir)
}

// TestGetKeepsTheUmask: a remote file's mode passes through the local
// umask, as sftp's get does, so a host cannot make a slurped file
// world-writable on the workstation.
func TestGetKeepsTheUmask(t *testing.T) {
	if m := localUmask(); m&0o022 != 0o022 {
		t.Skipf("this process's umask %03o lets group and others write; the test needs 022 or stricter", m)
	}
	c, _ := connect(t, sshtest.Config{SFTP: true})
	ctx := testContext(t, 20*time.Second)
	remote := filepath.Join(t.TempDir(), "open")
	writeFile(t, remote, "x", 0o600)
	if err := os.Chmod(remote, 0o777); err != nil {
		t.Fatal(err)
	}
	local, root := openRoot(t)
	if err := c.Get(ctx, remote, root, "copy", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(local, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 0o777 &^ localUmask(); st.Mode().Perm() != want {
		t.Errorf("mode %03o, want %03o (0777 less the umask %03o)", st.Mode().Perm(), want, localUmask())
	}
}
