package fleet

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/fleet-sh/fleet/fleet/internal/lightcopy"
)

// shellStream is one output stream (stdout or stderr) of a Shell. It hands
// each command's output to that command's writer and takes out the
// shell's marker lines: "NONCE ready ...", "NONCE pid PID" (stderr, before
// the command's output) and "NONCE end ID [STATUS]" (after it).
//
// The end marker is printed after a newline of its own, so that it starts
// a line even when the output did not end with one; that newline is not
// the command's. So the newline ending each line is held back until the
// next line shows whether an end marker follows. Whole lines are passed on
// as they come; a partial line only once it cannot be a marker.
type shellStream struct {
	prefix []byte // "NONCE "
	readyc chan string
	ends   chan shellEnd

	mu        sync.Mutex
	ready     bool
	buf       []byte     // the partial line not passed on yet
	midLine   bool       // part of the current line was passed on: it is output
	pendingNL bool       // a newline held back
	w         io.Writer  // the current command's writer
	id        int        // the current command
	pidc      chan<- int // where the current command's pid marker goes
	early     []string   // the last lines before the ready marker
}

// shellEnd is an end marker: the command and, on stdout, its exit status.
type shellEnd struct{ id, status int }

// maxHeld bounds a partial line held back as a possible marker; markers
// are far shorter.
const maxHeld = 256

func newShellStream(nonce string) *shellStream {
	return &shellStream{prefix: []byte(nonce + " "), readyc: make(chan string, 1), ends: make(chan shellEnd, 4), w: io.Discard}
}

// begin directs the output of command id to w, and its pid marker, when
// pidc is set, to pidc.
func (s *shellStream) begin(id int, w io.Writer, pidc chan<- int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id, s.w, s.pidc = id, w, pidc
}

// preamble is what came on the stream before the shell announced itself
// (sudo's complaints, for one), for error messages.
func (s *shellStream) preamble() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.early, "; ")
}

// ReadFrom makes the SSH library's copy of the stream use lightcopy.Copy.
func (s *shellStream) ReadFrom(r io.Reader) (int64, error) { return lightcopy.Copy(s, r) }

func (s *shellStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	rest := s.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		s.line(rest[:i])
		rest = rest[i+1:]
	}
	if len(rest) > 0 && s.ready && (s.midLine || !s.mayBeMarker(rest)) {
		s.output(rest, false)
		rest = nil
	}
	if !s.ready && len(rest) > maxEarly {
		// Text before the shell announced itself, with no newline: only
		// its end can hold the ready marker.
		rest = rest[len(rest)-len(s.prefix)-maxHeld:]
	}
	s.buf = append(s.buf[:0], rest...) // the partial line held back, in the same buffer
	return len(p), nil
}

// mayBeMarker says whether a partial line could still become a marker.
func (s *shellStream) mayBeMarker(b []byte) bool {
	if len(b) > maxHeld {
		return false
	}
	n := min(len(b), len(s.prefix))
	return bytes.Equal(b[:n], s.prefix[:n])
}

// maxEarly bounds a partial line held before the ready marker.
const maxEarly = 4 << 10

// line handles one whole line, without its newline.
func (s *shellStream) line(b []byte) {
	if !s.ready {
		// The ready marker may follow text without a newline.
		if i := bytes.Index(b, s.prefix); i > 0 {
			s.early = appendEarly(s.early, string(b[:i]))
			b = b[i:]
		}
	}
	if s.midLine || !bytes.HasPrefix(b, s.prefix) {
		if s.ready {
			s.output(b, true)
		} else {
			s.early = appendEarly(s.early, string(b))
		}
		s.midLine = false
		return
	}
	f := strings.Fields(string(b[len(s.prefix):]))
	switch {
	case len(f) == 2 && f[0] == "ready" && !s.ready:
		s.ready = true
		s.readyc <- f[1]
	case len(f) == 2 && f[0] == "pid":
		if pid, err := strconv.Atoi(f[1]); err == nil && s.pidc != nil {
			select {
			case s.pidc <- pid:
			default: // one marker a command
			}
		}
	case len(f) >= 2 && f[0] == "end":
		id, _ := strconv.Atoi(f[1])
		status := 0
		if len(f) == 3 {
			status, _ = strconv.Atoi(f[2])
		}
		s.pendingNL = false // the marker's own newline, not the command's
		select {
		case s.ends <- shellEnd{id, status}:
		default: // nobody waits for a stale command's end
		}
	default:
		s.output(b, true)
	}
}

// output passes command output on; whole says b ended with a newline,
// which is held back.
func (s *shellStream) output(b []byte, whole bool) {
	if s.pendingNL {
		_, _ = s.w.Write([]byte{'\n'})
		s.pendingNL = false
	}
	if len(b) > 0 {
		_, _ = s.w.Write(b)
	}
	s.pendingNL = whole
	s.midLine = !whole
}

// appendEarly keeps the last three lines before the ready marker, each at
// most maxHeld bytes.
func appendEarly(early []string, line string) []string {
	if line == "" {
		return early
	}
	if len(line) > maxHeld {
		line = line[:maxHeld] + "..."
	}
	early = append(early, line)
	if len(early) > 3 {
		early = early[1:]
	}
	return early
}
