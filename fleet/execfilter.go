package fleet

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fleet-sh/fleet/fleet/internal/lightcopy"
)

// control carries what the stderr filter learns to the rest of Exec.
type control struct {
	m        markers
	sudo     bool
	pty      bool // stdout and stderr are one terminal stream, lines end in \r\n
	password []byte
	stdin    io.WriteCloser
	onStart  func() // called when the command starts: after the PID marker, or sudo's ready
	pidc     chan int
	started  atomic.Bool   // the wrapper's PID marker came: the login shell runs the command
	ready    chan struct{} // closed when the command itself starts (sudo done)
	once     sync.Once
	prompts  int
	sudoErr  error
	refused  chan struct{} // closed when sudo refused the password
	mu       sync.Mutex
}

func (c *control) markReady() { c.once.Do(func() { close(c.ready) }) }

func (c *control) commandStarted() {
	if c.onStart != nil {
		c.onStart()
	}
}

// feedStdin sends the command's input once sudo, if any, is done asking, and
// then closes standard input so that commands reading it end.
func feedStdin(ctl *control, in io.Reader) {
	if ctl.sudo {
		<-ctl.ready
	}
	if in != nil {
		if _, ok := in.(io.WriterTo); ok {
			_, _ = io.Copy(ctl.stdin, in) // WriteTo needs no buffer
		} else {
			_, _ = lightcopy.Copy(ctl.stdin, in)
		}
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	ctl.stdin.Close()
}

// stderrFilter passes stderr through, taking out the wrapper's marker lines
// and answering sudo's password prompt. It only looks for markers until the
// command starts; after that it is a plain pass-through.
//
// With a pty the filter reads the one stream of the terminal, where lines
// end in \r\n and sudo, which turns the terminal's echo off while it reads
// the password, prints the newline the user would have typed: that empty
// line is taken out with the markers.
//
// The PID marker is looked for anywhere in the stream: the login shell's
// start-up files may print text without a newline just before it. That
// text is passed on as it comes (as ssh shows it) or, with banner set,
// kept apart there; it is never buffered whole.
type stderrFilter struct {
	ctl      *control
	out      io.Writer
	banner   *banner  // nil: what comes before the PID marker is output
	split    splitter // finds the PID marker (set on first use)
	buf      []byte
	passing  bool
	answered bool // the password was just written: sudo's newline may come
	err      error
}

// ReadFrom makes the SSH library's copy of the stream use lightcopy.Copy.
func (f *stderrFilter) ReadFrom(r io.Reader) (int64, error) { return lightcopy.Copy(f, r) }

func (f *stderrFilter) Write(p []byte) (int, error) {
	if f.passing {
		return f.out.Write(p)
	}
	if f.split.mark == nil {
		f.split.mark = []byte(f.ctl.m.pid)
	}
	if !f.split.found {
		f.split.write(p, f.before, func(rest []byte) {
			// The marker starts the wrapper's line, as the line
			// parsing below wants it.
			f.buf = append(append(f.buf, f.ctl.m.pid...), rest...)
		})
		if !f.split.found {
			return len(p), f.err
		}
	} else {
		f.buf = append(f.buf, p...)
	}
	for !f.passing {
		if f.ctl.sudo && f.ctl.password != nil && bytes.HasPrefix(f.buf, []byte(f.ctl.m.prompt)) {
			f.buf = f.buf[len(f.ctl.m.prompt):]
			f.answerPrompt()
			continue
		}
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			// Past the PID marker only sudo's words come, in whole
			// lines, before the command; a runaway partial line is the
			// command's own.
			if len(f.buf) > 4096 {
				f.pass()
			}
			break
		}
		// A terminal ends lines in \r\n.
		line := strings.TrimSuffix(string(f.buf[:i]), "\r")
		answered := f.answered
		f.answered = false
		switch {
		case answered && f.ctl.pty && line == "":
			f.buf = f.buf[i+1:] // sudo's newline after the unechoed password
		case strings.HasPrefix(line, f.ctl.m.pid):
			if pid, err := strconv.Atoi(strings.TrimSpace(line[len(f.ctl.m.pid):])); err == nil {
				f.ctl.started.Store(true)
				f.ctl.pidc <- pid
			}
			f.buf = f.buf[i+1:]
			if !f.ctl.sudo {
				f.ctl.commandStarted()
				f.pass()
			}
		case f.ctl.sudo && line == f.ctl.m.ready:
			f.buf = f.buf[i+1:]
			f.ctl.markReady()
			f.ctl.commandStarted()
			f.pass()
		default:
			// sudo's own messages ("Sorry, try again", "a password is
			// required") pass through as the command's stderr.
			if err := sudoRefusal(line); err != nil && f.ctl.sudo {
				f.ctl.sudoErr = err
			}
			if _, err := f.out.Write(f.buf[:i+1]); err != nil {
				return len(p), err
			}
			f.buf = f.buf[i+1:]
		}
	}
	return len(p), nil
}

// before takes what came before the PID marker: the login shell's.
func (f *stderrFilter) before(p []byte) {
	if f.banner != nil {
		_, _ = f.banner.Write(p)
		return
	}
	if f.err == nil {
		_, f.err = f.out.Write(p)
	}
}

// pass switches to pass-through, flushing what is buffered.
func (f *stderrFilter) pass() {
	f.passing = true
	if len(f.buf) > 0 {
		_, _ = f.out.Write(f.buf)
		f.buf = nil
	}
}

func (f *stderrFilter) flush() {
	f.split.flush(f.before)
	if !f.passing && len(f.buf) > 0 {
		_, _ = f.out.Write(f.buf)
		f.buf = nil
	}
	f.ctl.markReady()
}

// answerPrompt writes the password on the first prompt; a second prompt
// means the password was refused, so sudo is made to give up instead of
// retrying with whatever comes next: standard input is closed, which sudo
// reads as the end of its input. A terminal does not pass that end on (sshd
// keeps the pty open), so there the terminal's end-of-file character goes
// first; Exec closes the session if sudo still lingers.
func (f *stderrFilter) answerPrompt() {
	f.ctl.prompts++
	f.ctl.mu.Lock()
	defer f.ctl.mu.Unlock()
	if f.ctl.prompts == 1 {
		_, _ = f.ctl.stdin.Write(append(append([]byte{}, f.ctl.password...), '\n'))
		f.answered = true
		return
	}
	if f.ctl.sudoErr != nil {
		return // a third prompt, before sudo gave up
	}
	f.ctl.sudoErr = &Error{Kind: errSudo, Reason: "incorrect sudo password", Hint: "check the password given with -S"}
	if f.ctl.pty {
		_, _ = f.ctl.stdin.Write([]byte{ctrlD})
		f.answered = true // sudo prints a newline for that line too
	}
	f.ctl.stdin.Close()
	close(f.ctl.refused)
}

// ctrlD is the terminal's end-of-file character (VEOF), as the pty Exec
// requests leaves it: typed at the start of a line, it ends the reader's
// input.
const ctrlD = 4
