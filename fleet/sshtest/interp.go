package sshtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Interp returns an ExecHandler that runs each command with the POSIX shell
// interpreter of mvdan.cc/sh in the test process, in ExecRequest.Dir with
// ExecRequest.Env, instead of forking /bin/sh: a host needs neither root
// nor a real shell, and a test can serve hundreds of hosts cheaply.
//
// Builtins (echo, printf, read, test, cd, export, ...) run in-process;
// "sh -c CMD" and "sh -s" (what the engine's wrappers and Shell start) run
// in a nested interpreter; other programs run as real processes of the
// test's user. Two things differ from a real shell, and a test that needs
// them must use real processes (Config.Exec nil):
//
//   - "$$" is the test process's PID, not a session leader's, so kill is
//     refused rather than risk signalling the test itself (the interpreter
//     has no kill builtin, and this handler refuses /bin/kill); the
//     engine's kill path then falls back to closing the connection, and
//     the handler ends with its context.
//   - Programs run in the test's process group, not a group of their own.
func Interp() ExecHandler {
	return func(ctx context.Context, req *ExecRequest) int {
		env := expand.ListEnviron(req.Env...)
		if req.Command == "" { // a "shell" request: commands on stdin
			return interpShell(ctx, env, req.Dir, req.Stdin, req.Stdout, req.Stderr)
		}
		return interpRun(ctx, env, req.Dir, req.Command, req.Stdin, req.Stdout, req.Stderr)
	}
}

// interpRun parses and runs one command line, as sh -c does.
func interpRun(ctx context.Context, env expand.Environ, dir, line string, in io.Reader, out, errw io.Writer) int {
	prog, err := syntax.NewParser().Parse(strings.NewReader(line), "sh")
	if err != nil {
		fmt.Fprintf(errw, "sh: %v\n", err)
		return 2 // dash's status for a syntax error
	}
	r, err := newRunner(env, dir, in, out, errw)
	if err != nil {
		fmt.Fprintf(errw, "sh: %v\n", err)
		return 127
	}
	return exitCode(ctx, r.Run(ctx, prog))
}

// interpShell runs the commands read from in one statement at a time, as
// sh -s does, so a client can wait for one command's output before it
// writes the next. The commands' own standard input is empty: reading in
// would steal the commands that follow.
func interpShell(ctx context.Context, env expand.Environ, dir string, in io.Reader, out, errw io.Writer) int {
	r, err := newRunner(env, dir, nil, out, errw)
	if err != nil {
		fmt.Fprintf(errw, "sh: %v\n", err)
		return 127
	}
	p := syntax.NewParser()
	status := 0
	for stmts, err := range p.InteractiveSeq(in) {
		if err != nil {
			fmt.Fprintf(errw, "sh: %v\n", err)
			return 2
		}
		if p.Incomplete() {
			continue
		}
		for _, st := range stmts {
			status = exitCode(ctx, r.Run(ctx, st))
			if r.Exited() || ctx.Err() != nil {
				return status
			}
		}
	}
	return status
}

// newRunner is an interpreter whose "sh" and "kill" are handled in-process.
func newRunner(env expand.Environ, dir string, in io.Reader, out, errw io.Writer) (*interp.Runner, error) {
	return interp.New(interp.Env(env), interp.Dir(dir), interp.StdIO(in, out, errw),
		interp.ExecHandlers(func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			return func(ctx context.Context, args []string) error {
				return execBuiltin(ctx, next, args)
			}
		}))
}

// execBuiltin runs sh and kill itself and hands every other program on.
func execBuiltin(ctx context.Context, next interp.ExecHandlerFunc, args []string) error {
	hc := interp.HandlerCtx(ctx)
	switch args[0] {
	case "sh", "/bin/sh":
		switch {
		case len(args) >= 3 && args[1] == "-c":
			return interp.ExitStatus(interpRun(ctx, hc.Env, hc.Dir, args[2], hc.Stdin, hc.Stdout, hc.Stderr))
		case len(args) == 1 || len(args) == 2 && args[1] == "-s":
			return interp.ExitStatus(interpShell(ctx, hc.Env, hc.Dir, hc.Stdin, hc.Stdout, hc.Stderr))
		}
		fmt.Fprintf(hc.Stderr, "sh: sshtest.Interp runs only sh -c CMD and sh -s, not %q\n", args[1:])
		return interp.ExitStatus(2)
	case "kill", "/bin/kill":
		fmt.Fprintln(hc.Stderr, "kill: sshtest.Interp cannot signal processes ($$ is the test's own PID)")
		return interp.ExitStatus(1)
	}
	return next(ctx, args)
}

// exitCode turns Run's error into an exit status: 0, the command's status,
// 130 when the context ended it, 1 for the interpreter's own errors.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return 0
	}
	var st interp.ExitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	if ctx.Err() != nil {
		return 130
	}
	return 1
}
