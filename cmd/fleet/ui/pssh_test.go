package ui

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/inventory"
)

// at is 10:11:00 plus sec seconds today, in the local zone the status lines
// are printed in.
func at(sec int) time.Time {
	return time.Date(2025, 3, 4, 10, 11, 0, 0, time.Local).Add(time.Duration(sec) * time.Second)
}

// res builds a finished result; err decides the outcome as Run would.
func res(i int, label string, err error, stdout, stderr string, end time.Time) fleet.Result {
	r := fleet.Result{
		Host:     inventory.Host{Name: label, Label: label, Source: "test"},
		Index:    i,
		Outcome:  fleet.OutcomeOf(err),
		Err:      err,
		ExitCode: 0,
		Stdout:   []byte(stdout),
		Stderr:   []byte(stderr),
		Start:    end.Add(-1500 * time.Millisecond),
		End:      end,
	}
	if ee, ok := err.(*fleet.ExitError); ok {
		r.ExitCode = ee.Status
	} else if err != nil {
		r.ExitCode = -1
	}
	return r
}

func notStarted(i int, label string) fleet.Result {
	return fleet.Result{
		Host: inventory.Host{Name: label, Label: label}, Index: i, Outcome: fleet.NotStarted,
		ExitCode: -1, Err: &fleet.Error{Kind: fleet.ErrCancelled, Reason: "not started"},
	}
}

func errRefused() error {
	return &fleet.Error{Kind: fleet.ErrUnreachable, Reason: "connection refused", Hint: "is sshd running on that port?"}
}

func errTimeout() error {
	return &fleet.Error{Kind: fleet.ErrTimeout, Reason: "still running after 5s (-t)"}
}

// mixed is one host of every kind, finishing in index order.
func mixed() []fleet.Result {
	return []fleet.Result{
		res(0, "web1", nil, "hello\n", "warn\n", at(12)),
		res(1, "web2", &fleet.ExitError{Status: 5}, "", "boom\n", at(13)),
		res(2, "root@db1:2222", errRefused(), "", "", at(14)),
		res(3, "web3", errTimeout(), "partial", "", at(15)),
		res(4, "web4", &fleet.ExitError{Status: 143, Signal: "TERM"}, "", "", at(16)),
		notStarted(5, "web5"),
	}
}

// play sends the events Run would send for results, in the given order
// (all results when order is nil), and finishes the run.
func play(p *Printer, results []fleet.Result, order []int, elapsed time.Duration) {
	send(p, fleet.HostStarted, results, order...)
	send(p, fleet.HostDone, results, order...)
	p.Finish(results, elapsed)
}

// send sends the event of kind Run sends for each of rs[i], i in idx (all
// of rs when idx is empty); a host that never started gets no HostStarted.
func send(p *Printer, kind fleet.EventKind, rs []fleet.Result, idx ...int) {
	if len(idx) == 0 {
		idx = make([]int, len(rs))
		for i := range idx {
			idx[i] = i
		}
	}
	for _, i := range idx {
		switch {
		case kind == fleet.HostDone:
			p.Event(fleet.Event{Kind: kind, Index: i, Host: rs[i].Host, Result: &rs[i]})
		case rs[i].Outcome != fleet.NotStarted:
			p.Event(fleet.Event{Kind: kind, Index: i, Host: rs[i].Host})
		}
	}
}

// newTest returns a Printer writing into two buffers, with a fixed clock.
func newTest(opts Options) (*Printer, *syncBuf, *syncBuf) {
	out, errb := &syncBuf{}, &syncBuf{}
	opts.Stdout, opts.Stderr = out, errb
	p := New(opts)
	p.now = func() time.Time { return time.Date(2025, 3, 4, 12, 0, 0, 0, time.Local) }
	out.p, errb.p = p, p
	return p, out, errb
}

