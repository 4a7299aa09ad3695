// Command fleet runs commands, copies files and applies recipes on many
// hosts at once over SSH. It reads pssh host files and takes pssh's flags,
// so `pssh -ih kube uptime` becomes `fleet run -ih kube uptime`.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
)

func main() {
	finish := startProfiling(os.Stderr) // hidden: FLEET_PPROF, FLEET_PROFILE_DIR (pprof.go)
	status := Main(os.Args, os.Stdin, os.Stdout, os.Stderr)
	finish()
	os.Exit(status)
}

// Exit statuses, pssh's, so that scripts written for pssh keep working.
const (
	exitOK          = 0
	exitError       = 1 // fleet's own error
	exitUsage       = 2 // bad flag, bad host file
	exitTimeout     = 3 // a host timed out or was killed
	exitUnreachable = 4 // a host could not be reached or authenticated
	exitRemote      = 5 // a command exited non-zero (or a step failed) on a reachable host
	exitInterrupted = 130
)

// statusError carries an exit status up to Main with the error to print.
type statusError struct {
	status int
	err    error
	hint   string
}

func (e *statusError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *statusError) Unwrap() error { return e.err }

// usageError makes a usage error: exit status 2 and a pointer to --help.
func usageError(format string, args ...any) error {
	return &statusError{status: exitUsage, err: fmt.Errorf(format, args...)}
}

// withStatus ends a command with status and no further message.
func withStatus(status int) error { return &statusError{status: status} }

// Main runs fleet with args (args[0] is the program name) and returns the
// exit status. Only main exits.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args = normaliseArgs(args) // hoist.go: provision's late options, -t0 and the like
	if len(args) > 2 && (args[1] == "rerun" || args[1] == "runs") {
		args = runRefsLast(args)
	}
	app := newApp(args, stdin, stdout, stderr)
	err := app.Run(args)
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	var se *statusError
	if !errors.As(err, &se) {
		se = &statusError{status: exitError, err: err}
		if h := (*usageHint)(nil); errors.As(err, &h) {
			se.status, se.hint = exitUsage, h.hint
		}
	}
	if se.err != nil {
		// An error may quote a host or a file: never let it drive the
		// terminal (no --escapes here: the flags may be what failed).
		msg := ui.CleanString(se.err.Error(), ui.OnTerminal(isTerminal(stderr), ui.Replace))
		fmt.Fprintf(stderr, "fleet: error: %s\n", msg)
		hint := se.hint
		if hint == "" && se.status == exitUsage {
			hint = "see 'fleet --help' or 'fleet COMMAND --help'"
		}
		if hint != "" {
			fmt.Fprintf(stderr, "fleet: hint: %s\n", hint)
		}
	}
	return se.status
}

// runRefsLast moves RUN arguments written -N (N runs back) behind "--", so
// that the flag parser does not take them for options: fleet rerun -1 --all.
func runRefsLast(args []string) []string {
	out := append([]string(nil), args[:2]...)
	var refs []string
	for i, a := range args[2:] {
		if a == "--" {
			refs = append(refs, args[2+i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "0123456789") == "" {
			refs = append(refs, a)
			continue
		}
		out = append(out, a)
	}
	if len(refs) > 0 {
		out = append(append(out, "--"), refs...)
	}
	return out
}
