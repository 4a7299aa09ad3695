package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/e2e/ptytest"
	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// termFleet starts n in-process SSH servers that accept a key of the
// test's own, with HOME, the state folder and known_hosts (empty: the
// keys are recorded as new) in a folder of the test's own. It returns the
// flags that reach every server and the servers' labels.
func termFleet(t *testing.T, n int) (flags, labels []string) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	pub, err := writeClientKey(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir)
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("FLEET_ESCAPES", "")
	t.Setenv("FLEET_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("NO_COLOR", "")
	flags = []string{"-F", "none", "--identity", key, "-O", "UserKnownHostsFile=" + filepath.Join(dir, "known_hosts")}
	for range n {
		srv := sshtest.Start(t, sshtest.Config{AuthorizedKeys: []ssh.PublicKey{pub}, Home: dir, SFTP: true})
		flags = append(flags, "-H", srv.Addr)
		labels = append(labels, srv.Addr)
	}
	return flags, labels
}

// fleetRun is fleet running in this process.
type fleetRun struct {
	done   chan struct{}
	status int
}

func startFleet(stdout, stderr *os.File, args ...string) *fleetRun {
	r := &fleetRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.status = runFleet(stdout, stderr, args...)
	}()
	return r
}

func (r *fleetRun) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.status
	case <-time.After(d):
		t.Fatalf("fleet still runs after %v", d)
		return -1
	}
}

// plain is s without colours (SGR sequences).
func plain(s string) string { return sgr.ReplaceAllString(s, "") }

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// onPty runs fleet with stdout and stderr both on a new pty cols columns
// wide (0: the pty's default), as at a person's terminal, fails the test
// unless it exits 0 within 30 s, and returns what the terminal got. With
// child fleet runs as a child process, so that several can run at once:
// newApp sets urfave/cli's globals, so two Mains in one process race.
func onPty(t *testing.T, cols int, child bool, args ...string) string {
	t.Helper()
	p := ptytest.Open(t)
	if cols > 0 {
		if err := p.SetSize(cols, 40); err != nil {
			t.Fatal(err)
		}
	}
	var status int
	if child {
		status = runChild(t, p.Slave, args...)
	} else {
		status = startFleet(p.Slave, p.Slave, args...).wait(t, 30*time.Second)
	}
	out := p.Output()
	if status != 0 {
		t.Fatalf("exit %d: %q", status, out)
	}
	return out
}

// runChild runs fleet as a child process with stdout and stderr on w and
// returns its exit status. TestMain's testscript.Main put this test binary
// on PATH as fleet; the environment is this process's, with the race
// runtime's exit sleep off (see TestScripts).
func runChild(t *testing.T, w *os.File, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "fleet", args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var ee *exec.ExitError
	switch err := cmd.Run(); {
	case ctx.Err() != nil:
		t.Fatalf("fleet still runs after 30s")
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return 0
}

// TestBarFitsTheTerminal runs fleet at a real pty 60, 80, 100 and 160
// columns wide (side by side, as child processes): nothing fleet draws may
// wrap, the bar redraws in place, and the results are listed. At 80
// columns the old line was 84 cells and every redraw left a stale row.
func TestBarFitsTheTerminal(t *testing.T) {
	flags, labels := termFleet(t, 8)
	for _, cols := range []int{60, 80, 100, 160} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			t.Parallel()
			out := plain(onPty(t, cols, true, slices.Concat([]string{"run", "-p", "4"}, flags, []string{"sleep 0.8"})...))
			if n := ptytest.Wraps(out, cols); n != 0 {
				t.Errorf("%d lines wrapped at %d columns:\n%q", n, cols, out)
			}
			if strings.Count(out, "\r") < 3 {
				t.Errorf("the bar was not drawn and redrawn: %q", out)
			}
			for _, l := range labels {
				if !strings.Contains(out, "[SUCCESS] "+l+"\n") {
					t.Errorf("no [SUCCESS] line for %s: %q", l, out)
				}
			}
			if cols >= 100 && !strings.Contains(out, "waiting: ") {
				t.Errorf("the last running hosts were not named: %q", out)
			}
		})
	}
}

