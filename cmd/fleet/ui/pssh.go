package ui

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/inventory"
)

// ANSI colours as psshlib/color.py numbers them.
const (
	ansiRed   = 31
	ansiGreen = 32
	ansiCyan  = 36
)

// style applies pssh's colours when colour is allowed. The escape sequences
// are byte for byte those of psshlib/color.py, so scripts and eyes trained
// on pssh output see the same thing.
//
// esc is applied to the hosts' text in what the style appends (output,
// reasons, labels, details), never to fleet's own colours.
type style struct {
	color bool
	esc   Escapes
}

// with wraps s in a foreground colour, as color.with_color (default
// background 49).
func (st style) with(s string, fg int) string {
	if !st.color {
		return s
	}
	return fmt.Sprintf("\x1b[%dm\x1b[49m%s\x1b[39m\x1b[49m", fg, s)
}

// bold is color.B.
func (st style) bold(s string) string {
	if !st.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[22m"
}

// progress is pssh's "[N]", cyan with a bold number.
func (st style) progress(n int) string {
	return st.with("["+st.bold(strconv.Itoa(n))+"]", ansiCyan)
}

// success is "[SUCCESS]", green with bold text.
func (st style) success() string { return st.with("["+st.bold("SUCCESS")+"]", ansiGreen) }

// failure is "[FAILURE]", red with bold text.
func (st style) failure() string { return st.with("["+st.bold("FAILURE")+"]", ansiRed) }

// stderrLabel is the "Stderr: " that introduces inline stderr, red.
func (st style) stderrLabel() string { return st.with("Stderr: ", ansiRed) }

// reason is a failure's reason, red and bold.
func (st style) reason(s string) string { return st.with(st.bold(s), ansiRed) }

// appendStatus appends pssh's report for one finished host:
//
//	[N] HH:MM:SS [SUCCESS] label
//	[N] HH:MM:SS [FAILURE] label REASON
//
// followed, with inline or inlineStdout, by the host's output as pssh
// writes it: the stdout bytes, then (inline only, when stderr is not
// empty) "Stderr: " and the stderr bytes. Output that does not end with a
// newline gets one, so that "Stderr: " and the next host's [N] start their
// own lines (pssh runs them on; its -P adds the newline, as fleet does
// everywhere): a grep for "^\[" sees every host.
func (st style) appendStatus(b []byte, n int, end time.Time, r *fleet.Result, inline, inlineStdout, showChanged bool) []byte {
	b = append(b, st.progress(n)...)
	b = append(b, ' ')
	b = end.Local().AppendFormat(b, "15:04:05")
	b = append(b, ' ')
	b = st.appendOutcome(b, r, showChanged)
	b = append(b, '\n')
	if inline || inlineStdout {
		b = st.appendOutput(b, r, inline)
	}
	return b
}

// appendOutput appends the host's stdout and, withStderr, "Stderr: " and
// its stderr when it has any, as pssh's -i does.
func (st style) appendOutput(b []byte, r *fleet.Result, withStderr bool) []byte {
	b = appendEnded(b, r.Stdout, st.esc)
	if withStderr && len(r.Stderr) > 0 {
		b = append(b, st.stderrLabel()...)
		b = appendEnded(b, r.Stderr, st.esc)
	}
	return b
}

// appendOutcome appends "[SUCCESS] label [changed] [detail]" or
// "[FAILURE] label REASON [(detail)]", the part of a host's line that the
// streamed status and the end listing share.
func (st style) appendOutcome(b []byte, r *fleet.Result, showChanged bool) []byte {
	label := CleanString(hostLabel(r.Host), st.esc)
	if r.Outcome == fleet.OK {
		b = append(b, st.success()...)
		b = append(b, ' ')
		b = append(b, label...)
		return appendChanged(b, r, showChanged, st.esc)
	}
	b = append(b, st.failure()...)
	b = append(b, ' ')
	b = append(b, label...)
	b = append(b, ' ')
	// The reason may end with a step's last line of stderr, or a login
	// shell's message: the host's text, cleaned here, at print time, so
	// that the run record keeps it as it came.
	b = append(b, st.reason(CleanString(psshReason(r), st.esc))...)
	return appendFailureDetail(b, r, st.esc)
}

// psshReason is the REASON of a [FAILURE] line. Exit statuses and signals
// use pssh's own wording ("Exited with error code 5", "Killed by signal
// TERM") so that greps written for pssh keep working; anything else is the
// classified error's first line ("unreachable: connection refused").
func psshReason(r *fleet.Result) string {
	if r.Outcome == fleet.NotStarted {
		return "not started"
	}
	var ee *fleet.ExitError
	if errors.As(r.Err, &ee) {
		if ee.Signal != "" {
			return "Killed by signal " + ee.Signal
		}
		return "Exited with error code " + strconv.Itoa(ee.Status)
	}
	if reason := firstLine(r.Reason()); reason != "" {
		return reason
	}
	return r.Outcome.String()
}

// appendListing appends the end-of-run listing printed on a terminal:
// "[SUCCESS] label" for every OK host, then "[FAILURE] label reason" (and
// "  hint: ..." when there is one) for the others, each group in input
// order. Failures come last so they are what is left on screen. With
// failuresOnly (-i printed every host's block as it finished) only the
// failures are listed again, without their output.
func (p *Printer) appendListing(b []byte, results []fleet.Result, failuresOnly bool) []byte {
	order := make([]*fleet.Result, len(results))
	for i := range results {
		order[i] = &results[i]
	}
	slices.SortStableFunc(order, func(x, y *fleet.Result) int {
		if (x.Outcome == fleet.OK) != (y.Outcome == fleet.OK) {
			if x.Outcome == fleet.OK {
				return -1
			}
			return 1
		}
		return x.Index - y.Index
	})
	// Under --json the output is in the JSON already and this listing goes
	// to Stderr: repeating megabytes of output there helps nobody.
	inline := (p.opts.Inline || p.opts.InlineStdout) && !p.opts.JSON && !failuresOnly
	st := p.style
	for _, r := range order {
		if failuresOnly && r.Outcome == fleet.OK {
			continue
		}
		b = st.appendOutcome(b, r, p.opts.ShowChanged)
		b = append(b, '\n')
		if r.Outcome != fleet.OK {
			if hint := fleet.Hint(r.Err); hint != "" {
				b = append(b, "  hint: "...)
				b = append(b, hint...)
				b = append(b, '\n')
			}
		}
		if inline {
			b = st.appendOutput(b, r, p.opts.Inline)
		}
	}
	return b
}

// appendEnded appends out, cleaned with esc, and a newline if out is not
// empty and does not already end with one.
func appendEnded(b, out []byte, esc Escapes) []byte {
	b = AppendClean(b, out, esc)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

// hostLabel is the host's unique display name; a Host built by hand
// without one falls back to its host-file form.
func hostLabel(h inventory.Host) string { return cmp.Or(h.Label, h.String()) }

// firstLine cuts s at its first newline: a status line must stay one line
// even when an error carries a stack trace.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimRight(s[:i], "\r")
	}
	return s
}

// appendChanged says whether a successful copy or provision changed the
// host, when the command reports that.
func appendChanged(b []byte, r *fleet.Result, show bool, esc Escapes) []byte {
	if show {
		if r.Changed {
			b = append(b, " changed"...)
		} else {
			b = append(b, " unchanged"...)
		}
	}
	if r.Detail != "" {
		b = append(b, " "...)
		b = append(b, CleanString(r.Detail, esc)...)
	}
	return b
}

// appendFailureDetail adds what the work got to before it failed, in
// parentheses after the reason.
func appendFailureDetail(b []byte, r *fleet.Result, esc Escapes) []byte {
	if r.Detail == "" {
		return b
	}
	return append(append(append(b, " ("...), CleanString(r.Detail, esc)...), ')')
}
