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

// tag is pssh's "[N]", "[SUCCESS]" or "[FAILURE]": fg with bold text.
func (st style) tag(s string, fg int) string { return st.with("["+st.bold(s)+"]", fg) }

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
	b = fmt.Appendf(b, "%s %s ", st.tag(strconv.Itoa(n), ansiCyan), end.Local().Format("15:04:05"))
	b = append(st.appendOutcome(b, r, showChanged), '\n')
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
		b = append(b, st.with("Stderr: ", ansiRed)...)
		b = appendEnded(b, r.Stderr, st.esc)
	}
	return b
}

// appendOutcome appends "[SUCCESS] label [changed] [detail]" or
// "[FAILURE] label REASON [(detail)]", the part of a host's line that the
// streamed status and the end listing share.
func (st style) appendOutcome(b []byte, r *fleet.Result, showChanged bool) []byte {
	label := CleanString(hostLabel(r.Host), st.esc)
	detail := CleanString(r.Detail, st.esc)
	if r.Outcome == fleet.OK {
		b = fmt.Appendf(b, "%s %s", st.tag("SUCCESS", ansiGreen), label)
		switch { // for the commands that report it: copy, provision
		case showChanged && r.Changed:
			b = append(b, " changed"...)
		case showChanged:
			b = append(b, " unchanged"...)
		}
		if detail != "" {
			b = append(append(b, ' '), detail...)
		}
		return b
	}
	// The reason may end with a step's last line of stderr, or a login
	// shell's message: the host's text, cleaned here, at print time, so
	// that the run record keeps it as it came.
	reason := CleanString(psshReason(r), st.esc)
	b = fmt.Appendf(b, "%s %s %s", st.tag("FAILURE", ansiRed), label, st.with(st.bold(reason), ansiRed))
	if detail != "" {
		// What the work got to before it failed.
		b = fmt.Appendf(b, " (%s)", detail)
	}
	return b
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
	return reasonLine(r)
}

// reasonLine is the first line of the host's reason, or its outcome when
// it gives none.
func reasonLine(r *fleet.Result) string { return cmp.Or(firstLine(r.Reason()), r.Outcome.String()) }

// byIndex points at the results in the order of their index.
func byIndex(results []fleet.Result) []*fleet.Result {
	order := make([]*fleet.Result, len(results))
	for i := range results {
		order[i] = &results[i]
	}
	slices.SortStableFunc(order, func(x, y *fleet.Result) int { return x.Index - y.Index })
	return order
}

// appendListing appends the end-of-run listing printed on a terminal:
// "[SUCCESS] label" for every OK host, then "[FAILURE] label reason" (and
// "  hint: ..." when there is one) for the others, each group in input
// order. Failures come last so they are what is left on screen. With
// failuresOnly (-i printed every host's block as it finished) only the
// failures are listed again, without their output.
func (p *Printer) appendListing(b []byte, results []fleet.Result, failuresOnly bool) []byte {
	// OK, the least Outcome, first; then all the other outcomes as one.
	order := byIndex(results)
	slices.SortStableFunc(order, func(x, y *fleet.Result) int { return int(min(x.Outcome, fleet.Failed) - min(y.Outcome, fleet.Failed)) })
	// Under --json the output is in the JSON already and this listing goes
	// to Stderr: repeating megabytes of output there helps nobody.
	inline := (p.opts.Inline || p.opts.InlineStdout) && !p.opts.JSON && !failuresOnly
	st := p.style
	for _, r := range order {
		if failuresOnly && r.Outcome == fleet.OK {
			continue
		}
		b = append(st.appendOutcome(b, r, p.opts.ShowChanged), '\n')
		if r.Outcome != fleet.OK {
			if hint := fleet.Hint(r.Err); hint != "" {
				b = fmt.Appendf(b, "  hint: %s\n", hint)
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
