package ui

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// laneLimit is how much output one lane holds unwritten before the
// Printer waits (its own output: status lines, -i blocks, JSON) or drops
// (-P lines, which would otherwise hold up the hosts that print them).
// Nothing else bounds what a reader that stops reading makes us keep.
const laneLimit = 8 << 20

// abortGrace is how long Finish still waits, after a second Ctrl-C, for
// output that is being read: long enough for a terminal to take the
// summary, short enough to be "at once" when nobody reads.
const abortGrace = 500 * time.Millisecond

// lane writes one destination's output in order, on a goroutine of its
// own, so that no worker, no signal handler and no lock of the Printer
// ever waits for a terminal scrolled back or a pipe nobody reads. Stdout
// and Stderr share one lane when they are the same file (a terminal, or
// 2>&1), which keeps their lines in the order they were made.
type lane struct {
	w io.Writer

	mu      sync.Mutex
	cond    *sync.Cond // signalled when the queue shrinks or a flag changes
	queue   [][]byte
	size    int  // bytes queued or being written
	dropped int  // -P lines dropped since the last mark
	broken  bool // a write failed (EPIPE): the rest is discarded
	aborted bool // Abort: nobody waits for room any more
	gaveUp  bool // abortGrace after Abort: close does not wait either
	closed  bool
	done    chan struct{}
}

func newLane(w io.Writer) *lane {
	l := &lane{w: w, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	go l.run()
	return l
}

// run is the lane's writer goroutine. Write errors end the writing, never
// the run: the results are in the run record whatever the screen got.
func (l *lane) run() {
	defer close(l.done)
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		for len(l.queue) == 0 && !l.closed {
			l.cond.Wait()
		}
		if len(l.queue) == 0 {
			return
		}
		batch := l.queue
		l.queue = nil
		discard := l.broken
		l.mu.Unlock()
		n := 0
		for _, b := range batch {
			if !discard {
				if _, err := l.w.Write(b); err != nil {
					discard = true
				}
			}
			n += len(b)
		}
		l.mu.Lock()
		l.size -= n
		l.broken = l.broken || discard
		l.cond.Broadcast()
	}
}

// put queues b, whatever the lane holds. Callers bound what they put:
// the Printer waits for room first (waitRoom) or asks admit.
func (l *lane) put(b []byte) {
	if len(b) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken || l.closed {
		return
	}
	l.queue = append(l.queue, b)
	l.size += len(b)
	l.cond.Broadcast()
}

// waitRoom waits until n more bytes fit under laneLimit (or the lane is
// empty, for a chunk larger than the limit), the lane broke or was
// aborted.
func (l *lane) waitRoom(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.size > 0 && l.size+n > laneLimit && !l.broken && !l.aborted {
		l.cond.Wait()
	}
}

// admit says whether n bytes of droppable output (lines lines) may be
// queued now; when not, it counts the lines as dropped. When it admits,
// it also returns how many lines were dropped before, for a mark.
func (l *lane) admit(n, lines int) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+n > laneLimit {
		l.dropped += lines
		return false, 0
	}
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// takeDropped returns the count of lines dropped since the last mark and
// resets it, for the mark at the end of the run.
func (l *lane) takeDropped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.dropped
	l.dropped = 0
	return n
}

// busy reports whether anything is queued or being written.
func (l *lane) busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size > 0
}

// abort is for a second Ctrl-C: fleet must be able to quit although its
// output is not read. Nobody waits for room any more, and close waits
// only abortGrace more for what is queued to be written.
func (l *lane) abort() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.aborted {
		return
	}
	l.aborted = true
	l.cond.Broadcast()
	time.AfterFunc(abortGrace, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.gaveUp = true
		l.cond.Broadcast()
	})
}

// close waits until everything queued is written or the lane broke (or
// abortGrace after abort), and stops the writer goroutine once it is
// idle. A goroutine stuck in a write that nobody reads stays until the
// reader reads or goes away, or the process ends.
func (l *lane) close() {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	for l.size > 0 && !l.broken && !l.gaveUp {
		l.cond.Wait()
	}
	gaveUp := l.gaveUp && l.size > 0
	l.mu.Unlock()
	if !gaveUp {
		<-l.done
	}
}

// droppedMark is the line that stands for -P lines a lane dropped.
func droppedMark(n int) []byte {
	return fmt.Appendf(nil, "fleet: %d lines of output not shown here: they came faster than they were read "+
		"(%d MiB were waiting); the run record has them all (fleet logs)\n", n, laneLimit>>20)
}

// sameFile reports whether two writers are one file: then they share a
// lane, so that their lines stay in order.
func sameFile(a, b io.Writer) bool {
	if a == b {
		return true
	}
	fa, ok := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok || !ok2 {
		return false
	}
	sa, err := fa.Stat()
	sb, err2 := fb.Stat()
	return err == nil && err2 == nil && os.SameFile(sa, sb)
}
