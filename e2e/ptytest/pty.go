// Package ptytest gives tests a pseudo-terminal to run fleet on, as a
// person's terminal: what fleet writes to the slave end is read from the
// master end. The syscall package has all this needs on Linux; no pty
// library is required.
package ptytest

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/rivo/uniseg"
	"golang.org/x/term"
)

// PTY is an open pseudo-terminal whose output a goroutine collects.
type PTY struct {
	// Master is the side a person's terminal emulator holds: write to it
	// to type.
	Master *os.File
	// Slave is the side a program's stdin, stdout or stderr is set to.
	Slave *os.File
	mu    sync.Mutex
	buf   bytes.Buffer
	done  chan struct{}
}

// Open opens a pty in raw mode, so the test sees the program's bytes
// without the terminal's "\n" to "\r\n" translation, and starts reading it.
// The test's cleanup closes it.
func Open(t testing.TB) *PTY {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pty slave: %v", err)
	}
	if _, err := term.MakeRaw(int(s.Fd())); err != nil {
		t.Fatalf("raw mode: %v", err)
	}
	p := &PTY{Master: m, Slave: s, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil { // EIO once every slave descriptor is closed
				return
			}
		}
	}()
	t.Cleanup(func() {
		p.Slave.Close()
		<-p.done
		p.Master.Close()
	})
	return p
}

// SetSize sets the terminal's size, as a terminal emulator does when its
// window is resized. The kernel sends SIGWINCH to the terminal's
// foreground process group, if it has one; a test that runs the program
// in its own process sends it itself.
func (p *PTY) SetSize(cols, rows int) error {
	ws := struct{ rows, cols, x, y uint16 }{uint16(rows), uint16(cols), 0, 0}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, p.Master.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); e != 0 {
		return fmt.Errorf("set the terminal size: %w", e)
	}
	return nil
}

// Seen returns what was written to the terminal so far.
func (p *PTY) Seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// Output closes this process's slave descriptor and returns all that was
// written to the terminal, once every other holder (a child) has closed
// it too.
func (p *PTY) Output() string {
	p.Slave.Close()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// Wraps counts how often text written to a terminal cols wide runs past
// its last column and wraps to the next row, as a terminal does. A
// progress line that wraps leaves a stale row on the screen at every
// redraw. CR and LF return to the first column (LF as the terminal's
// ONLCR does); CSI sequences take no room.
func Wraps(out string, cols int) int {
	n, col := 0, 0
	for i := 0; i < len(out); {
		c := out[i]
		switch {
		case c == '\r' || c == '\n':
			col = 0
			i++
		case c == 0x1b && i+1 < len(out) && out[i+1] == '[':
			i += 2
			for i < len(out) && (out[i] < 0x40 || out[i] > 0x7e) {
				i++
			}
			i++
		case c < 0x20:
			i++
		default:
			r, size := utf8.DecodeRuneInString(out[i:])
			w := uniseg.StringWidth(string(r))
			if col+w > cols {
				n++
				col = 0
			}
			col += w
			i += size
		}
	}
	return n
}
