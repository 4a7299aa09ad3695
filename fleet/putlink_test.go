package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// putters are the ways a file is put in these tests: over SFTP by the
// login user, through a shell (small content in memory goes in one
// command), and over SFTP with sudo (the staging folder and install(1)).
func putters(t *testing.T) map[string]func(ctx context.Context, src *LocalFile, dst string, o PutOptions) (bool, error) {
	c, _ := sudoServer(t, sshtest.Config{SFTP: true})
	shells := c.Shells()
	t.Cleanup(shells.Close)
	return map[string]func(context.Context, *LocalFile, string, PutOptions) (bool, error){
		"sftp":  c.Put,
		"shell": shells.Put,
		"sudo": func(ctx context.Context, src *LocalFile, dst string, o PutOptions) (bool, error) {
			o.Sudo, o.SudoPassword = true, []byte("hunter2")
			return c.Put(ctx, src, dst, o)
		},
	}
}

func perm(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// As pscp over an existing file: a 0600 secret stays 0600, whatever the
// local file's mode, unless a mode is asked for; the owner stays too
// (issue 15 item 7).
func TestPutKeepsTheExistingModeAndOwner(t *testing.T) {
	for name, put := range putters(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := t.TempDir()
			dst := filepath.Join(dir, "secret")
			writeFile(t, dst, "old\n", 0o600)
			uid, gid := os.Getuid(), os.Getgid()
			src := BytesFile("secret", []byte("new\n"), 0o640)
			if changed, err := put(ctx, src, dst, PutOptions{}); err != nil || !changed {
				t.Fatalf("put: changed %v, %v", changed, err)
			}
			if got, _ := os.ReadFile(dst); string(got) != "new\n" {
				t.Fatalf("content %q", got)
			}
			if m := perm(t, dst); m != 0o600 {
				t.Errorf("mode %04o after the put, want the existing file's 0600", m)
			}
			st, _ := os.Stat(dst)
			if s := st.Sys().(*syscall.Stat_t); int(s.Uid) != uid || int(s.Gid) != gid {
				t.Errorf("owner %d:%d, want %d:%d", s.Uid, s.Gid, uid, gid)
			}
			// The same content again: nothing to do, the mode is not
			// "corrected" to the local file's.
			if changed, err := put(ctx, src, dst, PutOptions{}); err != nil || changed {
				t.Errorf("second put: changed %v, %v, want unchanged", changed, err)
			}
			if m := perm(t, dst); m != 0o600 {
				t.Errorf("mode %04o after the second put, want 0600", m)
			}
			// --mode still decides.
			if changed, err := put(ctx, src, dst, PutOptions{Mode: 0o644}); err != nil || !changed || perm(t, dst) != 0o644 {
				t.Errorf("put with a mode: changed %v, %v, mode %04o, want 0644", changed, err, perm(t, dst))
			}
			// A new file gets the local file's mode.
			fresh := filepath.Join(dir, "fresh")
			if _, err := put(ctx, src, fresh, PutOptions{}); err != nil || perm(t, fresh) != 0o640 {
				t.Errorf("new file: %v, mode %04o, want 0640", err, perm(t, fresh))
			}
			noLeftovers(t, dir)
		})
	}
}

// A destination that is a symbolic link is written through, as pscp does
// (think /etc/resolv.conf): the link stays, the file it points to gets the
// content by rename (a temporary file beside it, never beside the link),
// and keeps its mode. A dangling link gets its target created.
// ReplaceLink (recipes, as Ansible) replaces the link instead.
func TestPutWritesThroughASymbolicLink(t *testing.T) {
	for name, put := range putters(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			linkDir, targetDir := t.TempDir(), t.TempDir()
			target := filepath.Join(targetDir, "resolv.conf")
			writeFile(t, target, "nameserver 1.1.1.1\n", 0o600)
			link := filepath.Join(linkDir, "resolv.conf")
			// A relative link, through a link to a link: readlink -f
			// resolves every hop.
			if err := os.Symlink(target, link+".hop"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("resolv.conf.hop", link); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(target)
			src := BytesFile("resolv.conf", []byte("nameserver 9.9.9.9\n"), 0o644)
			if changed, err := put(ctx, src, link, PutOptions{}); err != nil || !changed {
				t.Fatalf("put: changed %v, %v", changed, err)
			}
			if l, err := os.Readlink(link); err != nil || l != "resolv.conf.hop" {
				t.Errorf("the link became %q (%v), want it left pointing at resolv.conf.hop", l, err)
			}
			if got, _ := os.ReadFile(target); string(got) != "nameserver 9.9.9.9\n" {
				t.Errorf("target content %q", got)
			}
			after, _ := os.Stat(target)
			if os.SameFile(before, after) {
				t.Error("the target was rewritten in place, not renamed over")
			}
			if m := perm(t, target); m != 0o600 {
				t.Errorf("target mode %04o, want its own 0600", m)
			}
			if changed, err := put(ctx, src, link, PutOptions{}); err != nil || changed {
				t.Errorf("second put: changed %v, %v, want unchanged", changed, err)
			}

			dangling := filepath.Join(linkDir, "dangling")
			if err := os.Symlink(filepath.Join(targetDir, "created"), dangling); err != nil {
				t.Fatal(err)
			}
			if _, err := put(ctx, src, dangling, PutOptions{}); err != nil {
				t.Fatalf("dangling link: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(targetDir, "created")); err != nil || string(got) != "nameserver 9.9.9.9\n" {
				t.Errorf("dangling link: target %q, %v", got, err)
			}
			if st, _ := os.Lstat(dangling); st.Mode()&os.ModeSymlink == 0 {
				t.Error("the dangling link was replaced")
			}

			replaced := filepath.Join(linkDir, "replaced")
			if err := os.Symlink(target, replaced); err != nil {
				t.Fatal(err)
			}
			other := BytesFile("x", []byte("replaced\n"), 0o644)
			if _, err := put(ctx, other, replaced, PutOptions{ReplaceLink: true}); err != nil {
				t.Fatalf("ReplaceLink: %v", err)
			}
			if st, _ := os.Lstat(replaced); !st.Mode().IsRegular() {
				t.Errorf("ReplaceLink: %s is %v, want a regular file", replaced, st.Mode())
			}
			if got, _ := os.ReadFile(target); string(got) != "nameserver 9.9.9.9\n" {
				t.Errorf("ReplaceLink wrote through the link: target %q", got)
			}

			loop := filepath.Join(linkDir, "loop")
			if err := os.Symlink("loop", loop); err != nil {
				t.Fatal(err)
			}
			if _, err := put(ctx, src, loop, PutOptions{}); err == nil || !strings.Contains(err.Error(), "cannot resolve the symbolic link") {
				t.Errorf("a link to itself: %v, want cannot resolve", err)
			}
			noLeftovers(t, linkDir, targetDir)
		})
	}
}

func TestParseProbeLink(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	f, err := parseProbe("Welcome!\nlink /etc/real\nfile 4 600 root root\n" + sum + "  -\n")
	if err != nil || !f.Exists || f.Target != "/etc/real" || f.Mode != 0o600 {
		t.Fatalf("link to a file: %+v, %v", f, err)
	}
	if f, err := parseProbe("link /etc/missing\nnone\n"); err != nil || f.Exists || f.Target != "/etc/missing" {
		t.Fatalf("dangling link: %+v, %v", f, err)
	}
	if f, err := parseProbe("file 4 600 root root\n" + sum + "  -\n"); err != nil || f.Target != "" {
		t.Fatalf("a file: %+v, %v", f, err)
	}
}
