package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The steps of a recipe run in long-lived shells (fleet.Shells): one root
// shell per host that sudo started once. These tests check, on real sshd
// hosts, what that must not change: a step's timeout kills all it started
// and the next run goes on; Ctrl-C kills the running step on every host and
// leaves no process behind; and a host costs one session per shell, not
// one per step.

// shellRecipe writes a recipe whose second step runs body with a timeout.
func shellRecipe(t *testing.T, body, timeout string) string {
	t.Helper()
	recipe := fmt.Sprintf(`name: shelltest
description: timeouts and interrupts of steps run in the hosts' long-lived shells
steps:
  - name: first
    run: echo first-step-output; id -u
  - name: slow
    run: %s
%s`, body, timeout)
	return writeFile(t, filepath.Join(t.TempDir(), "shelltest.yaml"), recipe, 0o644)
}

func TestProvisionStepTimeoutKillsTheStep(t *testing.T) {
	u := setup(t)
	child, fore := uniqueSleep(331), uniqueSleep(332)
	// A child in the background and one in the foreground: the timeout
	// must kill the step's whole process group, not only its shell.
	recipe := shellRecipe(t, "'"+child+" & "+fore+"'", "    timeout: 1s\n")
	r := u.startSub("provision", "", "-h", testFleet.HostsFile, "--recipe", recipe).wait(60 * time.Second)
	wantExit(t, r, 3, "timeout")
	for label, st := range statuses(t, r.stdout) {
		if st.ok || !strings.Contains(st.reason, "timeout") || !strings.Contains(st.reason, `"slow"`) {
			t.Errorf("%s: ok=%v %q, want a timeout of step \"slow\"", label, st.ok, st.reason)
		}
	}
	checkGone(t, r, killWindow, child, fore)
	// Each host's log has the first step's output, from the root shell.
	files, _ := filepath.Glob(filepath.Join(u.stateDir, "runs", "latest", "hosts", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), "out | first-step-output\n") || !strings.Contains(string(b), "out | 0\n") {
			t.Errorf("%s: want the first step's output (run as root: id -u = 0):\n%s", f, b)
		}
	}
	if len(files) != numHosts {
		t.Errorf("found %d host logs, want %d", len(files), numHosts)
	}
}

func TestProvisionInterruptKillsTheStep(t *testing.T) {
	u := setup(t)
	sleep := uniqueSleep(333)
	recipe := shellRecipe(t, sleep, "")
	run := u.startSub("provision", "", "-h", testFleet.HostsFile, "--recipe", recipe)
	var sleeping []proc
	if !eventually(15*time.Second, func() bool {
		sleeping = sleepProcs(sleep)
		return len(sleeping) == numHosts || run.finished()
	}) || run.finished() {
		t.Fatalf("want %d %q running before the interrupt, got %v\n%s", numHosts, sleep, sleeping, run.result())
	}
	for _, p := range sleeping {
		if p.uid != 0 {
			t.Errorf("the step runs as uid %d, want root", p.uid)
		}
	}
	start := time.Now()
	if err := run.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r := run.wait(10 * time.Second)
	wantExit(t, r, 130)
	t.Logf("fleet exited %s after Ctrl-C", time.Since(start).Round(time.Millisecond))
	checkGone(t, r, killWindow, sleep)
	rec := u.latestRun()
	if rec.Status == nil || *rec.Status != 130 || len(rec.Hosts) != numHosts {
		t.Errorf("run.json: status %v with %d hosts, want 130 with %d", rec.Status, len(rec.Hosts), numHosts)
	}
	rec.wantEvery(t, "cancelled")
}

// TestProvisionSudoPassword: with a user whose sudo asks for a password,
// the root shell gets it once from --sudo-password-file and every step
// runs as root; a wrong password fails each host with sudo's reason, and
// neither password shows in the output or the record.
func TestProvisionSudoPassword(t *testing.T) {
	u := setup(t)
	secret := testFleet.Users.PassPassword
	hosts := hostArg(testFleet.Users.Pass, testFleet.Hosts[0], testFleet.Hosts[1])
	recipe := shellRecipe(t, "id -un", "")

	good := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), secret+"\n", 0o600)
	r := u.startSub("provision", "", "--sudo-password-file", good, "-H", hosts, "--recipe", recipe).wait(60 * time.Second)
	mustExit(t, r, 0)
	files, _ := filepath.Glob(filepath.Join(u.stateDir, "runs", "latest", "hosts", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), "out | 0\n") || !strings.Contains(string(b), "out | root\n") {
			t.Errorf("%s: want both steps to run as root:\n%s", f, b)
		}
	}
	if len(files) != 2 {
		t.Errorf("found %d host logs, want 2", len(files))
	}

	wrong := "not-" + secret
	bad := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw-wrong"), wrong+"\n", 0o600)
	r = u.startSub("provision", "", "--sudo-password-file", bad, "-H", hosts, "--recipe", recipe).wait(60 * time.Second)
	if r.status == 0 {
		t.Errorf("a wrong sudo password succeeded\n%s", r)
	}
	for label, st := range statuses(t, r.stdout) {
		if st.ok || !strings.Contains(st.reason, "incorrect sudo password") {
			t.Errorf("%s: ok=%v %q, want the incorrect sudo password named", label, st.ok, st.reason)
		}
	}
	var record strings.Builder
	_ = filepath.WalkDir(u.stateDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			record.Write(b)
		}
		return nil
	})
	for _, s := range []string{secret, wrong} {
		if strings.Contains(r.stdout+r.stderr+record.String(), s) {
			t.Errorf("a sudo password shows in fleet's output or its run record")
		}
	}
}
