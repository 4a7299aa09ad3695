package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/e2e/ptytest"
)

// The host's command tries to set the clipboard and clear the screen on
// stdout (with a pty's CR LF line end and a progress bar's lone CR), and
// to retitle the window on stderr; then it fails.
const (
	evilCommand = `printf 'out\033]52;c;ZXZpbA==\007\033[2J\033[32mgreen\033[0m 50%%\r99%%\r\n'; ` +
		`printf 'err\033]0;pwned\007\n' >&2; exit 3`
	evilStdout   = "out\x1b]52;c;ZXZpbA==\a\x1b[2J\x1b[32mgreen\x1b[0m 50%\r99%\r\n"
	evilStderr   = "err\x1b]0;pwned\a\n"
	shownStdout  = "out^[]52;c;ZXZpbA==^G^[[2J^[[32mgreen^[[0m 50%^M99%\r\n"
	shownStderr  = "err^[]0;pwned^G\n"
	colorsStdout = "out^[]52;c;ZXZpbA==^G^[[2J\x1b[32mgreen\x1b[0m 50%^M99%\r\n"
)

// escapeHost starts an in-process SSH server and returns the flags that
// reach it as 127.0.0.1:PORT with a key of this test's own (termFleet's
// host, without fleet's colours, which would hide nothing but complicate
// the bytes).
func escapeHost(t *testing.T) []string {
	t.Helper()
	flags, _ := termFleet(t, 1)
	t.Setenv("NO_COLOR", "1")
	return flags
}

// runFleet runs fleet in-process with stdout and stderr on the given
// writers and returns the exit status.
func runFleet(stdout, stderr *os.File, args ...string) int {
	return Main(append([]string{"fleet"}, args...), strings.NewReader(""), stdout, stderr)
}

// assertClean fails when what reached a terminal has the host's escapes
// raw. Fleet's own progress bar draws with CSI K and CR on stderr, so the
// check is for the host's sequences, not for every ESC.
func assertClean(t *testing.T, where, got string, colors bool) {
	t.Helper()
	raws := []string{"\x1b]52", "\x1b]0;", "\x1b[2J", "\a"}
	if !colors {
		raws = append(raws, "\x1b[32m")
	}
	for _, raw := range raws {
		if strings.Contains(got, raw) {
			t.Errorf("%s: the host's %q reached the terminal raw:\n%q", where, raw, got)
		}
	}
}

