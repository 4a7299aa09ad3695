package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// interrupts turns Ctrl-C and SIGTERM into cancellation in two stages, as
// pdsh and clush do: the first cancels ctx (start no more hosts, kill the
// running commands, report); a second Ctrl-C calls hard, which must make
// the run end at once. SIGTERM counts as one Ctrl-C.
type interrupts struct {
	count atomic.Int32
	stop  func()
}

// errInterrupted is the cause of a context cancelled by a signal.
var errInterrupted = fmt.Errorf("interrupted")

func watchInterrupts(ctx context.Context, notice func(string), hard func()) (context.Context, *interrupts) {
	ctx, cancel := context.WithCancelCause(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	in := &interrupts{}
	in.stop = func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				n := in.count.Add(1)
				if n == 1 {
					notice(fmt.Sprintf("fleet: %s: stopping; killing the running commands (Ctrl-C again to quit at once)", sigName(sig)))
					cancel(errInterrupted)
				} else if sig == os.Interrupt {
					notice("fleet: quitting")
					hard()
				}
			}
		}
	}()
	return ctx, in
}

// interrupted reports whether a signal arrived.
func (in *interrupts) interrupted() bool { return in.count.Load() > 0 }

func sigName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "interrupted"
}
