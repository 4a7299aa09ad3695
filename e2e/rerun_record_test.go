package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestRerunFromAnotherFolder (issue 18 item 2): a copy started in a
// project folder with relative paths (the file, the host file) is repeated
// by fleet rerun typed in another folder that has a file of the same name:
// it sends the project's file, to the recorded host. A file the run sent
// that has changed since is refused, named, and nothing is sent. On the
// old rerun the second folder's file was sent.
func TestRerunFromAnotherFolder(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	proj, elsewhere := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(proj, "relfile.txt"), "the project's file\n", 0o644)
	writeFile(t, filepath.Join(proj, "kube"), label(np, testFleet.Hosts[0])+"\n", 0o644)
	writeFile(t, filepath.Join(elsewhere, "relfile.txt"), "another folder's file\n", 0o644)
	// The destination's folder does not exist yet: the first copy fails.
	dest := filepath.Join(sharedTemp(t), "sub", "got.txt")

	u.dir = proj
	if r := u.copy("-h", "kube", "relfile.txt", dest); r.status != 5 || !strings.Contains(r.stdout, "no such file") {
		t.Fatalf("first copy: want exit status 5 and no such file\n%s", r)
	}
	if err := os.Mkdir(filepath.Dir(dest), 0o777); err != nil || os.Chmod(filepath.Dir(dest), 0o777) != nil {
		t.Fatal(err)
	}
	u.dir = elsewhere
	r := u.fleet("rerun")
	if r.status != 0 || !strings.Contains(r.stdout, "[SUCCESS] "+label(np, testFleet.Hosts[0])+" changed") {
		t.Fatalf("rerun from another folder: want exit status 0 and the host changed\n%s", r)
	}
	if got := readString(t, dest); got != "the project's file\n" {
		t.Fatalf("rerun from another folder sent %q, want the project's file", got)
	}

	// The project's file changes: a rerun of the copy is refused, naming
	// it, before any host is contacted.
	writeFile(t, filepath.Join(proj, "relfile.txt"), "edited since\n", 0o644)
	r = u.fleet("rerun", "--all")
	want := filepath.Join(proj, "relfile.txt") + " has changed since run "
	if r.status != 1 || !strings.Contains(r.stderr, want) || r.stdout != "" {
		t.Errorf("rerun after the file changed: want exit status 1 and %q, no host\n%s", want, r)
	}
	if got := readString(t, dest); got != "the project's file\n" {
		t.Errorf("a refused rerun sent %q", got)
	}
}

// TestRecordOnFullDisk (issue 18 item 3): the state dir is a 64 KiB tmpfs
// and the host prints more than fits: the run succeeded, so fleet prints
// SUCCESS and exits 0; the record's failure is a warning naming the file
// and the room left, and the partial record is not left as the latest run
// (it read "killed" in fleet runs before).
func TestRecordOnFullDisk(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	// Always a tmpfs of 64 KiB: a run.json fits, the host's output does not.
	if err := os.MkdirAll(u.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", u.stateDir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs for the state dir: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(u.stateDir, syscall.MNT_DETACH) })

	first := u.run("-H", hostArg(np, testFleet.Hosts[0]), "echo small")
	mustExit(t, first, 0, "a small run")
	before := u.show("latest").ID
	r := u.run("-H", hostArg(np, testFleet.Hosts[0]), `yes 'a line of output that fills the disk' | head -c 200000`)
	if r.status != 0 || !strings.Contains(r.stdout, "[SUCCESS] "+label(np, testFleet.Hosts[0])) {
		t.Fatalf("the run succeeded on its host: want exit status 0 and SUCCESS\n%s", r)
	}
	warn := regexp.MustCompile(`(?m)^fleet: warning: run record: ` + regexp.QuoteMeta(filepath.Join(u.stateDir, "runs")) +
		`/\d{8}-\d{6}-[0-9a-f]{6}/hosts/\S+\.log: no space left on device \(\S+ free of 64K on the state dir's filesystem\); ` +
		`the partial record is in ` + regexp.QuoteMeta(filepath.Join(u.stateDir, "runs", ".incomplete-")) + `\S+$`)
	if !warn.MatchString(r.stderr) {
		t.Errorf("want a warning naming the log, the room left and where the partial record is\n%s", r)
	}
	if strings.Contains(r.stderr, "the hosts that did not succeed") {
		t.Errorf("a successful run pointed at a failed file\n%s", r)
	}
	// fleet runs lists the whole runs only: no "killed" run, latest is the
	// run before.
	runs := u.fleet("runs")
	if runs.status != 0 || strings.Contains(runs.stdout, "killed") || strings.Count(runs.stdout, "\n") != 2 {
		t.Errorf("fleet runs: want the header and the first run only\n%s", runs)
	}
	if id := u.show("latest").ID; id != before {
		t.Errorf("latest is %s, want the whole run before, %s", id, before)
	}
	left, _ := filepath.Glob(filepath.Join(u.stateDir, "runs", ".incomplete-*"))
	if len(left) != 1 {
		t.Errorf("incomplete records: %q, want one", left)
	}
}
