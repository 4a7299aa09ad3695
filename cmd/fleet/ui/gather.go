package ui

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/fleet-sh/fleet/fleet"
)

// gatherRule separates groups, as dshbak -c draws it.
const gatherRule = "----------------\n"

// gatherKey is what makes two hosts' results the same for --gather. Output
// is hashed so that grouping a thousand hosts with large output does not
// copy all of it into map keys; status folds in the exit code, the outcome
// and, for hosts that ran nothing, the reason, so "connection refused" and
// "host name not found" stay apart even though both have no output.
type gatherKey struct {
	stdout, stderr [sha256.Size]byte
	outcome        fleet.Outcome
	exitCode       int
	status         string
}

// gatherGroup is one set of identical results, in input order.
type gatherGroup struct {
	first  *fleet.Result
	labels []string
}

// appendGather appends the results grouped like dshbak -c or clush -b:
//
//	----------------
//	node[01-03,05],web1 (exit 0)
//	----------------
//	<stdout>
//	Stderr:
//	<stderr>
//
// Groups come in the order of their first host's index. Output that does
// not end with a newline gets one, so the next rule starts its own line.
// The hosts' text (output, labels, reasons) is cleaned with esc.
func appendGather(b []byte, results []fleet.Result, esc Escapes) []byte {
	var groups []*gatherGroup
	byKey := make(map[gatherKey]*gatherGroup)
	for _, r := range byIndex(results) {
		k := gatherKey{
			stdout:   streamSum(r.StdoutSum, r.Stdout),
			stderr:   streamSum(r.StderrSum, r.Stderr),
			outcome:  r.Outcome,
			exitCode: r.ExitCode,
			status:   gatherStatus(r),
		}
		g := byKey[k]
		if g == nil {
			g = &gatherGroup{first: r}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.labels = append(g.labels, CleanString(hostLabel(r.Host), esc))
	}

	for _, g := range groups {
		b = fmt.Appendf(b, "%s%s (%s)\n%s", gatherRule, Fold(g.labels), CleanString(gatherStatus(g.first), esc), gatherRule)
		b = appendEnded(b, g.first.Stdout, esc)
		if len(g.first.Stderr) > 0 {
			b = append(b, "Stderr:\n"...)
			b = appendEnded(b, g.first.Stderr, esc)
		}
	}
	return b
}

// streamSum is the hash of a whole stream: the one taken while it streamed
// when there is one (only part of the stream may be kept), else that of
// the bytes kept, which are then the whole stream.
func streamSum(sum *[sha256.Size]byte, kept []byte) [sha256.Size]byte {
	if sum != nil {
		return *sum
	}
	return sha256.Sum256(kept)
}

// gatherStatus says how a group ended, in the parentheses of its header:
// "exit 0", "exit 5", "killed by signal TERM", "ok" (a task that runs no
// command), or the reason a host did not run ("unreachable: connection
// refused", "not started").
func gatherStatus(r *fleet.Result) string {
	var ee *fleet.ExitError
	switch {
	case errors.As(r.Err, &ee) && ee.Signal != "":
		return "killed by signal " + ee.Signal
	case errors.As(r.Err, &ee):
		return "exit " + strconv.Itoa(ee.Status)
	case r.Outcome == fleet.OK && r.ExitCode >= 0:
		return "exit " + strconv.Itoa(r.ExitCode)
	case r.Outcome == fleet.OK:
		return "ok"
	case r.Outcome == fleet.NotStarted:
		return "not started"
	}
	return reasonLine(r)
}
