package fleet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStagingScriptSweepsOnlyAbandonedOwnFolders runs the staging script
// with a TMPDIR of the test's: it removes this user's staging folders left
// untouched for longer than stagingStale, keeps a fresh one, one whose data
// was written a moment ago, one owned by someone else under this user's
// name and anything not named like a staging folder, and makes a new
// private folder.
func TestStagingScriptSweepsOnlyAbandonedOwnFolders(t *testing.T) {
	tmp := t.TempDir()
	uid := os.Getuid()
	prefix := filepath.Join(tmp, stagingPrefix+strconv.Itoa(uid)+"-")
	old := time.Now().Add(-2 * stagingStale)
	mk := func(dir string, dirTime, dataTime time.Time) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(dir, "data")
		writeFile(t, data, "x", 0o600)
		if err := os.Chtimes(data, dataTime, dataTime); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, dirTime, dirTime); err != nil {
			t.Fatal(err)
		}
	}
	mk(prefix+"abandoned", old, old)
	mk(prefix+"fresh", time.Now(), time.Now())
	mk(prefix+"uploading", old, time.Now())
	mk(filepath.Join(tmp, "unrelated"), old, old)
	foreign := prefix + "foreign"
	mk(foreign, old, old)
	if uid == 0 {
		// Only root can give a folder away; as anyone else the owner
		// check is not exercised.
		for _, p := range []string{filepath.Join(foreign, "data"), foreign} {
			if err := os.Lchown(p, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(foreign, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(tmp, prefix+"link"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", stagingScript())
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	made := strings.TrimSpace(string(out))
	st, err := os.Stat(made)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 || !strings.HasPrefix(made, prefix) {
		t.Fatalf("made %q (%v, %v), want a new 0700 folder %s*", made, st, err, prefix)
	}
	if _, err := os.Stat(prefix + "abandoned"); !os.IsNotExist(err) {
		t.Errorf("the abandoned folder is still there (%v)", err)
	}
	keep := []string{prefix + "fresh", prefix + "uploading", filepath.Join(tmp, "unrelated"), prefix + "link", filepath.Join(tmp, "unrelated", "data")}
	if uid == 0 {
		keep = append(keep, foreign+"/data")
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
