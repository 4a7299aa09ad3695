// Package ui renders a fleet run for people and for scripts: pssh-style
// status lines as hosts finish, one progress bar on a terminal, streamed
// "label: line" output (-P), one JSON object a line (--json), gathered
// output of identical hosts (--gather) and the one-line summary at the end.
//
// Everything a run prints goes through one [Printer]. Events arrive from
// many worker goroutines, but only one drawing goroutine (plus LineWriter
// output, which takes the same lock) puts output in order into the lanes
// that write it, so host output, status lines and the bar never tear each
// other apart, and a reader that stops reading holds up no host.
package ui

import (
	"cmp"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// Options says how to render a run.
type Options struct {
	Stdout, Stderr io.Writer
	// Terminal: the run's text goes to a terminal (Stdout, or Stderr under
	// --json) and a progress line can be drawn on Stderr. The line is
	// drawn while the run goes and the results are listed at the end,
	// failures last; with Inline each host's block is printed as it
	// finishes. When false the text is pssh's stream of status lines.
	Terminal bool
	// Bar draws the progress line on Stderr in pssh's mode too (Stdout is
	// a file, Stderr a terminal). Terminal implies it. When neither is set
	// no \r frame is ever written: logs and pipes get plain lines.
	Bar bool
	// Width, when set, is the terminal's width in columns, asked at each
	// redraw (0: unknown, 80 is assumed); the Printer also redraws at once
	// on SIGWINCH. Unset: 80.
	Width func() int
	// Color allows ANSI colour; the caller has already applied NO_COLOR,
	// TERM=dumb and isatty.
	Color bool
	// Inline (-i): after each host's status line, its stdout, then
	// "Stderr: " and its stderr, as pssh prints them.
	Inline bool
	// InlineStdout (--inline-stdout): only the stdout, as pssh.
	InlineStdout bool
	// Print (-P): output is streamed as "label: line" through LineWriter.
	Print bool
	// JSON (--json): one JSON object a line per host on Stdout as it
	// finishes. Nothing else goes to Stdout: text that would (status lines,
	// the listing, gathered output, -P stdout lines) goes to Stderr.
	JSON bool
	// Gather (--gather): after the run, hosts with identical output, exit
	// code and outcome are shown once under a folded host list.
	Gather bool
	// Total is the number of hosts, the bar's maximum.
	Total int
	// Verb is what the bar says the run does, e.g. "run".
	Verb string
	// ShowChanged adds "changed" or "unchanged" to each successful host
	// (copy, provision) and the count of changed hosts to the summary.
	ShowChanged bool
	// TotalBytes, when > 0, is what a transfer sends in all; the bar
	// counts bytes (AddBytes) as well as hosts.
	TotalBytes int64
	// StdoutEscapes and StderrEscapes say what is done with control
	// characters in the hosts' text (output, failure reasons, labels)
	// printed on each stream: the caller sets Replace or Color for a
	// terminal (OnTerminal) and leaves Raw, the zero value, for a pipe or
	// a file. fleet's own colours are not affected.
	StdoutEscapes, StderrEscapes Escapes
}

// barTick is how often the progress line (counts, elapsed time, width) is
// redrawn. Redrawing from a ticker rather than per event keeps a run of
// thousands of fast hosts from redrawing the terminal thousands of times.
const barTick = 200 * time.Millisecond

// eraseLine returns to the start of the row and erases it: the progress
// line is never wider than the row, so this removes all of it.
const eraseLine = "\r\x1b[K"

// Printer renders one run. Create it with New, feed it events with Event
// (from any goroutine) and end it with Finish, which must be called: it
// stops the drawing goroutine.
//
// Nothing the Printer does waits for its output to be read, except the
// drawing goroutine and Finish: all writes go through lanes (see lane),
// so a full pipe or a terminal scrolled back holds up neither the hosts
// nor Ctrl-C. Status lines, -i blocks and JSON are made from the events
// when their lane has room, so waiting costs no memory past the results
// the run keeps anyway; -P lines are dropped past the lane's limit, with a
// mark, since the run record has them.
type Printer struct {
	opts  Options
	style style
	now   func() time.Time // the clock for hosts that never ended; tests replace it

	// qmu guards the event queue. Event only appends and pokes wake, so a
	// worker is never held up by a slow terminal or a full pipe.
	qmu    sync.Mutex
	queue  []fleet.Event
	closed bool // Finish has begun; later events are dropped
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	finish sync.Once
	winch  chan os.Signal // SIGWINCH, when the width is known

	// out and errl write Stdout and Stderr: one lane when they are one
	// file, so that the bar is cleared and redrawn around every line.
	out, errl *lane

	// mu guards the bar and orders what is put into the lanes: output
	// printed above the bar must clear and redraw it in one chunk.
	mu    sync.Mutex
	bar   *barLine // nil when no bar is drawn, or after Finish
	frame string   // the progress line as last drawn, with its \r
	after []string // lines printed after the summary (After)
	bytes atomic.Int64

	// State owned by the drawing goroutine.
	ended   int // hosts finished so far: pssh's [N]
	ok      int
	failed  int
	running int
	seq     int
	started map[int]startedHost
}

// startedHost is a running host, for the names on the bar.
type startedHost struct {
	seq   int
	label string
}

// New returns a Printer and starts its drawing goroutine.
func New(opts Options) *Printer {
	opts.Stdout, opts.Stderr = cmp.Or(opts.Stdout, io.Discard), cmp.Or(opts.Stderr, io.Discard)
	textEsc := opts.StdoutEscapes
	if opts.JSON {
		textEsc = opts.StderrEscapes // text goes to Stderr: see textLane
	}
	p := &Printer{
		opts:    opts,
		style:   style{color: opts.Color, esc: textEsc},
		now:     time.Now,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		started: make(map[int]startedHost),
		out:     newLane(opts.Stdout),
	}
	p.errl = p.out
	if !sameFile(opts.Stdout, opts.Stderr) {
		p.errl = newLane(opts.Stderr)
	}
	if (opts.Terminal || opts.Bar) && opts.Total > 0 {
		p.bar = newBarLine(opts.Total)
		if opts.Width != nil {
			p.winch = make(chan os.Signal, 1)
			signal.Notify(p.winch, syscall.SIGWINCH)
		}
	}
	go p.loop()
	return p
}

// Event takes one event from any goroutine. It only queues it: the drawing
// goroutine prints it. Events after Finish are dropped.
func (p *Printer) Event(ev fleet.Event) {
	p.qmu.Lock()
	if p.closed {
		p.qmu.Unlock()
		return
	}
	p.queue = append(p.queue, ev)
	p.qmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // already poked; the loop will take the whole queue
	}
}

