package sshtest

import (
	"context"
	"io"
	"sync"
)

// ExecRequest is one command for an ExecHandler, with what sshd would give
// the user's shell.
type ExecRequest struct {
	// Command is the exec request's command line; "" for a "shell"
	// request, whose commands then arrive on Stdin.
	Command string
	// User is the login name the client authenticated as.
	User string
	// Env is the environment a real command would get (see Config.Env).
	Env []string
	// Dir is the working directory: Config.Home.
	Dir string
	// PTY says a pty was requested; Stderr then writes to stdout too.
	PTY bool
	// Stdin reads the client's data up to its EOF.
	Stdin io.Reader
	// Stdout and Stderr write to the channel and its stderr stream.
	Stdout, Stderr io.Writer
}

// An ExecHandler runs one command in place of "/bin/sh -c COMMAND" and
// returns its exit status, sent as "exit-status" once it returns. ctx is
// cancelled when the client sends a "signal" request (the exit is then
// reported as "exit-signal" with that name, as a killed process's would
// be), when a pty session's channel closes (SIGHUP), and when the server
// closes; the handler must return soon after. It runs in its own
// goroutine, and everything it wrote is on the channel when it returns.
type ExecHandler func(ctx context.Context, req *ExecRequest) (status int)

// handlerRun is a command run by Config.Exec: its context, and the signal
// that cancelled it, if one did.
type handlerRun struct {
	ctx    context.Context
	stop   context.CancelFunc
	mu     sync.Mutex
	signal string // RFC name of the signal that ended it; "" if none
}

// cancel ends the command's context; sig, if not nil, names the signal to
// report. The first signal wins, as the first one kills a process.
func (h *handlerRun) cancel(sig *string) {
	h.mu.Lock()
	if sig != nil && h.signal == "" && h.ctx.Err() == nil {
		h.signal = *sig
	}
	h.mu.Unlock()
	h.stop()
}

// signalled returns the signal that ended the command, or "".
func (h *handlerRun) signalled() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.signal
}

// startHandler runs command through Config.Exec, with the order of events
// a real command has: banner, reply, output, EOF, exit status, close.
func (s *session) startHandler(command string) bool {
	srv := s.srv
	ctx, stop := context.WithCancel(context.Background())
	h := &handlerRun{ctx: ctx, stop: stop}
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		stop()
		return false
	}
	srv.execs[h] = struct{}{}
	srv.mu.Unlock()

	req := &ExecRequest{Command: command, User: s.sc.user, Env: s.environ(), Dir: srv.home,
		PTY: s.pty != nil, Stdin: s.ch, Stdout: s.ch, Stderr: s.ch.Stderr()}
	if s.pty != nil {
		req.Stderr = s.ch
	}
	s.started, s.run = true, h
	s.refs.Add(1)
	replied := make(chan struct{})
	s.afterReply = func() { close(replied) }
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		defer s.unref()
		s.writeBanner()
		status := srv.cfg.Exec(ctx, req)
		sig := h.signalled()
		stop()
		srv.mu.Lock()
		delete(srv.execs, h)
		srv.mu.Unlock()
		<-replied
		_ = s.ch.CloseWrite()
		s.sendExit(status, sig, false)
	}()
	return true
}
