package e2e

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyOverExisting: as pscp over an existing destination (issue 15
// item 7), with and without --sudo: an existing file keeps its mode and
// owner (a 0600 secret stays 0600, a user's file stays the user's under
// --sudo), and a destination that is a symbolic link is written through:
// the link stays, the file it points to gets the content, atomically (a new
// inode, no temporary file left beside it or beside the link). Checked to
// fail before: the secret became 0640 and the link a regular file.
func TestCopyOverExisting(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	npUID, _, _ := account(t, np)
	for _, sudo := range []bool{false, true} {
		name := "direct"
		if sudo {
			name = "sudo"
		}
		t.Run(name, func(t *testing.T) {
			tu := setup(t)
			// The login user's folders without --sudo; root's with it.
			linkDir, targetDir := userDir(t, np), userDir(t, np)
			if sudo {
				linkDir, targetDir = sharedDir(t), sharedDir(t)
			}
			src := randomFile(t, filepath.Join(t.TempDir(), "local"), 4<<10, 0o640)
			secret := writeFile(t, filepath.Join(linkDir, "secret"), "old secret\n", 0o600)
			chown(t, secret, np)
			target := writeFile(t, filepath.Join(targetDir, "resolv.conf"), "nameserver 1.1.1.1\n", 0o644)
			chown(t, target, np)
			link := filepath.Join(linkDir, "resolv.conf")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			// Held open through the copies so that its inode number cannot
			// be freed and handed to one of the hosts' temporary files
			// (all hosts share this filesystem): a rename leaves this
			// descriptor on the old content, a rewrite in place does not.
			before, err := os.Open(target)
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()
			_, _, _, inoBefore := stat(t, target)
			for _, dst := range []string{secret, link} {
				args := []string{"-h", testFleet.HostsFile, src, dst}
				if sudo {
					args = append([]string{"--sudo"}, args...)
				}
				if r := tu.copy(args...); r.status != 0 {
					t.Fatalf("copy to %s: want exit status 0\n%s", dst, r)
				}
			}
			checkSame(t, secret, src)
			if mode, uid, _, _ := stat(t, secret); mode != 0o600 || int(uid) != npUID {
				t.Errorf("%s: mode %04o owner %d after the copy, want its own 0600 and %d", secret, mode, uid, npUID)
			}
			if l, err := os.Readlink(link); err != nil || l != target {
				t.Errorf("%s: the symbolic link became %q (%v), want it kept, pointing at %s", link, l, err, target)
			}
			checkSame(t, target, src)
			mode, uid, _, ino := stat(t, target)
			if mode != 0o644 || int(uid) != npUID {
				t.Errorf("%s: mode %04o owner %d, want its own 0644 and %d", target, mode, uid, npUID)
			}
			if ino == inoBefore {
				t.Errorf("%s was rewritten in place, not renamed over", target)
			}
			if old, err := io.ReadAll(before); err != nil || string(old) != "nameserver 1.1.1.1\n" {
				t.Errorf("%s: the file open before the copy now reads %q (%v), want its old content: it was rewritten in place", target, old, err)
			}
			for _, d := range []string{linkDir, targetDir} {
				if left := temps(d); len(left) > 0 {
					t.Errorf("temporary files left in %s: %q", d, left)
				}
			}
		})
	}
}
