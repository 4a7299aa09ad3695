package ui

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// failuresLast is the failures of mixed() as a terminal lists them again
// at the end of the run, last on screen.
const failuresLast = "[FAILURE] web2 Exited with error code 5\n" +
	"[FAILURE] root@db1:2222 unreachable: connection refused\n" +
	"  hint: is sshd running on that port?\n" +
	"[FAILURE] web3 timed out: still running after 5s (-t)\n" +
	"[FAILURE] web4 Killed by signal TERM\n" +
	"[FAILURE] web5 not started\n"

func TestTerminalListsFailuresLast(t *testing.T) {
	rs := append(mixed(), res(6, "web6", nil, "", "", at(20)))
	p, out, errb := newTest(Options{Terminal: true, Total: len(rs), Verb: "run"})
	play(p, rs, []int{5, 4, 6, 3, 2, 1, 0}, 2300*time.Millisecond)

	want := "[SUCCESS] web1\n" +
		"[SUCCESS] web6\n" + failuresLast
	if got := out.String(); got != want {
		t.Errorf("stdout:\n%q\nwant:\n%q", got, want)
	}
	e := errb.String()
	if !strings.Contains(e, "\r") || !strings.Contains(e, "run  ok ") {
		t.Errorf("no bar drawn on stderr: %q", e)
	}
	if strings.Contains(e, "[SUCCESS]") || strings.Contains(e, "[1]") {
		t.Errorf("status lines on stderr: %q", e)
	}
	if want := "\r\x1b[K7 hosts: 2 ok, 2 failed, 1 unreachable, 1 timed out, 1 not started (2.3s)\n"; !strings.HasSuffix(e, want) {
		t.Errorf("stderr should end with the bar erased and the summary, got %q", e)
	}
}

// TestTerminalInlineAsHostsFinish: -i at a terminal prints each host's
// block as it finishes, in pssh's form and order, output that lacks a
// newline ended; at the end only the failures are listed again, last on
// screen. The old Printer printed every block at the end.
func TestTerminalInlineAsHostsFinish(t *testing.T) {
	rs := append(mixed(), res(6, "web6", nil, "", "", at(20)))
	p, out, _ := newTest(Options{Terminal: true, Inline: true, Total: len(rs), Verb: "run"})
	send(p, fleet.HostStarted, rs)
	send(p, fleet.HostDone, rs, 3)
	// The block is out before the run ends.
	want := "[1] 10:11:15 [FAILURE] web3 timed out: still running after 5s (-t)\npartial\n"
	if !eventually(func() bool { return out.String() == want }) {
		t.Fatalf("while running, stdout = %q, want %q", out.String(), want)
	}
	send(p, fleet.HostDone, rs, 5, 4, 6, 2, 1, 0)
	p.Finish(rs, time.Second)
	want += "[2] 12:00:00 [FAILURE] web5 not started\n" +
		"[3] 10:11:16 [FAILURE] web4 Killed by signal TERM\n" +
		"[4] 10:11:20 [SUCCESS] web6\n" +
		"[5] 10:11:14 [FAILURE] root@db1:2222 unreachable: connection refused\n" +
		"[6] 10:11:13 [FAILURE] web2 Exited with error code 5\nStderr: boom\n" +
		"[7] 10:11:12 [SUCCESS] web1\nhello\nStderr: warn\n" + failuresLast
	if got := out.String(); got != want {
		t.Errorf("stdout:\n%q\nwant:\n%q", got, want)
	}
}

// within fails the test when f has not returned after d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal(what)
	}
}

// eventually polls cond for up to 5 seconds.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func TestTerminalBarWhileRunning(t *testing.T) {
	rs := mixed()[:3]
	p, _, errb := newTest(Options{Terminal: true, Total: 4, Verb: "copy"})
	send(p, fleet.HostStarted, rs)
	send(p, fleet.HostDone, rs, 0, 1)
	// The description is refreshed by the ticker, not by each event.
	if !eventually(func() bool { return strings.Contains(errb.String(), "copy  ok 1  failed 1  running 1") }) {
		t.Fatalf("bar never showed the counts: %q", errb.String())
	}
	p.Finish(rs, time.Second)
}

func TestNotTerminalNeverDrawsFrames(t *testing.T) {
	rs := mixed()
	p, out, errb := newTest(Options{Inline: true, Print: true, Total: len(rs)})
	w := p.LineWriter(0, "web1", true)
	_, _ = w.Write([]byte("x\n"))
	play(p, rs, nil, time.Second)
	time.Sleep(3 * barTick / 2) // a ticker, if there were one, would have fired
	if strings.Contains(out.String()+errb.String(), "\r") {
		t.Errorf("a \\r frame written while not on a terminal:\nstdout %q\nstderr %q", out, errb)
	}
}

func TestFinishWithoutEvents(t *testing.T) {
	for _, opts := range []Options{{}, {Terminal: true}, {Terminal: true, Total: 3}, {JSON: true, Gather: true}} {
		p, out, errb := newTest(opts)
		within(t, 5*time.Second, fmt.Sprintf("Finish(%+v) hangs", opts), func() {
			p.Finish(nil, 0)
			p.Finish(nil, 0) // a second call prints nothing more
		})
		if out.Len() != 0 {
			t.Errorf("%+v: stdout = %q", opts, out)
		}
		if e := errb.String(); strings.Count(e, "0 hosts: 0 ok (0s)\n") != 1 {
			t.Errorf("%+v: stderr = %q", opts, e)
		}
		p.Event(fleet.Event{Kind: fleet.HostStarted}) // after Finish: dropped, no panic
	}
}

// TestNoGoroutineLeft: Finish must stop the drawing goroutine (and the bar
// must not start any of its own).
func TestNoGoroutineLeft(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		rs := mixed()
		p, _, _ := newTest(Options{Terminal: terminal, Total: len(rs)})
		if !printerGoroutines(3) { // the drawing goroutine and two lanes
			t.Fatal("printer goroutines not found: the check is broken")
		}
		play(p, rs, nil, time.Second)
		if !printerGoroutines(0) {
			t.Errorf("terminal=%v: a goroutine of the package is left after Finish", terminal)
		}
	}
}

// printerGoroutines waits up to a few seconds for the number of goroutines
// running this package's or progressbar's code to be want.
func printerGoroutines(want int) bool {
	deadline := time.Now().Add(3 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		got := 0
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "ui.(*Printer).loop") || strings.Contains(g, "ui.(*lane).run") || strings.Contains(g, "progressbar") {
				got++
			}
		}
		if got == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockedWriter blocks every write until released, like a terminal
// scrolled back or a pipe nobody reads.
type blockedWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockedWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func TestEventDoesNotBlock(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	p := New(Options{Stdout: w, Stderr: w})
	const n = 5000
	results := make([]fleet.Result, n)
	start := time.Now()
	for i := range results {
		results[i] = res(i, "h", nil, "", "", at(0))
		p.Event(fleet.Event{Kind: fleet.HostStarted, Index: i, Host: results[i].Host})
		p.Event(fleet.Event{Kind: fleet.HostDone, Index: i, Host: results[i].Host, Result: &results[i]})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d events took %v with the output blocked", 2*n, d)
	}
	close(w.release)
	p.Finish(results, time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := strings.Count(w.buf.String(), "[SUCCESS] h\n"); got != n {
		t.Errorf("%d status lines printed, want %d (events lost?)", got, n)
	}
}
