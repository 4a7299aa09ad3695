package main

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/term"
)

// pty is a pseudo-terminal whose slave end fleet writes to as it would to
// a person's terminal; everything written is read from the master end.
type pty struct {
	master, slave *os.File
	mu            sync.Mutex
	buf           bytes.Buffer
	done          chan struct{}
}

// openPTY opens a pty in raw mode (no "\n" to "\r\n" translation, so the
// test sees fleet's bytes as written) and starts reading it. The syscall
// package has what this needs on Linux; no pty library is required.
func openPTY(t *testing.T) *pty {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
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
	p := &pty{master: m, slave: s, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil { // EIO once the slave is closed
				return
			}
		}
	}()
	t.Cleanup(func() {
		p.slave.Close()
		<-p.done
		p.master.Close()
	})
	return p
}

// output closes the slave end and returns all that was written to it.
func (p *pty) output() string {
	p.slave.Close()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}
