package fleet

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// blackHole proxies to target until frozen; then it stops passing bytes
// both ways but keeps the connections open, as a host that died behind a
// firewall looks from here.
type blackHole struct {
	frozen  atomic.Bool
	release chan struct{}
	once    sync.Once
}

func newBlackHole(t *testing.T, target string) (*blackHole, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{release: make(chan struct{})}
	t.Cleanup(func() { b.once.Do(func() { close(b.release) }); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go b.pipe(up, c)
			go b.pipe(c, up)
		}
	}()
	return b, l.Addr().(*net.TCPAddr).Port
}

func (b *blackHole) pipe(dst io.WriteCloser, src io.ReadCloser) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if b.frozen.Load() {
			<-b.release // swallow everything until the test ends
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestKeepaliveNoticesADeadHost: a host that stops answering in the middle
// of a command is noticed by keepalives (ServerAliveInterval and
// ServerAliveCountMax, as ssh reads them) and the command ends as a lost
// connection instead of hanging until the run's timeout.
func TestKeepaliveNoticesADeadHost(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	hole, port := newBlackHole(t, srv.Addr)
	d := env.dialer(withOverrides("ServerAliveInterval", "1", "ServerAliveCountMax", "2"))
	ctx := testContext(t, 20*time.Second)
	c, err := d.Dial(ctx, inventory.Host{Name: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- c.Exec(ctx, &Command{Line: "sleep 30"}) }()
	time.Sleep(300 * time.Millisecond)
	hole.frozen.Store(true)
	start := time.Now()
	select {
	case err := <-done:
		err = Classify(ctx, err)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want the connection reported lost", err)
		}
		if el := time.Since(start); el > 8*time.Second {
			t.Fatalf("noticed after %s", el)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a silent host was not noticed: Exec still waiting after 15 s")
	}
}
