package fleet

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"
)

// HostLog is one host's log in a run record. Every line is written whole,
// as it arrives, prefixed with a timestamp and its stream, so that `tail -f`
// and `fleet logs -f` show output live and stdout and stderr stay apart:
//
//	2026-11-27T13:48:36.123Z out | hello
//	2026-11-27T13:48:36.125Z err | warning: ...
type HostLog struct {
	mu     sync.Mutex
	f      *os.File
	stdout lineBuffer
	stderr lineBuffer
	err    error
}

func newHostLog(f *os.File) *HostLog {
	l := &HostLog{f: f}
	l.stdout = lineBuffer{log: l, tag: "out"}
	l.stderr = lineBuffer{log: l, tag: "err"}
	return l
}

// Stdout is the writer for the host's standard output.
func (l *HostLog) Stdout() io.Writer { return &l.stdout }

// Stderr is the writer for the host's standard error.
func (l *HostLog) Stderr() io.Writer { return &l.stderr }

// Note writes a line of fleet's own about the host (a step header, the
// outcome), tagged "---".
func (l *HostLog) Note(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLine("---", []byte(text))
}

// Close writes any partial last lines and closes the file.
func (l *HostLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stdout.flushLocked()
	l.stderr.flushLocked()
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = err
	}
	return l.err
}

func (l *HostLog) writeLine(tag string, line []byte) {
	if l.err != nil {
		return
	}
	var b bytes.Buffer
	b.Grow(len(line) + 40)
	b.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteString(" | ")
	b.Write(line)
	b.WriteByte('\n')
	_, l.err = l.f.Write(b.Bytes())
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
			w.log.writeLine(w.tag, w.partial)
			w.partial = w.partial[:0]
		} else {
			w.log.writeLine(w.tag, p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineBuffer) flushLocked() {
	if len(w.partial) > 0 {
		w.log.writeLine(w.tag, w.partial)
		w.partial = w.partial[:0]
	}
}
