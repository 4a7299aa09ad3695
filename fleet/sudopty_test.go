package fleet

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// recordingStdin stands for the session's standard input.
type recordingStdin struct {
	mu     sync.Mutex
	b      bytes.Buffer
	closed bool
}

func (r *recordingStdin) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("closed")
	}
	return r.b.Write(p)
}

func (r *recordingStdin) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// ptyFilter is the filter Exec puts on a pty's one stream under sudo -S.
func ptyFilter(out *bytes.Buffer) (*stderrFilter, *control, *recordingStdin) {
	in := &recordingStdin{}
	ctl := &control{m: newMarkers(), sudo: true, pty: true, password: []byte("hunter2"), stdin: in,
		pidc: make(chan int, 1), ready: make(chan struct{}), refused: make(chan struct{})}
	return &stderrFilter{ctl: ctl, out: out}, ctl, in
}

// TestPTYFilterTakesOutMarkersAndSudoNewline feeds the filter what a
// terminal carries, in pieces: the markers with \r\n, sudo's prompt, the
// newline sudo prints after the unechoed password. Only the command's
// output is passed on, and the password went to stdin once.
func TestPTYFilterTakesOutMarkersAndSudoNewline(t *testing.T) {
	var out bytes.Buffer
	f, ctl, in := ptyFilter(&out)
	stream := ctl.m.pid + "4242\r\n" + ctl.m.prompt + "\r\n" + ctl.m.ready + "\r\nout\r\n\r\nlast\r\n"
	for i := 0; i < len(stream); i += 5 {
		_, _ = f.Write([]byte(stream[i:min(i+5, len(stream))]))
	}
	f.flush()
	if got, want := out.String(), "out\r\n\r\nlast\r\n"; got != want {
		t.Errorf("passed on %q, want %q", got, want)
	}
	if got := in.b.String(); got != "hunter2\n" {
		t.Errorf("stdin got %q, want the password once", got)
	}
	if pid := <-ctl.pidc; pid != 4242 {
		t.Errorf("pid %d", pid)
	}
	select {
	case <-ctl.ready:
	default:
		t.Error("the ready marker was not seen")
	}
}

// TestPTYFilterWrongPassword: a second prompt on a terminal fails at once:
// the terminal's end-of-file character is typed (closing stdin does not
// reach a reader of a pty), stdin closed, Exec told, and the password
// never written twice.
func TestPTYFilterWrongPassword(t *testing.T) {
	var out bytes.Buffer
	f, ctl, in := ptyFilter(&out)
	_, _ = f.Write([]byte(ctl.m.pid + "7\r\n" + ctl.m.prompt))
	_, _ = f.Write([]byte("\r\nSorry, try again.\r\n" + ctl.m.prompt))
	_, _ = f.Write([]byte("\r\nsudo: no password was provided\r\n"))
	f.flush()
	select {
	case <-ctl.refused:
	default:
		t.Fatal("Exec was not told of the refusal")
	}
	if !errors.Is(ctl.sudoErr, errSudo) || !strings.Contains(ctl.sudoErr.Error(), "incorrect sudo password") {
		t.Errorf("sudoErr %v", ctl.sudoErr)
	}
	if got := in.b.String(); got != "hunter2\n\x04" || !in.closed {
		t.Errorf("stdin got %q (closed %v), want the password, then ^D, then closed", got, in.closed)
	}
	if got, want := out.String(), "Sorry, try again.\r\nsudo: no password was provided\r\n"; got != want {
		t.Errorf("passed on %q, want %q", got, want)
	}
}

// TestSudoPTYOnTestServer runs sudo -S with a pty on the in-process server
// (whose pty merges stderr into stdout, as a terminal does, without the
// \r\n): the right password gives exactly the command's output, a wrong
// one fails at once with the message it gets without a pty.
func TestSudoPTYOnTestServer(t *testing.T) {
	c, _ := sudoServer(t, sshtest.Config{})
	var out bytes.Buffer
	err := execOn(t, c, &Command{Line: "echo out; echo err >&2", PTY: true, Sudo: true, SudoPassword: []byte("hunter2"), Stdout: &out})
	if err != nil || out.String() != "out\nerr\n" {
		t.Fatalf("got %v, output %q, want only the command's", err, out.String())
	}
	out.Reset()
	start := time.Now()
	err = execOn(t, c, &Command{Line: "echo ran", PTY: true, Sudo: true, SudoPassword: []byte("wrong"), Stdout: &out})
	if !errors.Is(err, errSudo) || !strings.Contains(err.Error(), "incorrect sudo password") {
		t.Fatalf("got %v, output %q", err, out.String())
	}
	if d := time.Since(start); d > refusedGrace {
		t.Errorf("a refused password took %v", d)
	}
	if s := out.String(); strings.Contains(s, "wrong") || strings.Contains(s, "ran") || strings.Contains(s, "fleet-") {
		t.Errorf("output %q: the password, the command or a marker got out", s)
	}
}
