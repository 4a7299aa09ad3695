package record

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// A host's log ends with a note of fleet's own that says how the host
// ended, after its timestamp:
//
//	--- | end <outcome>[ exit=N][ kind=K][: reason] (duration)
//
// kind is written only when the outcome and exit status do not imply it
// (impliedKind): "end unreachable kind=auth: ...", but "end failed exit=3".
//
// This package writes it (End) and reads it back (for a run that never
// wrote its end, see Load), so the format is one thing in one place.
const endNotePrefix = "--- | end "

// End writes the host's end note, from its result, and closes the log.
func (l *HostLog) End(r *fleet.Result) error {
	s := strings.TrimPrefix(endNotePrefix, "--- | ") + r.Outcome.String()
	if r.ExitCode >= 0 {
		s += " exit=" + strconv.Itoa(r.ExitCode)
	}
	if k := r.Kind(); k != impliedKind(r.Outcome, r.ExitCode) {
		s += " kind=" + k
	}
	var fe *fleet.Error
	switch {
	case r.Outcome == fleet.Failed || r.Err == nil:
	case errors.As(r.Err, &fe) && fe.Reason != "":
		s += ": " + fe.Reason
	default:
		s += ": " + r.Reason()
	}
	l.Note(s + fmt.Sprintf(" (%s)", r.Duration().Round(time.Millisecond)))
	return l.Close()
}

// IsEndNote reports whether a line of a host's log is its end note.
func IsEndNote(line []byte) bool {
	_, after, ok := bytes.Cut(line, []byte(" "))
	return ok && bytes.HasPrefix(after, []byte(endNotePrefix))
}

// ended is what an end note says.
type ended struct {
	outcome fleet.Outcome
	exit    int
	kind    string
}

// parseEndNote reads the text after "--- | end ".
func parseEndNote(note string) (ended, bool) {
	words := strings.Fields(note)
	if len(words) == 0 {
		return ended{}, false
	}
	e := ended{exit: -1}
	if e.outcome.UnmarshalText([]byte(strings.TrimSuffix(words[0], ":"))) != nil {
		return ended{}, false
	}
	for _, w := range words[1:] {
		w = strings.TrimSuffix(w, ":")
		if v, ok := strings.CutPrefix(w, "exit="); ok {
			e.exit, _ = strconv.Atoi(v)
		} else if v, ok := strings.CutPrefix(w, "kind="); ok {
			e.kind = v
		} else {
			break
		}
	}
	return e, true
}

// lastEndNote returns the text after "--- | end " of a log's last end note,
// reading only the log's tail.
func lastEndNote(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 4096
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		f.Seek(st.Size()-tail, 0)
	}
	b := make([]byte, tail)
	n, _ := io.ReadFull(f, b)
	note := ""
	for line := range strings.SplitSeq(string(b[:n]), "\n") {
		// As IsEndNote reads it: the prefix after the timestamp.
		if _, after, _ := strings.Cut(line, " "); strings.HasPrefix(after, endNotePrefix) {
			note = after[len(endNotePrefix):]
		}
	}
	return note
}

// outcomesFromLogs fills in, for a run still going or killed outright, the
// outcome of each host that has ended: run.json gets outcomes only when the
// run ends, but a host's log ends with its end note as soon as the host is
// done.
func (r *Run) outcomesFromLogs() {
	for i := range r.Info.Hosts {
		h := &r.Info.Hosts[i]
		e, ok := parseEndNote(lastEndNote(r.LogPath(i)))
		if !ok {
			continue
		}
		h.Outcome, h.ExitCode, h.Kind, h.Ended = e.outcome, e.exit, cmp.Or(e.kind, impliedKind(e.outcome, e.exit)), true
	}
}

// impliedKind is the kind an outcome and exit status imply when nothing
// finer is said.
func impliedKind(o fleet.Outcome, exit int) string {
	switch o {
	case fleet.OK:
		return ""
	case fleet.Failed:
		if exit >= 0 {
			return fleet.KindExit
		}
	case fleet.Unreachable:
		return fleet.KindUnreachable
	case fleet.TimedOut:
		return fleet.KindTimeout
	case fleet.Cancelled:
		return fleet.KindCancelled
	case fleet.NotStarted:
		return fleet.KindNotStarted
	}
	return fleet.KindError
}
