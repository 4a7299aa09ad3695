package record

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/fleet-sh/fleet/fleet/internal/lightcopy"
)

// HostLog is one host's log in a run record. Every line is written whole,
// as it arrives, prefixed with a timestamp and its stream, so that `tail -F`
// and `fleet logs -f` show output live and stdout and stderr stay apart:
//
//	2026-11-27T13:48:36.123Z out | hello
//	2026-11-27T13:48:36.125Z err | warning: ...
//	2026-11-27T13:48:36.130Z --- | end ok exit=0 (12ms)
//
// Past the record's MaxLog bytes of output the log keeps no more: it notes
// the cut once, and at Close how much was left out. The command goes on
// running; only the log stops growing (see Cut).
//
// The file is created when the host's first output arrives. Until then
// fleet's own notes wait in memory, and a host that never prints has its
// file written by the record's background writer once it is done: creating
// a file costs a filesystem round trip that must not delay the host.
type HostLog struct {
	mu      sync.Mutex
	path    string
	rec     *Record
	f       *os.File
	w       io.Writer // f, or the record's test writer around it
	pending []byte    // lines written before the file exists
	stdout  lineBuffer
	stderr  lineBuffer
	err     error
	closed  bool
	max     int64 // bytes of output lines the file may hold; 0: no limit
	written int64 // bytes of output lines written
	cut     int64 // bytes of output not written, past max
}

func newHostLog(rec *Record, path string, max int64) *HostLog {
	l := &HostLog{rec: rec, path: path, max: max}
	l.stdout = lineBuffer{log: l, tag: "out"}
	l.stderr = lineBuffer{log: l, tag: "err"}
	return l
}

// Stdout is the writer for the host's standard output.
func (l *HostLog) Stdout() io.Writer { return &l.stdout }

// Stderr is the writer for the host's standard error.
func (l *HostLog) Stderr() io.Writer { return &l.stderr }

// Path is the log's file; it may not exist yet.
func (l *HostLog) Path() string { return l.path }

// Cut is how many bytes of the host's output the log left out, past the
// record's MaxLog.
func (l *HostLog) Cut() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// Note writes a line of fleet's own about the host (a step header, the
// outcome), tagged "---".
func (l *HostLog) Note(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLine("---", []byte(text), false)
}

// Close writes any partial last lines and closes the file. A log whose file
// was never created is handed to the record's background writer.
func (l *HostLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.err
	}
	l.closed = true
	l.stdout.flushLocked()
	l.stderr.flushLocked()
	if l.cut > 0 {
		l.writeLine("---", fmt.Appendf(nil, "%d bytes of output were not logged (past --max-log %d bytes)", l.cut, l.max), false)
	}
	if l.f == nil {
		data := l.pending
		l.pending = nil
		l.rec.background(func() error { return l.rec.writeNew(l.path, data) })
		return nil
	}
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = pathError("close", l.path, err)
	}
	return l.err
}

// writeNew creates a log file with its whole content.
func (r *Record) writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return pathError("create", path, err)
	}
	_, err = r.writer(f).Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pathError("write", path, err)
	}
	return nil
}

// Err is the first error writing the log met, nil if none: past it the
// log keeps nothing more.
func (l *HostLog) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// writeLine appends one line; output (live) creates the file, notes may
// wait. Called with mu held.
func (l *HostLog) writeLine(tag string, line []byte, live bool) {
	if l.err != nil {
		return
	}
	if live && l.max > 0 {
		if l.written+int64(len(line))+1 > l.max {
			first := l.cut == 0
			l.cut += int64(len(line)) + 1
			if first {
				// A note is not output: it is never cut.
				l.writeLine("---", fmt.Appendf(nil, "output past --max-log %d bytes is not logged; the command goes on", l.max), false)
			}
			return
		}
		l.written += int64(len(line)) + 1
	}
	b := time.Now().UTC().AppendFormat(make([]byte, 0, len(line)+40), "2006-01-02T15:04:05.000Z07:00")
	b = append(append(append(append(append(b, ' '), tag...), " | "...), line...), '\n')
	if l.f == nil && !live {
		l.pending = append(l.pending, b...)
		return
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			l.err = pathError("create", l.path, err)
			return
		}
		l.f, l.w = f, l.rec.writer(f)
		if len(l.pending) > 0 {
			l.write(l.pending)
			l.pending = nil
		}
	}
	l.write(b)
}

// write appends b to the file; called with mu held.
func (l *HostLog) write(b []byte) {
	if l.err != nil {
		return
	}
	if _, err := l.w.Write(b); err != nil {
		l.err = pathError("write", l.path, err)
	}
}

// lineBuffer holds a stream's partial last line until its newline.
type lineBuffer struct {
	log     *HostLog
	tag     string
	partial []byte
}

// maxLogLine splits endless lines so memory stays bounded.
const maxLogLine = 64 * 1024

func (w *lineBuffer) Write(p []byte) (int, error) {
	w.log.mu.Lock()
	defer w.log.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLogLine {
				w.flushLocked()
			}
			break
		}
		if len(w.partial) > 0 {
			w.partial = append(w.partial, p[:i]...)
			w.log.writeLine(w.tag, w.partial, true)
			w.partial = w.partial[:0]
		} else {
			w.log.writeLine(w.tag, p[:i], true)
		}
		p = p[i+1:]
	}
	return n, nil
}

// ReadFrom copies a command's output stream into the log; see
// lightcopy.Copy.
func (w *lineBuffer) ReadFrom(r io.Reader) (int64, error) { return lightcopy.Copy(w, r) }

func (w *lineBuffer) flushLocked() {
	if len(w.partial) > 0 {
		w.log.writeLine(w.tag, w.partial, true)
		w.partial = w.partial[:0]
	}
}
