package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This file holds the slurp tests and the file helpers that they share with
// the copy tests of copy_test.go.

// slurp runs `fleet slurp args...` to its end.
func (u *user) slurp(args ...string) result {
	u.t.Helper()
	return u.startSub("slurp", "", args...).wait(cmdTimeout + 5*time.Second)
}

// sharedDir returns a fresh root:root 0755 folder that every login user
// can reach (t.TempDir's folders are 0700, and so is their parent).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// userDir returns a fresh folder owned by the login user name.
func userDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(sharedDir(t), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chown(t, dir, name)
	return dir
}

// chown gives path (not following a link) to the login user name.
func chown(t *testing.T, path, name string) {
	t.Helper()
	uid, gid, _ := account(t, name)
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// account looks up the login user name on this machine, which every host
// is: its uid, gid and home folder.
func account(t *testing.T, name string) (uid, gid int, home string) {
	t.Helper()
	u, err := osuser.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, u.HomeDir
}

// randomFile writes n random bytes to path with mode and returns path.
func randomFile(t *testing.T, path string, n int, mode os.FileMode) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return writeFile(t, path, string(b), mode)
}

// bigFile makes a sparse file of size bytes whose first MiB is random.
func bigFile(t *testing.T, path string, size int64) string {
	t.Helper()
	randomFile(t, path, 1<<20, 0o644)
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

// digest is the SHA-256 of a file, "" when it cannot be read.
func digest(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return string(h.Sum(nil))
}

// checkSame fails the test unless got holds exactly want's bytes.
func checkSame(t *testing.T, got, want string) {
	t.Helper()
	if g := digest(got); g == "" || g != digest(want) {
		t.Errorf("%s does not hold the bytes of %s", got, want)
	}
}

// stat returns permission bits, owner and inode of path (not following a
// link).
func stat(t *testing.T, path string) (mode fs.FileMode, uid, gid uint32, ino uint64) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("remote file: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().Perm(), st.Uid, st.Gid, st.Ino
}

// temps lists the names in dir that look like fleet's temporary files.
func temps(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".fleet-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// changedInRecord lists the hosts that the latest run.json says changed.
func changedInRecord(u *user) []string {
	var out []string
	for _, h := range u.latestRun().Hosts {
		if h.Changed {
			out = append(out, h.Label)
		}
	}
	return out
}

// makeTree builds a local tree with nested folders, a name with spaces, an
// empty folder, an executable, a private file and a relative symbolic link.
func makeTree(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"sub/deep", "empty"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	randomFile(t, filepath.Join(root, "sub/deep/a file with spaces.txt"), 3000, 0o644)
	randomFile(t, filepath.Join(root, "run.sh"), 100, 0o755)
	randomFile(t, filepath.Join(root, "sub/secret"), 10, 0o600)
	if err := os.Symlink("sub/deep/a file with spaces.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, filepath.Join(root, "sub"), filepath.Join(root, "sub/deep"), filepath.Join(root, "empty")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// checkTree compares the tree got with want: the same names, folders,
// file bytes and permission bits, and links with the same target text.
func checkTree(t *testing.T, got, want string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		g := filepath.Join(got, rel)
		gi, err := os.Lstat(g)
		if err != nil {
			t.Errorf("tree: %v", err)
			return nil
		}
		wi, _ := d.Info()
		switch {
		case d.IsDir() && !gi.IsDir():
			t.Errorf("%s is not a folder", g)
		case d.Type()&fs.ModeSymlink != 0:
			wt, _ := os.Readlink(p)
			if gt, err := os.Readlink(g); err != nil || gt != wt {
				t.Errorf("%s: want a symbolic link to %q, got %v (%q, %v)", g, wt, gi.Mode(), gt, err)
			}
		case d.Type().IsRegular():
			checkSame(t, g, p)
			if gi.Mode().Perm() != wi.Mode().Perm() {
				t.Errorf("%s: mode %04o, want %04o", g, gi.Mode().Perm(), wi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(got, func(p string, _ fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(got, p); err == nil && !seen[rel] {
			t.Errorf("%s is not in the source tree", p)
		}
		return nil
	})
}

// TestSlurp: fleet slurp brings each host's file to DIR/<label>/NAME (a
// host listed twice gets a folder of its own), brings a tree back with -r,
// and fails cleanly on a missing file.
func TestSlurp(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts
	t.Run("file", func(t *testing.T) {
		u := setup(t)
		remote := randomFile(t, filepath.Join(sharedDir(t), "os-release"), 5000, 0o644)
		local := t.TempDir()
		r := u.slurp("-h", testFleet.HostsFile, "-L", local, remote, "got")
		mustExit(t, r, 0)
		for _, l := range allLabels(np) {
			if s := statuses(t, r.stdout)[l]; !s.ok {
				t.Errorf("%s: want [SUCCESS], got %+v\n%s", l, s, r)
			}
			checkSame(t, filepath.Join(local, l, "got"), remote)
		}

		// A host listed twice: X and X.1, each with its own folder.
		local = t.TempDir()
		r = u.slurp("-H", hostArg(np, h[0], h[1], h[0]), "-L", local, remote, "got")
		mustExit(t, r, 0, "duplicate host")
		want := []string{label(np, h[0]), label(np, h[0]) + ".1", label(np, h[1])}
		got := statuses(t, r.stdout)
		for _, l := range want {
			if !got[l].ok {
				t.Errorf("duplicate host: want [SUCCESS] for %s, got %+v\n%s", l, got[l], r)
			}
			checkSame(t, filepath.Join(local, l, "got"), remote)
		}
		if ents, _ := os.ReadDir(local); len(ents) != len(want) {
			t.Errorf("duplicate host: %d entries in %s, want the %d folders %q", len(ents), local, len(want), want)
		}
	})
	t.Run("tree", func(t *testing.T) {
		u := setup(t)
		remote := filepath.Join(sharedDir(t), "conf.d")
		makeTree(t, remote)
		// sub/secret is 0600 root: the login user could not read it.
		chown(t, filepath.Join(remote, "sub", "secret"), np)
		local := t.TempDir()
		r := u.slurp("-r", "-H", hostArg(np, h[1], h[2]), "-L", local, remote, "tree")
		mustExit(t, r, 0)
		for _, l := range []string{label(np, h[1]), label(np, h[2])} {
			checkTree(t, filepath.Join(local, l, "tree"), remote)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		u := setup(t)
		remote := filepath.Join(sharedDir(t), "no-such-file")
		local := t.TempDir()
		r := u.slurp("-H", hostArg(np, h[3]), "-L", local, remote, "got")
		mustExit(t, r, 5)
		l := label(np, h[3])
		if s := statuses(t, r.stdout)[l]; s.ok || !strings.Contains(strings.ToLower(s.reason), "no such file") {
			t.Errorf("want [FAILURE] ... no such file ..., got %+v\n%s", s, r)
		}
		ents, _ := os.ReadDir(filepath.Join(local, l))
		for _, e := range ents {
			t.Errorf("the failed slurp left %s in %s", e.Name(), filepath.Join(local, l))
		}
	})
}

// TestCopySlurpChatty: fleet-chatty's ~/.bashrc prints on stdout and
// stderr before the SFTP stream starts; copy (with and without --sudo) and
// slurp must still move the right bytes.
func TestCopySlurpChatty(t *testing.T) {
	u := setup(t)
	ch := testFleet.Users.Chatty
	hosts := hostArg(ch, testFleet.Hosts[0], testFleet.Hosts[2])
	labels := []string{label(ch, testFleet.Hosts[0]), label(ch, testFleet.Hosts[2])}
	src := randomFile(t, filepath.Join(t.TempDir(), "f"), 200<<10, 0o644)
	dir := userDir(t, ch)
	root := sharedDir(t)
	for _, c := range []struct{ dst, sudo string }{{filepath.Join(dir, "f"), ""}, {filepath.Join(root, "f"), "--sudo"}} {
		args := []string{"-H", hosts, "--mode", "0644", src, c.dst}
		if c.sudo != "" {
			args = append([]string{c.sudo}, args...)
		}
		r := u.copy(args...)
		mustExit(t, r, 0)
		checkStates(t, r, labels, "changed", "unchanged")
		checkSame(t, c.dst, src)
		r = u.copy(args...)
		mustExit(t, r, 0, "second run")
		checkStates(t, r, labels, "unchanged")
	}
	local := t.TempDir()
	r := u.slurp("-H", hosts, "-L", local, filepath.Join(dir, "f"), "back")
	mustExit(t, r, 0, "slurp")
	for _, l := range labels {
		checkSame(t, filepath.Join(local, l, "back"), src)
	}
}
