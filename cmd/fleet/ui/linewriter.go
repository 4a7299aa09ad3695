package ui

import (
	"bytes"
	"io"
	"sync"
)

// maxLine is the longest line LineWriter holds before printing it in
// pieces. It bounds the memory one host can make us keep (a host printing
// a binary file without newlines), and matches pssh's 64 KiB read size.
const maxLine = 64 << 10

// LineWriter returns the writer for one host's stdout (stderr false) or
// stderr (true) used with -P. It prints "label: line" for every line: pssh
// prefixes only each read chunk, so a chunk with three lines shows two of
// them unlabelled, and that is the bug this fixes.
//
// A partial last line is held until its newline arrives or Flush is called,
// which the caller must do when the host's stream ends. A line longer than
// 64 KiB is printed in 64 KiB pieces, each with the prefix. Output of many
// hosts interleaves only at line boundaries: each Write puts its complete
// lines into the output lane in one chunk, under the lock that orders all
// of the Printer's output. Write never waits for the output to be read: a
// terminal or pipe that does not keep up must not stall the hosts, so past
// the lane's limit (8 MiB unwritten) lines are dropped, and a line saying
// how many stands for them once there is room again. The run record and
// -o/-e have every line.
//
// stdout lines go to Stdout (to Stderr under --json, which keeps Stdout for
// JSON), stderr lines to Stderr; the prefix is the same. index is the
// host's position in the run; the printed prefix uses only the label.
//
// Each line is cleaned with the Escapes of the stream it goes to. Lines
// are whole when they are cleaned, so a CR LF stays a line end and an
// escape sequence cannot span two hosts' lines.
func (p *Printer) LineWriter(index int, label string, stderr bool) interface {
	io.Writer
	Flush()
} {
	esc := p.opts.StdoutEscapes
	if stderr || p.opts.JSON {
		esc = p.opts.StderrEscapes // where emit writes it
	}
	return &lineWriter{p: p, prefix: CleanString(label, esc) + ": ", stderr: stderr, esc: esc}
}

// lineWriter splits one stream into lines; see Printer.LineWriter.
type lineWriter struct {
	p      *Printer
	prefix string
	stderr bool
	esc    Escapes

	mu  sync.Mutex // a host's stream may be written and flushed from different goroutines
	buf []byte     // the partial last line, at most maxLine bytes
}

// Write prints every complete line of b with the prefix and keeps the rest.
// It never fails: output that cannot be shown must not fail the host.
func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		room := maxLine - len(w.buf)
		if i < 0 && len(b) <= room {
			w.buf = append(w.buf, b...)
			break
		}
		// A whole line, or, longer than maxLine, what fills a piece.
		take, skip := room, 0
		if i >= 0 && i <= room {
			take, skip = i, 1
		}
		w.buf = append(w.buf, b[:take]...)
		b = b[take+skip:]
		out = w.appendLine(out, w.buf)
		w.buf = w.buf[:0]
	}
	if len(out) > 0 {
		w.p.emit(w.stderr, out)
	}
	return n, nil
}

// Flush prints the partial last line, if any, with a newline added.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return
	}
	out := w.appendLine(nil, w.buf)
	w.buf = w.buf[:0]
	w.p.emit(w.stderr, out)
}

func (w *lineWriter) appendLine(out, line []byte) []byte {
	out = append(out, w.prefix...)
	if w.esc == Raw {
		out = append(out, line...)
		return append(out, '\n')
	}
	// The CR of a CR LF is at the end of the line: keep the pair whole.
	cr := len(line) > 0 && line[len(line)-1] == '\r'
	if cr {
		line = line[:len(line)-1]
	}
	out = AppendClean(out, line, w.esc)
	if cr {
		out = append(out, '\r')
	}
	return append(out, '\n')
}

// emit puts complete prefixed lines above the bar, under the output lock,
// or drops them when their lane is full.
func (p *Printer) emit(stderr bool, data []byte) {
	l := p.out
	if stderr || p.opts.JSON {
		l = p.errl
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ok, dropped := l.admit(len(data), bytes.Count(data, []byte{'\n'}))
	if !ok {
		return
	}
	if dropped > 0 {
		data = append(droppedMark(dropped), data...)
	}
	p.writeLocked(l, data)
}

// Notice prints one line of fleet's own on Stderr (an interrupt, a
// warning) while the run goes, above the bar so the bar is redrawn whole.
// It never waits for the output to be read, and is dropped after Finish.
func (p *Printer) Notice(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeLocked(p.errl, []byte(text+"\n"))
}
