package ui

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// TestUnreadOutputBlocksNoHost: stdout is a pipe nobody reads (a writer
// that blocks until released). Hosts printing -P lines far past the lane's
// limit, a Notice (Ctrl-C) and every event go on at once; the lines past
// the limit are dropped and a mark says how many; the status lines, made
// from the events, are all printed once the reader reads. With the old
// Printer the first blocked write held the lock that every -P line and
// every Notice needed.
func TestUnreadOutputBlocksNoHost(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	var errb syncBuf
	p := New(Options{Stdout: w, Stderr: &errb, Print: true, Total: 20})
	const hosts, lines = 20, 1000
	line := strings.Repeat("x", 1000) + "\n"
	within(t, 10*time.Second, "hosts writing -P lines were held up by a reader that does not read", func() {
		var wg sync.WaitGroup
		for h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lw := p.LineWriter(h, "h"+strconv.Itoa(h), false)
				for range lines {
					_, _ = lw.Write([]byte(line))
				}
				lw.Flush()
			}()
		}
		wg.Wait()
		p.Notice("fleet: interrupted")
	})
	results := make([]fleet.Result, hosts)
	for i := range results {
		results[i] = res(i, "h"+strconv.Itoa(i), nil, "", "", at(i))
		p.Event(fleet.Event{Kind: fleet.HostStarted, Index: i, Host: results[i].Host})
		p.Event(fleet.Event{Kind: fleet.HostDone, Index: i, Host: results[i].Host, Result: &results[i]})
	}
	if !eventually(func() bool { return strings.Contains(errb.String(), "fleet: interrupted\n") }) {
		t.Errorf("the notice is not out while stdout is blocked: %q", errb.String())
	}
	finished := make(chan struct{})
	go func() { p.Finish(results, time.Second); close(finished) }()
	select {
	case <-finished:
		t.Fatal("Finish returned before the output was written")
	case <-time.After(200 * time.Millisecond):
	}
	close(w.release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("Finish hangs after the reader read")
	}
	w.mu.Lock()
	out := w.buf.String()
	w.mu.Unlock()
	shown := strings.Count(out, ": "+line)
	m := regexp.MustCompile(`fleet: (\d+) lines of output not shown here`).FindAllStringSubmatch(out, -1)
	dropped := 0
	for _, s := range m {
		n, _ := strconv.Atoi(s[1])
		dropped += n
	}
	if shown+dropped != hosts*lines || dropped == 0 {
		t.Errorf("%d lines shown, %d marked dropped; want %d in all, some dropped", shown, dropped, hosts*lines)
	}
	if shown*len(line) > 2*laneLimit {
		t.Errorf("%d lines (%d bytes) were kept for a reader that did not read; the limit is %d", shown, shown*len(line), laneLimit)
	}
	if got := strings.Count(out, "[SUCCESS] h"); got != hosts {
		t.Errorf("%d status lines, want %d", got, hosts)
	}
}

// TestAbortEndsTheWait: a second Ctrl-C (Abort) makes Finish return
// although nobody ever reads.
func TestAbortEndsTheWait(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	defer close(w.release)
	p := New(Options{Stdout: w, Stderr: w, Total: 1})
	r := res(0, "h", nil, "", "", at(0))
	p.Event(fleet.Event{Kind: fleet.HostDone, Index: 0, Host: r.Host, Result: &r})
	finished := make(chan struct{})
	go func() { p.Finish([]fleet.Result{r}, time.Second); close(finished) }()
	time.Sleep(100 * time.Millisecond)
	p.Abort()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Finish still waits after Abort")
	}
}

// TestBrokenPipeDiscards: a write that fails (EPIPE: the reader went away)
// ends the writing; Finish does not wait for what can never be written.
func TestBrokenPipeDiscards(t *testing.T) {
	p := New(Options{Stdout: failWriter{}, Total: 3, Inline: true})
	rs := mixed()[:3]
	within(t, 5*time.Second, "Finish hangs on a broken pipe", func() { play(p, rs, nil, time.Second) })
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

var errBroken = &fleet.Error{Reason: "broken pipe"}

// TestAbortKeepsOutputThatIsRead: a second Ctrl-C while the output is
// read (a terminal) loses none of it: the status lines and the summary
// are all written. (Abort discarding the queue lost them.)
func TestAbortKeepsOutputThatIsRead(t *testing.T) {
	p, out, errb := newTest(Options{Total: 50})
	rs := make([]fleet.Result, 50)
	for i := range rs {
		rs[i] = res(i, "h"+strconv.Itoa(i), nil, "", "", at(i))
		p.Event(fleet.Event{Kind: fleet.HostDone, Index: i, Host: rs[i].Host, Result: &rs[i]})
	}
	p.Abort()
	p.Finish(rs, time.Second)
	if n := strings.Count(out.String(), "[SUCCESS]"); n != 50 {
		t.Errorf("%d status lines after Abort, want 50", n)
	}
	if !strings.Contains(errb.String(), "50 hosts: 50 ok") {
		t.Errorf("no summary after Abort: %q", errb.String())
	}
}
