package e2e

import (
	"strings"
	"testing"
)

// TestSyntaxErrorIsTheCommandsFailure: a command line the login shell
// (bash on these hosts, dash under sudo) cannot parse is the command's failure, as with
// pssh: the shell's own complaint as the host's stderr, its exit status 2
// (fleet's 5, a remote command that failed), never a "login refused" with
// a nologin hint, and nothing of fleet's wrapper script. Checked to fail
// before the wrapper handed the line to eval (issue 15 item 9).
func TestSyntaxErrorIsTheCommandsFailure(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	for _, sudo := range []bool{false, true} {
		args := []string{"-i", "-h", testFleet.HostsFile}
		if sudo {
			args = append(args, "--sudo")
		}
		r := u.run(append(args, "if then")...)
		if r.status != 5 {
			t.Errorf("sudo %v: want exit status 5 (the command failed)\n%s", sudo, r)
		}
		got := statuses(t, r.stdout)
		blocks := inlineBlocks(r.stdout)
		for _, h := range testFleet.Hosts {
			l := label(np, h)
			if s := got[l]; s.ok || s.reason != "Exited with error code 2" {
				t.Errorf("sudo %v, %s: want [FAILURE] ... Exited with error code 2, got %+v", sudo, l, s)
			}
			b := blocks[l]
			// bash (the login shell) and dash (/bin/sh, under sudo) word it
			// differently; both name the token.
			if !strings.Contains(strings.ToLower(b), "syntax error") || !strings.Contains(b, "then") {
				t.Errorf("sudo %v, %s: want the shell's own complaint, got %q", sudo, l, b)
			}
			if strings.Contains(b, "fleet-") || strings.Contains(b, "printf") || strings.Contains(b, "_fleet") {
				t.Errorf("sudo %v, %s: fleet's wrapper shows in the output: %q", sudo, l, b)
			}
		}
		if strings.Contains(r.stdout+r.stderr, "login refused") || strings.Contains(r.stdout+r.stderr, "nologin") {
			t.Errorf("sudo %v: reported as a login refused\n%s", sudo, r)
		}
		if t.Failed() {
			t.Log(r)
		}
	}
}