// TestCopyBarFits: copy's line, with the bytes sent, fits 100 columns (it
// wrapped there before) and 60.
func TestCopyBarFits(t *testing.T) {
	flags, _ := termFleet(t, 6)
	src := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(src, bytes.Repeat([]byte("x"), 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cols := range []int{60, 100} {
		dst := filepath.Join(t.TempDir(), "blob")
		out := plain(onPty(t, cols, false, slices.Concat([]string{"copy", "-p", "2"}, flags, []string{src, dst})...))
		if n := ptytest.Wraps(out, cols); n != 0 {
			t.Errorf("%d lines wrapped at %d columns:\n%q", n, cols, out)
		}
		if !strings.Contains(out, "copy") || !strings.Contains(out, "\r") {
			t.Errorf("no progress line: %q", out)
		}
	}
}

// TestBarFollowsResize: the terminal shrinks from 160 to 60 columns in the
// middle of a run (SIGWINCH); from the first frame drawn at the new width
// on, nothing wraps at 60.
func TestBarFollowsResize(t *testing.T) {
	flags, _ := termFleet(t, 4)
	p := ptytest.Open(t)
	if err := p.SetSize(160, 40); err != nil {
		t.Fatal(err)
	}
	run := startFleet(p.Slave, p.Slave, append(append([]string{"run", "-p", "2"}, flags...), "sleep 1")...)
	if !sshtest.Eventually(15*time.Second, func() bool { return strings.Contains(p.Seen(), "running 2") }) {
		t.Fatalf("no bar: %q", p.Seen())
	}
	before := len(p.Seen())
	if err := p.SetSize(60, 40); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	if status := run.wait(t, 30*time.Second); status != 0 {
		t.Fatalf("exit %d", status)
	}
	out := p.Output()
	after := out[before:]
	// The first frame that fits 60 columns, then all that follows.
	frame := regexp.MustCompile(`\r[^\r\n]*\x1b\[K`)
	start := -1
	for _, loc := range frame.FindAllStringIndex(after, -1) {
		f := after[loc[0]:loc[1]]
		if len(f) > len("\r\x1b[K") && ptytest.Wraps(f, 60) == 0 {
			start = loc[0]
			break
		}
	}
	if start < 0 {
		t.Fatalf("no frame was drawn for 60 columns after the resize: %q", after)
	}
	if n := ptytest.Wraps(after[start:], 60); n != 0 {
		t.Errorf("%d lines wrapped at 60 columns after the resize:\n%q", n, after[start:])
	}
	if ptytest.Wraps(out[:before], 160) != 0 {
		t.Errorf("wrapped at 160 columns: %q", out[:before])
	}
}

// TestDumbTerminal: TERM=dumb gets neither the bar nor colours, but pssh's
// status lines; the same run with TERM=xterm gets both (so the check can
// fail), and NO_COLOR takes the colours away but keeps the bar.
func TestDumbTerminal(t *testing.T) {
	flags, _ := termFleet(t, 2)
	for _, tc := range []struct {
		term, noColor      string
		bar, color, status bool
	}{
		{"dumb", "", false, false, true},
		{"xterm", "", true, true, false},
		{"xterm", "1", true, false, false},
	} {
		t.Run(tc.term+" NO_COLOR="+tc.noColor, func(t *testing.T) {
			t.Setenv("TERM", tc.term)
			t.Setenv("NO_COLOR", tc.noColor)
			out := onPty(t, 0, false, slices.Concat([]string{"run"}, flags, []string{"sleep 0.5"})...)
			if bar := strings.Contains(out, "\r"); bar != tc.bar {
				t.Errorf("bar drawn %v, want %v: %q", bar, tc.bar, out)
			}
			if color := strings.Contains(out, "\x1b[32m"); color != tc.color {
				t.Errorf("colour %v, want %v: %q", color, tc.color, out)
			}
			if tc.term == "dumb" && strings.Contains(out, "\x1b") {
				t.Errorf("an escape sequence at TERM=dumb: %q", out)
			}
			if st := regexp.MustCompile(`(?m)^\[1\] \d\d:\d\d:\d\d \[SUCCESS\]`).MatchString(out); st != tc.status {
				t.Errorf("pssh status lines %v, want %v: %q", st, tc.status, out)
			}
		})
	}
}

// readAll collects what a pipe's reader gets; done is closed at its end.
type readAll struct {
	lockedBuffer
	done chan struct{}
}

func collect(r io.Reader) *readAll {
	a := &readAll{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		_, _ = io.Copy(&a.lockedBuffer, r)
	}()
	return a
}

// piped gives run the write end of a pipe and returns run's status and all
// the pipe's reader got, once run has returned.
func piped(t *testing.T, run func(w *os.File) int) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := collect(r)
	status := run(w)
	w.Close()
	<-got.done
	return status, got.String()
}

// TestPipeAtTerminalGetsStatusLines: `fleet run ... | grep` at a
// terminal. stdout is a pipe, so it gets pssh's status lines as hosts
// finish (not the end-of-run listing, as before, because stderr was a
// terminal), and no bar is drawn on the terminal the pipe's reader
// prints on; the summary still goes there.
func TestPipeAtTerminalGetsStatusLines(t *testing.T) {
	flags, labels := termFleet(t, 3)
	errp := ptytest.Open(t)
	status, got := piped(t, func(w *os.File) int {
		return startFleet(w, errp.Slave, append(append([]string{"run"}, flags...), "true")...).wait(t, 30*time.Second)
	})
	stderr := errp.Output()
	if status != 0 {
		t.Fatalf("exit %d: %q", status, stderr)
	}
	for _, l := range labels {
		if !regexp.MustCompile(`(?m)^\[\d\] \d\d:\d\d:\d\d \[SUCCESS\] ` + regexp.QuoteMeta(l) + `$`).MatchString(got) {
			t.Errorf("the pipe lacks the status line of %s: %q", l, got)
		}
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("a bar was drawn on the terminal while stdout is a pipe: %q", stderr)
	}
	if !strings.Contains(stderr, "3 hosts: 3 ok") {
		t.Errorf("no summary on the terminal: %q", stderr)
	}
}

// TestInlineAtTerminalAsHostsFinish: -i at a terminal prints each host's
// block as it finishes: the fast host's output is on the screen while the
// slow one still runs. Output without a final newline gets one.
func TestInlineAtTerminalAsHostsFinish(t *testing.T) {
	flags, labels := termFleet(t, 2)
	p := ptytest.Open(t)
	run := startFleet(p.Slave, p.Slave, append(append([]string{"run", "-i"}, flags...),
		`if [ "$PSSH_NODENUM" = 0 ]; then printf fast; else sleep 3; echo slow; fi`)...)
	want := "[SUCCESS] " + labels[0] + "\nfast\n"
	ended := func() bool {
		select {
		case <-run.done:
			return true
		default:
			return false
		}
	}
	// The slow host sleeps 3 s after the fast one is done: the block must
	// be on the screen before the run ends.
	var shown bool
	sshtest.Eventually(30*time.Second, func() bool {
		if ended() {
			return true
		}
		shown = strings.Contains(plain(p.Seen()), want)
		return shown
	})
	if !shown {
		t.Errorf("the fast host's block was not on the screen while the slow one ran: %q", p.Seen())
	}
	if status := run.wait(t, 30*time.Second); status != 0 {
		t.Fatalf("exit %d", status)
	}
	out := plain(p.Output())
	if !strings.Contains(out, "[SUCCESS] "+labels[1]+"\nslow\n") {
		t.Errorf("the slow host's block: %q", out)
	}
	if strings.Count(out, "fast") != 1 {
		t.Errorf("the output was printed again at the end: %q", out)
	}
}

// TestNeverReadPipe: stdout is a pipe that nobody reads while the hosts
// print 12 MB each with -P. The hosts must still run to their end (their
// -o files complete, at once), and fleet waits, with bounded memory, for
// the reader; once it reads, the status lines are all there and a mark
// says how many -P lines were not shown. With the old Printer the first
// write to the full pipe held every host's -P output, so no host ended.
func TestNeverReadPipe(t *testing.T) {
	flags, labels := termFleet(t, 3)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	outdir := t.TempDir()
	const size = 12_000_000
	run := startFleet(w, w, append(append([]string{"run", "-P", "-t", "120", "-o", outdir}, flags...),
		fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x | fold -w 999; echo`, size*999/1000))...)
	sizes := func() (got []int64) {
		for _, l := range labels {
			if st, err := os.Stat(filepath.Join(outdir, l)); err == nil {
				got = append(got, st.Size())
			}
		}
		return got
	}
	if !sshtest.Eventually(60*time.Second, func() bool {
		got := sizes()
		return len(got) == len(labels) && !slices.ContainsFunc(got, func(n int64) bool { return n != size })
	}) {
		t.Fatalf("the hosts did not finish while nobody read fleet's output: -o files of %v bytes, want %d", sizes(), size)
	}
	logs, _ := filepath.Glob(filepath.Join(os.Getenv("FLEET_STATE_DIR"), "runs", "latest", "hosts", "*"))
	ended := func() bool {
		n := 0
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			if bytes.Contains(b, []byte(" end ok exit=0")) {
				n++
			}
		}
		return n == len(labels)
	}
	if len(logs) != len(labels) || !sshtest.Eventually(10*time.Second, ended) {
		t.Errorf("the run record does not say every host ended ok: %v", logs)
	}
	select {
	case <-run.done:
		t.Fatal("fleet ended although its output was not read: it cannot have kept it all")
	case <-time.After(100 * time.Millisecond):
	}
	got := collect(r)
	if status := run.wait(t, 30*time.Second); status != 0 {
		t.Fatalf("exit %d", status)
	}
	w.Close()
	<-got.done
	out := got.String()
	for _, l := range labels {
		if !strings.Contains(out, "[SUCCESS] "+l+"\n") {
			t.Errorf("no status line for %s", l)
		}
	}
	if !regexp.MustCompile(`fleet: \d+ lines of output not shown here`).MatchString(out) {
		t.Errorf("no mark for the dropped -P lines (got %d bytes)", len(out))
	}
	if len(out) > 3*size/2 {
		t.Errorf("%d bytes were kept for a reader that did not read", len(out))
	}
}

// TestHostKeysRecordedLine: new host keys get one line per run, as ssh
// says "Permanently added"; a second run records none and says nothing.
func TestHostKeysRecordedLine(t *testing.T) {
	flags, _ := termFleet(t, 3)
	for i, want := range []string{"fleet: recorded 3 new host keys in ~/known_hosts\n", ""} {
		status, got := piped(t, func(w *os.File) int {
			return runFleet(w, w, append(append([]string{"run"}, flags...), "true")...)
		})
		if status != 0 {
			t.Fatalf("run %d: exit %d: %q", i, status, got)
		}
		if n := strings.Count(got, "recorded"); want == "" && n != 0 || want != "" && (n != 1 || !strings.Contains(got, want)) {
			t.Errorf("run %d: %q, want the line %q", i, got, want)
		}
	}
}

// TestDialWarningAboveBar: a warning of the dialer during the run
// (StrictHostKeyChecking=no) starts a line of its own above the progress
// line; written straight to stderr it ran into the bar.
func TestDialWarningAboveBar(t *testing.T) {
	flags, _ := termFleet(t, 2)
	out := plain(onPty(t, 0, false, slices.Concat([]string{"run", "-O", "StrictHostKeyChecking=no"}, flags, []string{"sleep 0.3"})...))
	i := strings.Index(out, "fleet: warning: WARNING: StrictHostKeyChecking=no")
	if i < 0 {
		t.Fatalf("no warning: %q", out)
	}
	if before := out[:i]; before != "" && !strings.HasSuffix(before, "\r\x1b[K") && !strings.HasSuffix(before, "\n") {
		t.Errorf("the warning runs into what came before it: %q", out[:i+60])
	}
}