// syncBuf is a buffer the lanes write into from their goroutines. Reading
// it first waits until the Printer's lanes have written all they hold, so
// that a test sees what was printed so far.
type syncBuf struct {
	p  *Printer
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *syncBuf) String() string {
	if s.p != nil {
		s.p.settle()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuf) Len() int { return len(s.String()) }

// settle waits until the lanes have written everything queued.
func (p *Printer) settle() {
	for _, l := range []*lane{p.out, p.errl} {
		l.mu.Lock()
		for l.size > 0 {
			l.cond.Wait()
		}
		l.mu.Unlock()
	}
}

func TestStatusLines(t *testing.T) {
	const lines = "[1] 10:11:12 [SUCCESS] web1\n" +
		"%s" +
		"[2] 10:11:13 [FAILURE] web2 Exited with error code 5\n" +
		"%s" +
		"[3] 10:11:14 [FAILURE] root@db1:2222 unreachable: connection refused\n" +
		"[4] 10:11:15 [FAILURE] web3 timed out: still running after 5s (-t)\n" +
		"%s" +
		"[5] 10:11:16 [FAILURE] web4 Killed by signal TERM\n" +
		"[6] 12:00:00 [FAILURE] web5 not started\n"
	tests := []struct {
		name              string
		inline, inlineOut bool
		web1, web2, web3  string
	}{
		{"plain", false, false, "", "", ""},
		// pssh writes "partial" and runs the next [N] into it; fleet ends
		// the output, so that every status line starts a line.
		{"inline", true, false, "hello\nStderr: warn\n", "Stderr: boom\n", "partial\n"},
		{"inline-stdout", false, true, "hello\n", "", "partial\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, out, errb := newTest(Options{Inline: tt.inline, InlineStdout: tt.inlineOut, Total: 6})
			play(p, mixed(), nil, 1234*time.Millisecond)
			want := fmt.Sprintf(lines, tt.web1, tt.web2, tt.web3)
			if got := out.String(); got != want {
				t.Errorf("stdout:\n%q\nwant:\n%q", got, want)
			}
			wantErr := "fleet: hint: is sshd running on that port? (root@db1:2222)\n6 hosts: 1 ok, 2 failed, 1 unreachable, 1 timed out, 1 not started (1.2s)\n"
			if got := errb.String(); got != wantErr {
				t.Errorf("stderr = %q, want %q", got, wantErr)
			}
		})
	}
}

// TestStatusColor pins the escape sequences to psshlib/color.py's output
// (generated with python3 and psshlib.color).
func TestStatusColor(t *testing.T) {
	st := style{color: true}
	rs := mixed()
	got := string(st.appendStatus(nil, 1, rs[0].End, &rs[0], true, false, false))
	want := "\x1b[36m\x1b[49m[\x1b[1m1\x1b[22m]\x1b[39m\x1b[49m 10:11:12 \x1b[32m\x1b[49m[\x1b[1mSUCCESS\x1b[22m]\x1b[39m\x1b[49m web1\n" +
		"hello\n\x1b[31m\x1b[49mStderr: \x1b[39m\x1b[49mwarn\n"
	if got != want {
		t.Errorf("ok line:\n%q\nwant\n%q", got, want)
	}
	got = string(st.appendStatus(nil, 2, rs[1].End, &rs[1], false, false, false))
	want = "\x1b[36m\x1b[49m[\x1b[1m2\x1b[22m]\x1b[39m\x1b[49m 10:11:13 " +
		"\x1b[31m\x1b[49m[\x1b[1mFAILURE\x1b[22m]\x1b[39m\x1b[49m web2 \x1b[31m\x1b[49m\x1b[1mExited with error code 5\x1b[22m\x1b[39m\x1b[49m\n"
	if got != want {
		t.Errorf("failure line:\n%q\nwant\n%q", got, want)
	}
}

