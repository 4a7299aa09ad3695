// Package ui renders a fleet run for people and for scripts: pssh-style
// status lines as hosts finish, one progress bar on a terminal, streamed
// "label: line" output (-P), one JSON object a line (--json), gathered
// output of identical hosts (--gather) and the one-line summary at the end.
//
// Everything a run prints goes through one [Printer]. Events arrive from
// many worker goroutines, but only one drawing goroutine (plus LineWriter
// output, which takes the same lock) writes to the terminal, so host
// output, status lines and the bar never tear each other apart.
package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/fleet-sh/fleet/fleet"
)

// Options says how to render a run.
type Options struct {
	Stdout, Stderr io.Writer
	// Terminal: Stderr is a terminal. Draw one progress bar on Stderr while
	// the run goes, and list the results at the end (failures last). When
	// false no \r frame is ever written: logs and pipes get plain lines.
	Terminal bool
	// Color allows ANSI colour; the caller has already applied NO_COLOR and
	// isatty.
	Color bool
	// Inline (-i): after each host's status line, its stdout, then
	// "Stderr: " and its stderr, exactly as pssh prints them.
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

// barTick is how often the bar's description (counts, elapsed time) is
// refreshed. Refreshing from a ticker rather than per event keeps a run of
// thousands of fast hosts from redrawing the terminal thousands of times.
const barTick = 200 * time.Millisecond

// Printer renders one run. Create it with New, feed it events with Event
// (from any goroutine) and end it with Finish, which must be called: it
// stops the drawing goroutine.
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

	// mu guards every write to Stdout and Stderr and every use of the bar:
	// progressbar's Clear takes no lock of its own, and output printed
	// above the bar must clear and redraw it atomically.
	mu     sync.Mutex
	bar    *progressbar.ProgressBar // nil when not on a terminal, or after Finish
	bytes  atomic.Int64             // bytes sent so far (AddBytes)
	barOut *countingWriter          // tells whether a RenderBlank really drew

	// State owned by the drawing goroutine.
	ended   int // hosts finished so far: pssh's [N]
	ok      int
	failed  int
	running int
	started map[int]bool
}

