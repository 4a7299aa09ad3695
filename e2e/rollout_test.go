package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRollout checks run's --batch and --max-fail on real sshd hosts:
// once a host has failed no new host starts, the host already in flight
// finishes its command, and the others are reported not started; and
// --dry-run connects to nothing (an unreachable host is listed, not
// tried).
func TestRunRollout(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	dir := sharedTemp(t) // the hosts' login user writes there
	// Host 0 fails at once; host 1, started beside it (--batch 2), takes a
	// second and must still finish; hosts 2 and 3 must never start.
	cmd := `[ "$PSSH_NODENUM" = 0 ] && exit 3; sleep 1; touch ` + dir + `/ran.$PSSH_NODENUM`
	r := u.run("-h", testFleet.HostsFile, "--batch", "2", "--max-fail", "1", cmd)
	got := statuses(t, r.stdout)
	labels := allLabels(np)
	if s := got[labels[0]]; s.ok || s.reason != "Exited with error code 3" {
		t.Errorf("%s: want [FAILURE] Exited with error code 3, got %+v\n%s", labels[0], s, r)
	}
	if s := got[labels[1]]; !s.ok {
		t.Errorf("%s: the host in flight must finish, got %+v\n%s", labels[1], s, r)
	}
	for i, l := range labels[2:] {
		if s := got[l]; s.ok || !strings.Contains(s.reason, "not started") {
			t.Errorf("%s: want [FAILURE] ... not started, got %+v\n%s", l, s, r)
		}
		if _, err := os.Stat(filepath.Join(dir, "ran."+string(rune('2'+i)))); err == nil {
			t.Errorf("%s ran its command after --max-fail was reached", l)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ran.1")); err != nil {
		t.Errorf("the host in flight did not finish its command: %v\n%s", err, r)
	}
	if r.status == 0 {
		t.Errorf("want a failing exit status\n%s", r)
	}

	// --dry-run: nothing connects, so the unreachable address is no error.
	r = u.run("-H", hostArg(np, testFleet.Hosts[0], testFleet.Unreachable), "--dry-run", "touch "+dir+"/dry")
	if r.status != 0 || !strings.Contains(r.stdout, "dry run: nothing connected; 2 hosts would run") ||
		!strings.Contains(r.stdout, testFleet.Unreachable) {
		t.Fatalf("want exit status 0 and both hosts listed\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "dry")); err == nil {
		t.Error("--dry-run ran the command")
	}
}

// TestCopyDryRunSudo: copy --dry-run --sudo on a real host compares a
// root-only destination by checksum and writes nothing; after the real
// copy it says unchanged, and after a change of mode that it would fix it.
func TestCopyDryRunSudo(t *testing.T) {
	u := setup(t)
	h := testFleet.Hosts[1]
	np := testFleet.Users.NoPass
	root := filepath.Join("/opt", "fleet-dry-"+filepath.Base(t.TempDir()))
	if err := os.Mkdir(root, 0o700); err != nil { // root's, as the test runs as root
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	src := writeFile(t, filepath.Join(t.TempDir(), "daemon.json"), "{}\n", 0o644)
	dst := root + "/daemon.json"
	dry := func(want string) {
		t.Helper()
		r := u.copy("-H", label(np, h), "--sudo", "--dry-run", src, dst)
		if s := statuses(t, r.stdout)[label(np, h)]; r.status != 0 || !s.ok || s.reason != want {
			t.Fatalf("want [SUCCESS] %s\n%s", want, r)
		}
	}
	dry("dry run: 1 to send (3B), 0 unchanged")
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("copy --dry-run wrote the file")
	}
	if r := u.copy("-H", label(np, h), "--sudo", src, dst); r.status != 0 {
		t.Fatalf("copy: %s", r)
	}
	dry("dry run: 1 unchanged")
	if err := os.Chmod(dst, 0o600); err != nil {
		t.Fatal(err)
	}
	dry("dry run: 1 to fix mode or owner, 0 unchanged")
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the dry run changed the mode: %v %v", st.Mode(), err)
	}
}