// TestReasons: what a [FAILURE] line (pssh's wording) and a --gather
// header say of each way a host can end.
func TestReasons(t *testing.T) {
	panicked := res(0, "h", &fleet.Error{Kind: fleet.ErrUnreachable, Reason: "internal error: boom\ngoroutine 1 [running]:"}, "", "", at(0))
	noCommand := res(0, "h", nil, "", "", at(0))
	noCommand.ExitCode = -1 // a task that runs no command (copy)
	tests := []struct {
		r            fleet.Result
		pssh, gather string
	}{
		{res(0, "h", nil, "", "", at(0)), "ok", "exit 0"},
		{noCommand, "ok", "ok"},
		{res(0, "h", &fleet.ExitError{Status: 3}, "", "", at(0)), "Exited with error code 3", "exit 3"},
		{res(0, "h", &fleet.ExitError{Status: 255}, "", "", at(0)), "Exited with error code 255", "exit 255"},
		{res(0, "h", &fleet.ExitError{Status: 137, Signal: "KILL"}, "", "", at(0)), "Killed by signal KILL", "killed by signal KILL"},
		{res(0, "h", &fleet.ExitError{Status: 143, Signal: "TERM"}, "", "", at(0)), "Killed by signal TERM", "killed by signal TERM"},
		{res(0, "h", errRefused(), "", "", at(0)), "unreachable: connection refused", "unreachable: connection refused"},
		{res(0, "h", errTimeout(), "", "", at(0)), "timed out: still running after 5s (-t)", "timed out: still running after 5s (-t)"},
		{notStarted(0, "h"), "not started", "not started"},
		{panicked, "unreachable: internal error: boom", "unreachable: internal error: boom"},
	}
	for _, tt := range tests {
		if got := psshReason(&tt.r); got != tt.pssh {
			t.Errorf("psshReason(%v) = %q, want %q", tt.r.Err, got, tt.pssh)
		}
		if got := gatherStatus(&tt.r); got != tt.gather {
			t.Errorf("gatherStatus(%v) = %q, want %q", tt.r.Err, got, tt.gather)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	tests := []struct {
		results []fleet.Result
		elapsed time.Duration
		want    string
	}{
		{nil, 0, "0 hosts: 0 ok (0s)"},
		{mixed()[:1], 42 * time.Millisecond, "1 host: 1 ok (42ms)"},
		{mixed()[1:3], 2340 * time.Millisecond, "2 hosts: 0 ok, 1 failed, 1 unreachable (2.3s)"},
		{[]fleet.Result{{Outcome: fleet.Cancelled}}, 61 * time.Second, "1 host: 0 ok, 1 cancelled (1m1s)"},
	}
	for _, tt := range tests {
		if got := summaryLine(tt.results, tt.elapsed, false); got != tt.want {
			t.Errorf("summaryLine = %q, want %q", got, tt.want)
		}
	}
}

func TestShowChanged(t *testing.T) {
	var st style
	r := fleet.Result{Outcome: fleet.OK, Changed: true, Host: inventory.Host{Name: "a", Label: "a"}}
	if got := string(st.appendStatus(nil, 1, time.Time{}, &r, false, false, true)); !strings.HasSuffix(got, "[SUCCESS] a changed\n") {
		t.Errorf("got %q", got)
	}
	r.Changed = false
	if got := string(st.appendStatus(nil, 1, time.Time{}, &r, false, false, true)); !strings.HasSuffix(got, "[SUCCESS] a unchanged\n") {
		t.Errorf("got %q", got)
	}
	if got := summaryLine([]fleet.Result{r, {Outcome: fleet.OK, Changed: true}}, time.Second, true); !strings.HasPrefix(got, "2 hosts: 2 ok, 1 changed") {
		t.Errorf("summary %q", got)
	}
	if got := formatBytes(1_500_000); got != "1.5 MB" {
		t.Errorf("formatBytes = %q", got)
	}
}

func TestHintsWhenNotOnATerminal(t *testing.T) {
	var out, errb bytes.Buffer
	p := New(Options{Stdout: &out, Stderr: &errb, Total: 3})
	hint := &fleet.Error{Kind: fleet.ErrAuth, Reason: "x", Hint: "use -S"}
	results := []fleet.Result{
		{Index: 0, Outcome: fleet.Unreachable, Err: hint, Host: inventory.Host{Name: "node1", Label: "node1"}},
		{Index: 1, Outcome: fleet.OK, Host: inventory.Host{Name: "node2", Label: "node2"}},
		{Index: 2, Outcome: fleet.Unreachable, Err: hint, Host: inventory.Host{Name: "node3", Label: "node3"}},
	}
	p.Finish(results, time.Second)
	if !strings.Contains(errb.String(), "fleet: hint: use -S (node[1,3])\n") {
		t.Fatalf("stderr %q", errb.String())
	}
}