// New returns a Printer and starts its drawing goroutine.
func New(opts Options) *Printer {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	textEsc := opts.StdoutEscapes
	if opts.JSON {
		textEsc = opts.StderrEscapes // text goes to Stderr: see textOut
	}
	p := &Printer{
		opts:    opts,
		style:   style{color: opts.Color, esc: textEsc},
		now:     time.Now,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		started: make(map[int]bool),
	}
	if opts.Terminal && opts.Total > 0 {
		p.barOut = &countingWriter{w: opts.Stderr}
		p.bar = progressbar.NewOptions(opts.Total,
			progressbar.OptionSetWriter(p.barOut),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetDescription(p.describe()),
		)
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
		p.mu.Lock()
		_ = p.bar.RenderBlank()
		p.mu.Unlock()
	}
	for {
		select {
		case <-p.wake:
			p.drain()
		case <-tick:
			p.mu.Lock()
			if p.barVisible() {
				p.bar.Describe(p.describe())
			}
			p.mu.Unlock()
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
		p.started[ev.Index] = true
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
	if p.started[ev.Index] {
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
	if !p.opts.Terminal {
		// With --json the status lines still tell a log what happened, but
		// on Stderr and without the output the JSON already carries.
		inline, inlineStdout := p.opts.Inline, p.opts.InlineStdout
		if p.opts.JSON {
			inline, inlineStdout = false, false
		}
		status = p.style.appendStatus(nil, p.ended, p.endTime(r), r, inline, inlineStdout, p.opts.ShowChanged)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(out) > 0 {
		p.writeLocked(p.opts.Stdout, out)
	}
	if len(status) > 0 {
		p.writeLocked(p.textOut(), status)
	}
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

// endTime is when a host ended; a host that never started has no End and
// is stamped with the time it is reported, as pssh stamps every line.
func (p *Printer) endTime(r *fleet.Result) time.Time {
	if r.End.IsZero() {
		return p.now()
	}
	return r.End
}

// describe is the bar's description, e.g. "run  ok 10  failed 1  running 5".
func (p *Printer) describe() string {
	verb := p.opts.Verb
	if verb == "" {
		verb = "run"
	}
	d := fmt.Sprintf("%s  ok %d  failed %d  running %d ", verb, p.ok, p.failed, p.running)
	if p.opts.TotalBytes > 0 {
		d += fmt.Sprintf(" %s/%s ", formatBytes(p.bytes.Load()), formatBytes(p.opts.TotalBytes))
	}
	return d
}

// AddBytes counts bytes sent, for the bar; safe from any goroutine.
func (p *Printer) AddBytes(n int64) { p.bytes.Add(n) }

// formatBytes writes a byte count the way people read it: 512 B, 1.5 MB.
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTP"[exp])
}

// textOut is where human-readable text that would go to Stdout goes:
// Stderr under --json, so that Stdout stays parseable.
func (p *Printer) textOut() io.Writer {
	if p.opts.JSON {
		return p.opts.Stderr
	}
	return p.opts.Stdout
}

// barVisible reports whether the bar is on screen. Called with mu held.
func (p *Printer) barVisible() bool {
	return p.bar != nil && !p.bar.IsFinished()
}

// writeLocked writes data to w above the bar: clear the bar, write, draw
// it again. Called with mu held. Write errors are ignored: a closed pipe
// must not stop the run, and the results are returned to the caller anyway.
func (p *Printer) writeLocked(w io.Writer, data []byte) {
	if !p.barVisible() {
		_, _ = w.Write(data)
		return
	}
	_ = p.bar.Clear()
	_, _ = w.Write(data)
	before := p.barOut.n
	_ = p.bar.RenderBlank()
	if p.barOut.n == before {
		// The throttle swallowed the redraw; without this the bar would
		// stay invisible while -P lines arrive faster than the throttle.
		_, _ = io.WriteString(p.barOut, p.bar.String())
	}
}

// Finish stops the drawing goroutine after it has printed every queued
// event, removes the bar and prints the end of the run: on a terminal the
// per-host listing (OK hosts first, failures last with their reasons and
// hints); the gathered output with Gather; and always the summary line on
// Stderr. Only the first call prints.
func (p *Printer) Finish(results []fleet.Result, elapsed time.Duration) {
	p.finish.Do(func() {
		p.qmu.Lock()
		p.closed = true
		p.qmu.Unlock()
		close(p.stop)
		<-p.done

		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bar != nil {
			if p.barVisible() {
				_ = p.bar.Clear()
			}
			_ = p.bar.Exit()
			p.bar = nil // LineWriter output after Finish must not redraw it
		}
		var text []byte
		if p.opts.Terminal {
			text = p.appendListing(text, results)
		}
		if p.opts.Gather {
			text = appendGather(text, results, p.style.esc)
		}
		if len(text) > 0 {
			_, _ = p.textOut().Write(text)
		}
		if !p.opts.Terminal {
			// The status lines keep pssh's format, so the next steps come
			// here, once per hint, with the hosts it concerns.
			_, _ = p.opts.Stderr.Write(appendHints(nil, results, p.opts.StderrEscapes))
		}
		_, _ = io.WriteString(p.opts.Stderr, summaryLine(results, elapsed, p.opts.ShowChanged)+"\n")
	})
}

// appendHints appends one "fleet: hint: ..." line per distinct hint, with
// the folded list of the hosts it applies to.
func appendHints(b []byte, results []fleet.Result, esc Escapes) []byte {
	var order []string
	hosts := map[string][]string{}
	for i := range results {
		h := fleet.Hint(results[i].Err)
		if h == "" {
			continue
		}
		if _, ok := hosts[h]; !ok {
			order = append(order, h)
		}
		hosts[h] = append(hosts[h], CleanString(hostLabel(results[i].Host), esc))
	}
	for _, h := range order {
		b = fmt.Appendf(b, "fleet: hint: %s (%s)\n", h, Fold(hosts[h]))
	}
	return b
}

// summaryLine is "12 hosts: 10 ok, 1 failed, 1 unreachable (2.3s)": zero
// counts are left out, except ok, so the line always says how many worked.
func summaryLine(results []fleet.Result, elapsed time.Duration, showChanged bool) string {
	s := fleet.Summarize(results)
	var b strings.Builder
	noun := "hosts"
	if len(results) == 1 {
		noun = "host"
	}
	fmt.Fprintf(&b, "%d %s: %d ok", len(results), noun, s[fleet.OK])
	if showChanged {
		changed := 0
		for i := range results {
			if results[i].Outcome == fleet.OK && results[i].Changed {
				changed++
			}
		}
		fmt.Fprintf(&b, ", %d changed", changed)
	}
	for o := fleet.Failed; o <= fleet.NotStarted; o++ {
		if s[o] > 0 {
			fmt.Fprintf(&b, ", %d %s", s[o], summaryName(o))
		}
	}
	fmt.Fprintf(&b, " (%s)", formatElapsed(elapsed))
	return b.String()
}

// summaryName is the summary's word for an outcome: Outcome.String is made
// for machines ("timeout", "not-started"), this for people.
func summaryName(o fleet.Outcome) string {
	switch o {
	case fleet.TimedOut:
		return "timed out"
	case fleet.NotStarted:
		return "not started"
	}
	return o.String()
}

// formatElapsed rounds to what a person reads: milliseconds under a second,
// tenths of a second above.
func formatElapsed(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// countingWriter counts the writes the bar makes, so writeLocked can tell
// whether RenderBlank drew anything. Only used with Printer.mu held.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.n++
	return c.w.Write(b)
}
