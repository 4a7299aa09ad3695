package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// The endpoints do not start /bin/sh: 5,000 hosts times a dozen commands
// would be tens of thousands of fork+exec on the 2 cores that fleet is
// measured on, and the harness would measure the kernel, not fleet. Instead
// each session's command line runs in mvdan.cc/sh's shell interpreter in
// this process, and the few programs that fleet's wrapper, its long-lived
// remote shells and the scale recipe call are answered in-process, as a
// fresh Debian 12 host would answer them (programs.go). Nothing is ever
// forked, and nothing outside /dev/null is touched: any other program is
// "not found" (127) and anything else the endpoints cannot answer is
// refused loudly (exit 2, "scale-sh: unsupported: ..."), both counted, so
// that a change in what fleet sends shows up as failed hosts and as
// problems in the report, not as faked success.
//
// What differs from a real host: "$$" is the endpoint server's PID in
// every session (nothing here can be killed, see programs.go); only sh -s
// reads the session's input (fleet's other commands read none); and
// command -v looks programs up in the PATH of the machine the endpoints
// run on (fleet asks for setsid, which util-linux has everywhere).

// shellStats count what the endpoints could not answer; all sessions share
// them.
type shellStats struct {
	notFound    atomic.Int64 // programs answered 127
	unsupported atomic.Int64 // commands refused as unsupported
}

// hostShell is the shell of one session: its input, what it made of the
// file system, and the first thing it could not answer.
type hostShell struct {
	stats *shellStats
	input io.Reader // the channel: what sh -s reads when its stdin is not redirected
	fs    fakeFS
	unsup atomic.Pointer[string] // the first "unsupported" message, for the server's log
}

// errUnsupported is a command the endpoints do not answer.
type errUnsupported struct{ what string }

func (e *errUnsupported) Error() string { return "unsupported: " + e.what }

// hostEnv is the environment of a session's shell: root's on a Debian host
// (fleet's commands at scale run through sudo or expect nothing else), and
// no more, because the interpreter copies every variable at every command:
// with fleet's three PSSH_* the map still fits the few slots Go's maps
// start with (three more variables cost a `fleet run` host a quarter more).
var hostEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "SHELL=/bin/sh"}

// parsers are reused: every sh -c needs one, and a new parser's buffers
// were a sixth of what a provisioned host's shell allocated.
var parsers = sync.Pool{New: func() any { return syntax.NewParser() }}

// newHostShell makes a session's shell reading input as sh -s.
func newHostShell(stats *shellStats, input io.Reader) *hostShell {
	return &hostShell{stats: stats, input: input}
}

// run runs an exec request's command line as sshd's sh -c would, and
// returns its exit status.
func (h *hostShell) run(ctx context.Context, line string, out, errw io.Writer) int {
	return h.script(ctx, expand.ListEnviron(hostEnv...), "/", line, "sh", nil, nil, out, errw)
}

// script runs sh -c SCRIPT NAME ARGS...: a new process whose $0 is name,
// whose positional parameters are params, in dir with env.
func (h *hostShell) script(ctx context.Context, env expand.Environ, dir, script, name string, params []string,
	stdin *os.File, out, errw io.Writer) int {
	p := parsers.Get().(*syntax.Parser)
	prog, err := p.Parse(strings.NewReader(script), name)
	parsers.Put(p)
	if err != nil {
		return h.refuse(errw, fmt.Sprintf("syntax: %v", err))
	}
	r, err := h.runner(env, dir, stdin, out, errw, params)
	if err != nil {
		return h.refuse(errw, err.Error())
	}
	return h.status(ctx, errw, r.Run(ctx, prog))
}

// inputShell runs the commands read from in one statement at a time, as
// sh -s does: each runs as soon as it is whole, before the rest of the
// input has arrived (fleet sends the next command only after the last
// one's end marker). The commands' own standard input is empty: reading in
// would steal the commands that follow.
func (h *hostShell) inputShell(ctx context.Context, env expand.Environ, dir string, in io.Reader, out, errw io.Writer) int {
	r, err := h.runner(env, dir, nil, out, errw, nil)
	if err != nil {
		return h.refuse(errw, err.Error())
	}
	p := parsers.Get().(*syntax.Parser)
	defer parsers.Put(p)
	status := 0
	for stmts, err := range p.InteractiveSeq(in) {
		if err != nil {
			return h.refuse(errw, fmt.Sprintf("syntax: %v", err))
		}
		if p.Incomplete() {
			continue
		}
		for _, st := range stmts {
			status = h.status(ctx, errw, r.Run(ctx, st))
			if r.Exited() || ctx.Err() != nil {
				return status
			}
		}
	}
	if p.Incomplete() {
		return h.refuse(errw, "syntax: unexpected end of input")
	}
	return status
}

// runner is an interpreter with this host's programs and file system.
// stdin is nil or a file (/dev/null): any other reader would cost the
// interpreter a pipe and a goroutine, per session.
func (h *hostShell) runner(env expand.Environ, dir string, stdin *os.File, out, errw io.Writer, params []string) (*interp.Runner, error) {
	var in io.Reader
	if stdin != nil {
		in = stdin
	}
	return interp.New(interp.Env(env), interp.StdIO(in, out, errw), interp.Params(append([]string{"--"}, params...)...),
		func(r *interp.Runner) error { r.Dir = dir; return nil }, // a made folder, so not interp.Dir's os.Stat
		interp.CallHandler(cdDashDash),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return h.exec }),
		interp.OpenHandler(h.fs.open), interp.StatHandler(h.fs.stat), interp.AccessHandler(h.fs.access))
}

// cdDashDash turns `cd -- DIR` into `cd DIR`: dash takes the "--" (and
// recipes' pending-trigger command sends it), the interpreter's cd does not.
func cdDashDash(_ context.Context, args []string) ([]string, error) {
	if len(args) == 3 && args[0] == "cd" && args[1] == "--" {
		return []string{"cd", args[2]}, nil
	}
	return args, nil
}

// status turns Run's error into an exit status, refusing what the
// interpreter or a program could not do. It is fleet/sshtest's exitCode but
// for that refusal (sshtest answers 1, and does not export it).
func (h *hostShell) status(ctx context.Context, errw io.Writer, err error) int {
	if err == nil {
		return 0
	}
	if st, ok := errors.AsType[interp.ExitStatus](err); ok {
		return int(st)
	}
	if ctx.Err() != nil {
		return 130 // the connection went away
	}
	if un, ok := errors.AsType[*errUnsupported](err); ok {
		return h.refuse(errw, un.what)
	}
	return h.refuse(errw, err.Error())
}

// refuse reports something the endpoints cannot answer: exit status 2, as
// sh's for a usage error, and counted.
func (h *hostShell) refuse(errw io.Writer, what string) int {
	msg := "scale-sh: unsupported: " + what
	fmt.Fprintln(errw, msg)
	h.stats.unsupported.Add(1)
	h.unsup.CompareAndSwap(nil, &msg)
	return 2
}

// exported is the environment a child process inherits: the exported
// variables only.
func exported(env expand.Environ) expand.Environ {
	var list []string
	for name, vr := range env.Each {
		if vr.Exported && vr.IsSet() {
			list = append(list, name+"="+vr.String())
		}
	}
	return expand.ListEnviron(list...)
}
