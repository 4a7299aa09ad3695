package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSudoPasswordless checks --sudo for a user with NOPASSWD sudo: the
// command runs as root.
func TestSudoPasswordless(t *testing.T) {
	u := setup(t)
	r := u.run("--sudo", "-i", "-h", testFleet.HostsFile, "id -un")
	mustExit(t, r, 0)
	blocks := inlineBlocks(r.stdout)
	for _, l := range allLabels(testFleet.Users.NoPass) {
		if blocks[l] != "root\n" {
			t.Errorf("%s printed %q, want %q\n%s", l, blocks[l], "root\n", r)
		}
	}
}

// sudoHintRE is a line that tells the user how to give a sudo password.
var sudoHintRE = regexp.MustCompile(`(?i)hint.*(-S\b|--sudo-password)`)

// TestSudoNeedsPassword checks --sudo without a password for a user whose
// sudo asks for one: the host fails at once (sudo -n, never a hang on a
// prompt) with exit status 5, saying why and what to do.
func TestSudoNeedsPassword(t *testing.T) {
	u := setup(t)
	pw := testFleet.Users.Pass
	h := testFleet.Hosts
	r := u.run("--sudo", "-i", "-H", hostArg(pw, h[0], h[1]), "id -un")
	mustExit(t, r, 5)
	got := statuses(t, r.stdout)
	for _, l := range []string{label(pw, h[0]), label(pw, h[1])} {
		if s := got[l]; s.ok || !strings.Contains(s.reason, "sudo needs a password") {
			t.Errorf("%s: want [FAILURE] ... sudo needs a password, got %+v\n%s", l, s, r)
		}
	}
	if strings.Contains(r.stdout, "root") {
		t.Errorf("the command ran although sudo needed a password\n%s", r)
	}
	// The reason alone leaves the user guessing; fleet has a hint for this
	// ("use -S/--sudo-password ...") and must show it, also when its output
	// goes to a file or a pipe as it does here.
	if !sudoHintRE.MatchString(r.stdout + r.stderr) {
		t.Errorf("no hint mentioning -S/--sudo-password anywhere in the output\n%s", r)
	}
}

// TestSudoPasswordFile checks --sudo-password-file: sudo gets the password
// and the command runs as root, while the password never shows in any
// process's argv or environment (both ends run on this machine), in the
// run record, or in fleet's output.
func TestSudoPasswordFile(t *testing.T) {
	u := setup(t)
	pw := testFleet.Users.Pass
	secret := testFleet.Users.PassPassword
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), secret+"\n", 0o600)
	hosts := hostArg(pw, testFleet.Hosts[0], testFleet.Hosts[1], testFleet.Hosts[2], testFleet.Hosts[3])

	// The remote command sleeps so that sudo, its shell and the command
	// are all alive while /proc is scanned, and the scan must see the
	// sleep run as root.
	sleep := uniqueSleep(2)
	r := runWatchingSecrets(t, u, testFleet.SSHConfig, []string{secret}, sleep,
		"--sudo-password-file", pwFile, "-i", "-H", hosts, sleep+"; id -un")
	mustExit(t, r, 0)
	blocks := inlineBlocks(r.stdout)
	for _, h := range testFleet.Hosts {
		if l := label(pw, h); blocks[l] != "root\n" {
			t.Errorf("%s printed %q, want %q", l, blocks[l], "root\n")
		}
	}
	if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
		t.Errorf("the sudo password is in fleet's output")
	}
	noSecretIn(t, secret, u.stateDir, u.home)
	if t.Failed() {
		t.Log(r)
	}
}

// TestSudoPasswordWithInput: with -I, sudo gets the password and the
// command gets the input, each exactly once and never the other's.
func TestSudoPasswordWithInput(t *testing.T) {
	u := setup(t)
	pw := testFleet.Users.Pass
	secret := testFleet.Users.PassPassword
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), secret+"\n", 0o600)
	const input = "line one\nline two\n"
	r := u.runInput(input, "-I", "-i", "--sudo-password-file", pwFile, "-H", hostArg(pw, testFleet.Hosts[0]), "cat")
	mustExit(t, r, 0)
	if got := inlineBlocks(r.stdout)[label(pw, testFleet.Hosts[0])]; got != input {
		t.Errorf("the command read %q, want exactly %q\n%s", got, input, r)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("the sudo password reached the output\n%s", r)
	}
}

// TestSudoWrongPassword: a refused password fails the host (exit 5) at the
// first refusal instead of feeding sudo's retries.
func TestSudoWrongPassword(t *testing.T) {
	u := setup(t)
	pw := testFleet.Users.Pass
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), "not-"+testFleet.Users.PassPassword+"\n", 0o600)
	r := u.run("-i", "--sudo-password-file", pwFile, "-H", hostArg(pw, testFleet.Hosts[1]), "id -un")
	mustExit(t, r, 5)
	if s := statuses(t, r.stdout)[label(pw, testFleet.Hosts[1])]; s.ok || !strings.Contains(s.reason, "incorrect sudo password") {
		t.Errorf("want [FAILURE] ... incorrect sudo password, got %+v\n%s", s, r)
	}
	if strings.Contains(r.stdout, "root") {
		t.Errorf("the command ran with a wrong password\n%s", r)
	}
}

// TestTimeoutKillsSudoCommand: under --sudo the command runs as root, and
// the timeout must kill it as root.
func TestTimeoutKillsSudoCommand(t *testing.T) {
	u := setup(t)
	sleep := uniqueSleep(334)
	run := u.start("", "--sudo", "-t", "2", "-h", testFleet.HostsFile, sleep)
	sawRoot := false
	eventually(cmdTimeout, func() bool {
		for _, p := range procsMatching(sleep) {
			sawRoot = sawRoot || p.uid == 0 && p.cmdline == sleep
		}
		return sawRoot || run.finished()
	})
	r := run.wait(cmdTimeout)
	mustExit(t, r, 3)
	if !sawRoot {
		t.Errorf("never saw %q running as root", sleep)
	}
	checkGone(t, r, killWindow, sleep)
}

// noSecretIn fails the test when a regular file under one of dirs holds
// secret.
func noSecretIn(t *testing.T, secret string, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err == nil && bytes.Contains(b, []byte(secret)) {
				t.Errorf("the secret is in %s", path)
			}
			return err
		})
		if err != nil {
			t.Fatalf("searching %s: %v", dir, err)
		}
	}
}
