package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/ptytest"
)

// The hosts' commands try to set the clipboard (OSC 52), retitle the
// window (OSC 0), clear the screen (CSI 2J) and ask for the title back
// (CSI 21t).
const (
	evilCmd = `printf 'out\033]52;c;ZXZpbA==\007\033[2J\033[21t\n'; printf 'err\033]0;pwned\007\n' >&2`
	evilOut = "out\x1b]52;c;ZXZpbA==\a\x1b[2J\x1b[21t\n"
	evilErr = "err\x1b]0;pwned\a\n"
	seenOut = "out^[]52;c;ZXZpbA==^G^[[2J^[[21t\n"
	seenErr = "err^[]0;pwned^G\n"
)

// TestTerminalEscapes runs fleet on real hosts with its stdout and stderr
// on pseudo-terminals, as a person would, for every mode that prints the
// hosts' text, and checks that no escape of theirs reaches the terminal
// raw, while -o/-e files and the run record keep every byte.
func TestTerminalEscapes(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	labels := allLabels(np)

	for _, tc := range []struct {
		name  string
		flags []string
		want  func(label string) string // in stdout, for each host
	}{
		{"inline", []string{"-i"}, func(string) string { return seenOut + "Stderr: " + seenErr }},
		{"print", []string{"-P"}, func(l string) string { return l + ": " + seenOut }},
		{"gather", []string{"--gather"}, func(string) string { return seenOut + "Stderr:\n" + seenErr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := setup(t)
			outdir, errdir := t.TempDir(), t.TempDir()
			args := append([]string{"-h", testFleet.HostsFile, "-o", outdir, "-e", errdir}, tc.flags...)
			r := u.onTerminal(t, append([]string{"run", "-F", testFleet.SSHConfig}, append(args, evilCmd)...)...)
			mustExit(t, r, 0)
			noRawEscapes(t, r)
			for _, l := range labels {
				if !strings.Contains(r.stdout, tc.want(l)) {
					t.Errorf("%s: the terminal did not get %q\n%s", l, tc.want(l), r)
				}
				if got := readString(t, filepath.Join(outdir, l)); got != evilOut {
					t.Errorf("-o file of %s = %q, want the raw %q", l, got, evilOut)
				}
				if got := readString(t, filepath.Join(errdir, l)); got != evilErr {
					t.Errorf("-e file of %s = %q, want the raw %q", l, got, evilErr)
				}
			}
			if tc.name == "print" && !strings.Contains(r.stderr, labels[0]+": "+seenErr) {
				t.Errorf("-P stderr lines not shown cleaned on stderr\n%s", r)
			}
			// fleet logs prints the record, whose log keeps the bytes:
			// cleaned on a terminal, raw into a pipe.
			for _, logs := range [][]string{{"logs", labels[0]}, {"logs", "-f", labels[0]}} {
				lr := u.onTerminal(t, logs...)
				noRawEscapes(t, lr)
				if lr.status != 0 || !strings.Contains(lr.stdout, "out | "+seenOut) || !strings.Contains(lr.stdout, "err | "+seenErr) {
					t.Errorf("fleet logs on a terminal\n%s", lr)
				}
			}
			pr := u.fleet("logs", labels[0])
			if !strings.Contains(pr.stdout, "out | "+evilOut) || !strings.Contains(pr.stdout, "err | "+evilErr) {
				t.Errorf("fleet logs into a pipe lost the raw bytes\n%s", pr)
			}
		})
	}

	// A failed provision step puts the last line of its stderr in the
	// host's failure line, which fleet prints even without -i.
	t.Run("failure reason", func(t *testing.T) {
		u := setup(t)
		recipe := writeFile(t, filepath.Join(t.TempDir(), "evil.yaml"), `name: evil
sudo: false
steps:
  - name: install
    run: |
      printf 'E: \033]52;c;ZXZpbA==\007 \033[2Jbad\n' >&2; exit 100
`, 0o644)
		host := label(np, testFleet.Hosts[0])
		r := u.onTerminal(t, "provision", "-F", testFleet.SSHConfig, "-H", host, "--recipe", recipe)
		mustExit(t, r, 5)
		noRawEscapes(t, r)
		want := "[FAILURE] " + host + " Exited with error code 100"
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "E: ^[]52;c;ZXZpbA==^G ^[[2Jbad") {
			t.Errorf("the failure line with the cleaned reason is missing\n%s", r)
		}
		// Not on a terminal the status line carries the bytes as pssh
		// would, and so does the run record.
		p := u.startSub("provision", "", "-H", host, "--recipe", recipe).wait(cmdTimeout + 5*time.Second)
		if !strings.Contains(p.stdout, "E: \x1b]52;c;ZXZpbA==\a \x1b[2Jbad") {
			t.Errorf("piped status line lost the bytes\n%s", p)
		}
		if hosts := u.latestRun().Hosts; len(hosts) != 1 || !strings.Contains(hosts[0].Error+hosts[0].Detail, "E: \x1b]52;c;ZXZpbA==\a \x1b[2Jbad") {
			t.Errorf("run.json lost the raw reason: %+v", hosts)
		}
		// fleet logs --failed prints the step's stderr from the log.
		sr := u.onTerminal(t, "logs", "--failed")
		noRawEscapes(t, sr)
		if sr.status != 0 || !strings.Contains(sr.stdout, "E: ^[]52;c;ZXZpbA==^G ^[[2Jbad") {
			t.Errorf("the step's stderr is not shown cleaned\n%s", sr)
		}
	})
}

// noRawEscapes fails when the hosts' sequences reached the terminal. The
// progress bar draws with CR and CSI K of fleet's own, so the check looks
// for the hosts' sequences, not for every ESC.
func noRawEscapes(t *testing.T, r result) {
	t.Helper()
	for _, raw := range []string{"\x1b]52", "\x1b]0;", "\x1b[2J", "\x1b[21t", "\a"} {
		if strings.Contains(r.stdout+r.stderr, raw) {
			t.Errorf("%q reached the terminal raw\n%s", raw, r)
		}
	}
}

// onTerminal runs `fleet args...` to its end with stdout and stderr each
// on a pseudo-terminal of its own, and returns what each terminal got.
func (u *user) onTerminal(t *testing.T, args ...string) result {
	t.Helper()
	out, errp := ptytest.Open(t), ptytest.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// NO_COLOR: fleet's own colours are not what this is about.
	cmd := u.command(ctx, []string{"NO_COLOR=1", "TERM=xterm"}, args...)
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = out.Slave, errp.Slave
	err := cmd.Run()
	status := 0
	if err != nil {
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() < 0 {
			t.Fatalf("fleet %s: %v", shellWords(args), err)
		}
		status = cmd.ProcessState.ExitCode()
	}
	return result{args: args, stdout: out.Output(), stderr: errp.Output(), status: status}
}
