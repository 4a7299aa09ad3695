package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// markerRE matches the private markers fleet's remote wrapper prints
// (fleet-<12 hex digits>-pid:, -sudo:, -ready).
var markerRE = regexp.MustCompile(`fleet-[0-9a-f]{12}-`)

// TestSudoPasswordWithPTY: with -x -tt the command runs on a terminal,
// where stdout and stderr are one stream and sudo reads the password from
// the terminal. With the right password the output is exactly the
// command's, as without sudo: no marker of fleet's, no prompt, no password,
// no extra line.
func TestSudoPasswordWithPTY(t *testing.T) {
	u := setup(t)
	pw := testFleet.Users.Pass
	secret := testFleet.Users.PassPassword
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), secret+"\n", 0o600)
	hosts := hostArg(pw, testFleet.Hosts[0], testFleet.Hosts[1])
	const script = "echo out; echo err >&2; id -un"
	plain := u.run("-x", "-tt", "-i", "-H", hosts, strings.Replace(script, "id -un", "echo root", 1))
	r := u.run("-x", "-tt", "-i", "--sudo-password-file", pwFile, "-H", hosts, script)
	if plain.status != 0 || r.status != 0 {
		t.Fatalf("want exit status 0\n%s\n%s", plain, r)
	}
	want := inlineBlocks(plain.stdout)
	got := inlineBlocks(r.stdout)
	for _, h := range testFleet.Hosts[:2] {
		l := label(pw, h)
		if !strings.Contains(want[l], "root") {
			t.Fatalf("the run without sudo printed %q for %s\n%s", want[l], l, plain)
		}
		if got[l] != want[l] {
			t.Errorf("%s printed %q under sudo with a terminal, want %q as without sudo\n%s", l, got[l], want[l], r)
		}
	}
	if strings.Contains(r.stdout+r.stderr, secret) || markerRE.MatchString(r.stdout+r.stderr) {
		t.Errorf("the password or a marker of fleet's reached the output\n%s", r)
	}
}

// TestSudoWrongPasswordWithPTY: with -x -tt a refused password fails the
// host at once (not at -t) with the message it gets without a terminal,
// while a host whose sudo needs no password runs the command.
func TestSudoWrongPasswordWithPTY(t *testing.T) {
	u := setup(t)
	pw, np := testFleet.Users.Pass, testFleet.Users.NoPass
	bad := "not-" + testFleet.Users.PassPassword
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), bad+"\n", 0o600)
	hosts := hostArg(pw, testFleet.Hosts[1]) + " " + hostArg(np, testFleet.Hosts[2])
	start := time.Now()
	r := u.run("-x", "-tt", "-i", "-t", "25", "--sudo-password-file", pwFile, "-H", hosts, "id -un")
	took := time.Since(start)
	if took > 10*time.Second {
		t.Errorf("fleet took %v with a wrong password (-t 25): it waited for sudo instead of failing at once\n%s", took, r)
	}
	wantExit(t, r, 5)
	st := statuses(t, r.stdout)
	if s := st[label(pw, testFleet.Hosts[1])]; s.ok || !strings.Contains(s.reason, "incorrect sudo password") {
		t.Errorf("want [FAILURE] ... incorrect sudo password, got %+v\n%s", s, r)
	}
	if s := st[label(np, testFleet.Hosts[2])]; !s.ok {
		t.Errorf("the host whose sudo needs no password failed: %+v\n%s", s, r)
	}
	blocks := inlineBlocks(r.stdout)
	if got := blocks[label(np, testFleet.Hosts[2])]; strings.TrimRight(got, "\r\n") != "root" {
		t.Errorf("the passwordless host printed %q, want root\n%s", got, r)
	}
	if got := blocks[label(pw, testFleet.Hosts[1])]; strings.Contains(got, "root") || markerRE.MatchString(got) {
		t.Errorf("the refused host printed %q: the command ran, or a marker leaked\n%s", got, r)
	}
	if strings.Contains(r.stdout+r.stderr, bad) {
		t.Errorf("the password reached the output\n%s", r)
	}
	if got := blocks[label(pw, testFleet.Hosts[1])]; strings.Contains(got, "\n\n") {
		t.Errorf("an empty line (sudo's newline after a password) reached the output: %q\n%s", got, r)
	}
}