// loop is the drawing goroutine.
func (p *Printer) loop() {
	defer close(p.done)
	var tick <-chan time.Time
	if p.bar != nil {
		t := time.NewTicker(barTick)
		defer t.Stop()
		tick = t.C
		p.redraw(false)
	}
	for {
		select {
		case <-p.wake:
			p.drain()
		case <-tick:
			p.redraw(false)
		case <-p.winch:
			p.redraw(true)
		case <-p.stop:
			p.drain()
			return
		}
	}
}

// drain handles every queued event, oldest first.
func (p *Printer) drain() {
	p.qmu.Lock()
	evs := p.queue
	p.queue = nil
	p.qmu.Unlock()
	for _, ev := range evs {
		p.handle(ev)
	}
}

// handle prints what one event calls for; it runs on the drawing goroutine.
func (p *Printer) handle(ev fleet.Event) {
	switch ev.Kind {
	case fleet.HostStarted:
		p.seq++
		p.started[ev.Index] = startedHost{seq: p.seq, label: CleanString(hostLabel(ev.Host), p.opts.StderrEscapes)}
		p.running++
		return
	case fleet.HostDone:
	default:
		return
	}
	r := ev.Result
	if r == nil {
		return
	}
	if _, ok := p.started[ev.Index]; ok {
		delete(p.started, ev.Index)
		p.running--
	}
	p.ended++
	if r.Outcome == fleet.OK {
		p.ok++
	} else {
		p.failed++
	}

	var out []byte
	if p.opts.JSON {
		out = appendJSON(nil, r)
	}
	var status []byte
	if !p.opts.Terminal || p.streamsBlocks() {
		// With --json the status lines still tell a log what happened, but
		// on Stderr and without the output the JSON already carries.
		inline, inlineStdout := p.opts.Inline && !p.opts.JSON, p.opts.InlineStdout && !p.opts.JSON
		status = p.style.appendStatus(nil, p.ended, p.endTime(r), r, inline, inlineStdout, p.opts.ShowChanged)
	}

	// Wait for room without the lock: LineWriter and Notice go on.
	p.out.waitRoom(len(out))
	p.textLane().waitRoom(len(status))
	counts := p.counts()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.add(1)
		if p.frame != "" && (len(out) > 0 && p.out == p.errl || len(status) > 0 && p.textLane() == p.errl) {
			// Output above the bar draws it again: with this host counted.
			p.frame = p.renderFrame(counts)
		}
	}
	p.writeLocked(p.out, out)
	p.writeLocked(p.textLane(), status)
}

// streamsBlocks: -i at a terminal prints each host's block as it
// finishes, in pssh's order, instead of all of them at the end.
func (p *Printer) streamsBlocks() bool {
	return p.opts.Terminal && (p.opts.Inline || p.opts.InlineStdout) && !p.opts.JSON
}

// endTime is when a host ended; a host that never started has no End and
// is stamped with the time it is reported, as pssh stamps every line.
func (p *Printer) endTime(r *fleet.Result) time.Time {
	if r.End.IsZero() {
		return p.now()
	}
	return r.End
}

// textLane is where human-readable text that would go to Stdout goes:
// Stderr under --json, so that Stdout stays parseable.
func (p *Printer) textLane() *lane {
	if p.opts.JSON {
		return p.errl
	}
	return p.out
}

// writeLocked puts data into l above the bar: when l is the bar's lane,
// the bar is erased before the data and drawn again after it, in one
// chunk, so nothing comes between. Called with mu held.
func (p *Printer) writeLocked(l *lane, data []byte) {
	if len(data) == 0 {
		return
	}
	if p.bar == nil || l != p.errl || p.frame == "" {
		l.put(data)
		return
	}
	chunk := make([]byte, 0, len(eraseLine)+len(data)+len(p.frame))
	chunk = append(append(append(chunk, eraseLine...), data...), p.frame...)
	l.put(chunk)
}

// Abort stops the waiting for the output to be read, for a second Ctrl-C
// when the reader of a pipe does not read: the drawing goroutine no longer
// waits for room, and Finish waits at most half a second more for what is
// left to be written. Output that is read goes on being written. Safe from
// any goroutine.
func (p *Printer) Abort() {
	p.out.abort()
	p.errl.abort()
}