// TestTerminalGetsNoRawEscapes runs fleet on a real pty for stdout and
// another for stderr, in every mode that prints the hosts' output, and
// checks that the terminal gets the escapes shown, not obeyed, while the
// -o/-e files and the run record keep the bytes.
func TestTerminalGetsNoRawEscapes(t *testing.T) {
	host := escapeHost(t)
	label := host[len(host)-1] // -H 127.0.0.1:PORT is labelled as given
	for _, tc := range []struct {
		name  string
		flags []string
		want  string // in stdout
	}{
		{"inline", []string{"-i"}, shownStdout + "Stderr: " + shownStderr},
		{"print", []string{"-P"}, label + ": " + shownStdout},
		{"gather", []string{"--gather"}, shownStdout + "Stderr:\n" + shownStderr},
		{"inline colors", []string{"-i", "--escapes", "color"}, colorsStdout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errp := ptytest.Open(t), ptytest.Open(t)
			outdir, errdir := t.TempDir(), t.TempDir()
			status := runFleet(out.Slave, errp.Slave, slices.Concat([]string{"run"}, host, []string{"-o", outdir, "-e", errdir}, tc.flags, []string{evilCommand})...)
			stdout, stderr := out.Output(), errp.Output()
			if status != exitRemote {
				t.Fatalf("exit status %d, want %d\nstdout %q\nstderr %q", status, exitRemote, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("stdout %q\nlacks %q", stdout, tc.want)
			}
			colors := tc.name == "inline colors"
			assertClean(t, "stdout", stdout, colors)
			assertClean(t, "stderr", stderr, colors)
			if !strings.Contains(stdout, "[FAILURE] "+label+" Exited with error code 3") {
				t.Errorf("no failure line in %q", stdout)
			}
			if tc.name == "print" && !strings.Contains(stderr, label+": "+shownStderr) {
				t.Errorf("stderr %q lacks the cleaned -P stderr line", stderr)
			}
			// The files and the record keep what the host sent.
			for dir, want := range map[string]string{outdir: evilStdout, errdir: evilStderr} {
				if b, err := os.ReadFile(filepath.Join(dir, label)); err != nil || string(b) != want {
					t.Errorf("%s/%s = %q, %v; want %q", dir, label, b, err, want)
				}
			}
			log := readLatestLog(t)
			if !strings.Contains(log, " out | out\x1b]52;c;ZXZpbA==\a") || !strings.Contains(log, " err | err\x1b]0;pwned\a") {
				t.Errorf("the run record's log lost the raw bytes:\n%q", log)
			}
		})
	}

	t.Run("pipe gets the bytes", func(t *testing.T) {
		errp := ptytest.Open(t)
		status, got := piped(t, func(w *os.File) int {
			return runFleet(w, errp.Slave, append(append([]string{"run"}, host...), "-i", evilCommand)...)
		})
		if status != exitRemote || !strings.Contains(got, evilStdout+"Stderr: "+evilStderr) {
			t.Errorf("exit %d; piped stdout should hold the raw bytes, got %q", status, got)
		}
	})

	t.Run("logs", func(t *testing.T) {
		for _, flags := range [][]string{{label}, {"-f", label}, {"--failed"}} {
			out, errp := ptytest.Open(t), ptytest.Open(t)
			status := runFleet(out.Slave, errp.Slave, append([]string{"logs"}, flags...)...)
			got := out.Output()
			if status != 0 {
				t.Fatalf("logs %v: exit %d, stderr %q", flags, status, errp.Output())
			}
			assertClean(t, "logs", got, false)
			if !strings.Contains(got, " out | out^[]52;c;ZXZpbA==^G^[[2J") || !strings.Contains(got, " err | err^[]0;pwned^G") {
				t.Errorf("logs %v: %q", flags, got)
			}
		}
		status, got := piped(t, func(w *os.File) int { return runFleet(w, w, "logs", label) })
		if status != 0 || !strings.Contains(got, " out | out\x1b]52;c;ZXZpbA==\a") {
			t.Errorf("piped logs: exit %d, %q", status, got)
		}
	})
}

// readLatestLog is the one host log of the latest run.
func readLatestLog(t *testing.T) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(os.Getenv("FLEET_STATE_DIR"), "runs", "latest", "hosts", "*"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("host logs of the latest run: %v, %v", logs, err)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCleanOnTerminal: the writer of logs, runs show and dry-run plans
// cleans on a terminal, holds a trailing CR until flushed, and is the
// stream itself when that is not a terminal or the mode is raw.
func TestCleanOnTerminal(t *testing.T) {
	p := ptytest.Open(t)
	w, flush := cleanOnTerminal(p.Slave, ui.Replace)
	_, _ = io.WriteString(w, "a\x1b[2J\r")
	_, _ = io.WriteString(w, "\nb\r")
	flush()
	if got := p.Output(); got != "a^[[2J\r\nb^M" {
		t.Errorf("terminal got %q", got)
	}
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	if w, _ := cleanOnTerminal(pw, ui.Replace); w != io.Writer(pw) {
		t.Errorf("a pipe got %T, want the pipe itself", w)
	}
	q := ptytest.Open(t)
	if w, _ := cleanOnTerminal(q.Slave, ui.Raw); w != io.Writer(q.Slave) {
		t.Errorf("raw mode on a terminal got %T, want the terminal itself", w)
	}
}
