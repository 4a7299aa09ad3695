package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// interrupts turns Ctrl-C and SIGTERM into cancellation in two stages, as
// pdsh and clush do: the first cancels ctx (start no more hosts, kill the
// running commands, report); a second Ctrl-C calls hard, which must make
// the run end at once, with a context that bounds how long it may wait for
// the first Ctrl-C's kills to reach the hosts (killStartWait). SIGTERM counts as one Ctrl-C, and so do SIGHUP (the
// terminal closed) and SIGPIPE (`fleet run ... | head -1`: the reader of
// our output went away): left to their default, they would kill fleet
// with its remote commands still running and its record unfinished.
// Asking for SIGPIPE also makes a write to the closed pipe fail with EPIPE
// instead of ending the process (os/signal), so the run can wind down.
// But once asked for, SIGPIPE comes for a write to any broken pipe, not
// only our output: a ProxyCommand that exited before the SSH banner was
// written to it stopped the whole run with 141. So a SIGPIPE stops the run
// only when our own stdout or stderr has lost its reader (outputGone); the
// write that raised any other gets EPIPE and fails its host alone.
type interrupts struct {
	count atomic.Int32
	first atomic.Int32 // SIGHUP or SIGPIPE when one came first, for the exit status
	stop  func()
}

// stopSignals are the signals that stop a run.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// killStartWait bounds how long the second Ctrl-C waits for running
// commands to end or have their kills reach the hosts before it cuts the
// connections (see fleet.Dialer.CloseAll): cut sooner, the commands would
// run on.
const killStartWait = time.Second

// errInterrupted is the cause of a context cancelled by a signal.
var errInterrupted = fmt.Errorf("interrupted")

func watchInterrupts(ctx context.Context, notice func(string), hard func(context.Context), outputs ...io.Writer) (context.Context, *interrupts) {
	ctx, cancel := context.WithCancelCause(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
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
				if sig == syscall.SIGPIPE && !outputGone(outputs) {
					continue
				}
				n := in.count.Add(1)
				if n == 1 {
					if sig == syscall.SIGHUP || sig == syscall.SIGPIPE {
						in.first.Store(int32(sig.(syscall.Signal)))
					}
					// Cancel first: the notice must never be what holds
					// the stop up (it does not wait for the output to be
					// read, but nothing here should depend on that).
					cancel(errInterrupted)
					notice(fmt.Sprintf("fleet: %s: stopping; killing the running commands (Ctrl-C again to quit at once)", sigName(sig)))
				} else if sig == os.Interrupt {
					notice("fleet: quitting")
					hctx, cancel := context.WithTimeout(context.Background(), killStartWait)
					hard(hctx)
					cancel()
				}
			}
		}
	}()
	return ctx, in
}

// interrupted reports whether a signal arrived.
func (in *interrupts) interrupted() bool { return in.count.Load() > 0 }

// status is the exit status of a run that a signal stopped, 0 when none
// came: 130 for Ctrl-C and SIGTERM (as documented since the first
// release); 128 plus the signal's number for SIGHUP (129) and SIGPIPE
// (141), as a shell reports a process that the signal killed, so a script
// can tell them apart.
func (in *interrupts) status() int {
	switch n := in.first.Load(); {
	case n > 0:
		return 128 + int(n)
	case in.interrupted():
		return exitInterrupted
	}
	return 0
}

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP (the terminal closed)"
	case syscall.SIGPIPE:
		return "SIGPIPE (nobody reads the output any more)"
	}
	return "interrupted"
}

// outputGone reports whether one of outputs is a pipe or socket whose
// reader has gone (poll says POLLERR or POLLHUP for its write end). An
// output that is not a file (a test's buffer) never loses its reader.
func outputGone(outputs []io.Writer) bool {
	for _, w := range outputs {
		f, ok := w.(*os.File)
		if !ok {
			continue
		}
		rc, err := f.SyscallConn() // not f.Fd(), which would make f blocking
		if err != nil {
			continue
		}
		gone := false
		_ = rc.Control(func(fd uintptr) {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if n, err := unix.Poll(pfd, 0); err == nil && n > 0 {
				gone = pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
			}
		})
		if gone {
			return true
		}
	}
	return false
}
