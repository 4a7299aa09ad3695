package fleet

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/fleet-sh/fleet/inventory"
	"golang.org/x/sync/errgroup"
)

// Task is the work done on one connected host. It fills what it learns into
// r (exit code, output, Changed) and returns the error that ended the work,
// nil on success; Run classifies it. ctx carries the host's timeout and the
// run's cancellation, and a Task must honour it.
type Task func(ctx context.Context, c *Conn, r *Result) error

// EventKind says what happened to a host.
type EventKind int

const (
	// HostStarted: a worker took the host and starts dialling.
	HostStarted EventKind = iota
	// HostDone: the host has its final Result.
	HostDone
)

// Event reports progress to the caller. Events of one host arrive in order;
// events of different hosts arrive from different goroutines.
type Event struct {
	Kind   EventKind
	Index  int
	Host   inventory.Host
	Result *Result // set on HostDone; the caller must not modify it
}

// RunOptions controls Run.
type RunOptions struct {
	// Parallel bounds the hosts in flight (a sliding window); <= 0 means 32.
	Parallel int
	// Timeout bounds each host's task, after it is connected; 0 means none.
	Timeout time.Duration
	// OnEvent, when set, is called for every event. It must be quick and
	// safe for concurrent use.
	OnEvent func(Event)
	// MaxFail, when > 0, stops starting new hosts once that many have
	// failed; hosts not started are reported NotStarted. Hosts already in
	// flight finish their work and keep their own outcome: cutting an
	// apt-get or yum install off halfway would leave the host worse off
	// than either finishing or never starting (Ansible's
	// max_fail_percentage lets the running batch finish too).
	MaxFail int
	// DialNote, when set, receives the lines about dialling a host that
	// belong in its log (a ProxyCommand's stderr), with the host's index.
	// It is called from other goroutines, between HostStarted and HostDone.
	DialNote func(index int, line string)
}

// Run dials every host through d and runs task on it, at most
// opts.Parallel at a time. It returns when every host has a result: one
// failing host never stops the others. Cancelling ctx stops starting hosts
// (they end NotStarted) and cancels the running ones (Cancelled); reaching
// opts.MaxFail only stops starting hosts.
func Run(ctx context.Context, d *Dialer, hosts []inventory.Host, opts RunOptions, task Task) []Result {
	par := opts.Parallel
	if par <= 0 {
		par = 32
	}
	results := make([]Result, len(hosts))
	for i, h := range hosts {
		results[i] = Result{Host: h, Index: i, Outcome: NotStarted, ExitCode: -1,
			Err: &Error{Kind: ErrCancelled, Reason: "not started"}}
	}
	// Two contexts: ctx (Ctrl-C, the caller) cancels what runs; startCtx,
	// its child, also ends when --max-fail is reached and only gates the
	// starting of hosts.
	startCtx, stopStarting := context.WithCancel(ctx)
	defer stopStarting()
	var failed atomic.Int64
	// errgroup's limit is the sliding window: a new host starts as soon as
	// any host ends, never in waves.
	var g errgroup.Group
	g.SetLimit(par)
	for i := range hosts {
		// A host takes a handshake slot before its goroutine: hosts queued
		// behind the handshake limit (128 by default) cost nothing while
		// they wait. The loop holds at most one slot while it waits for a
		// place in the window.
		if startCtx.Err() != nil || d.reserveSlot(startCtx) != nil {
			break
		}
		g.Go(func() error {
			if startCtx.Err() != nil { // stopped while waiting: not started
				d.releaseSlot()
				return nil
			}
			r := &results[i]
			runHost(ctx, d, opts, task, r)
			if opts.OnEvent != nil {
				opts.OnEvent(Event{Kind: HostDone, Index: i, Host: r.Host, Result: r})
			}
			if r.Outcome != OK && opts.MaxFail > 0 && failed.Add(1) >= int64(opts.MaxFail) {
				stopStarting()
			}
			return nil
		})
	}
	_ = g.Wait() // tasks report through results, never through the group
	if opts.OnEvent != nil {
		for i := range results {
			if results[i].Outcome == NotStarted {
				opts.OnEvent(Event{Kind: HostDone, Index: i, Host: results[i].Host, Result: &results[i]})
			}
		}
	}
	return results
}

// runHost fills r with the outcome of one host. A panic in a task fails that
// host only.
func runHost(ctx context.Context, d *Dialer, opts RunOptions, task Task, r *Result) {
	r.Start = time.Now()
	r.Err = nil
	d.traceResolved(r.Host) // -v
	r.Host = d.Effective(r.Host)
	if opts.OnEvent != nil {
		opts.OnEvent(Event{Kind: HostStarted, Index: r.Index, Host: r.Host})
	}
	defer func() {
		if p := recover(); p != nil {
			r.Err = fmt.Errorf("internal error: %v\n%s", p, debug.Stack())
		}
		r.End = time.Now()
		r.Outcome = OutcomeOf(r.Err)
		var ee *ExitError
		if errors.As(r.Err, &ee) {
			r.ExitCode = ee.Status
		} else if r.Err == nil {
			r.ExitCode = 0
		}
		d.traceDone(r)
	}()
	dctx := ctx
	if opts.DialNote != nil {
		i := r.Index
		dctx = WithDialNote(ctx, func(line string) { opts.DialNote(i, line) })
	}
	c, err := d.dial(dctx, r.Host, true) // Run reserved its handshake slot
	if err != nil {
		r.Err = classifyDial(ctx, err) // not reached, whatever the error says
		return
	}
	defer c.Close()
	tctx, cancel := ctx, context.CancelFunc(func() {})
	if opts.Timeout > 0 {
		tctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, &Error{Kind: ErrTimeout,
			Reason: fmt.Sprintf("still running after %s (-t)", opts.Timeout)})
	}
	defer cancel()
	r.Err = Classify(tctx, task(tctx, c, r))
}
