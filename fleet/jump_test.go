package fleet

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// countingProxy forwards loopback TCP connections to addr and counts those
// accepted and those still open, so a test can see a connection the client
// never closed.
type countingProxy struct {
	ln             net.Listener
	accepted, open atomic.Int32
	wg             sync.WaitGroup
	mu             sync.Mutex
	conns          []net.Conn
}

// newCountingProxy starts the proxy; with resetFirst it resets the first
// connection at once, as sshd does past MaxStartups.
func newCountingProxy(t *testing.T, addr string, resetFirst bool) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.accepted.Add(1) == 1 && resetFirst {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				continue
			}
			p.open.Add(1)
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer p.open.Add(-1)
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up) // ends when the client closes (up then closes)
			}()
		}
	}()
	t.Cleanup(func() {
		// Closing what is still open ends the copies, leaked or not.
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// waitOpen waits up to 3 s for the proxy to have n connections open.
func (p *countingProxy) waitOpen(n int32) bool {
	return sshtest.Eventually(3*time.Second, func() bool { return p.open.Load() == n })
}

// When the second hop of a ProxyJump chain fails, the first hop's
// connection is closed: the failed chain is never stored, so nothing else
// would ever close it. (The in-process server refuses forwarding, so the
// second hop always fails, after the first hop's login succeeded.)
func TestDialChainClosesEarlierHopWhenALaterOneFails(t *testing.T) {
	env := newEnv(t)
	first := env.server(sshtest.Config{})
	p := newCountingProxy(t, first.Addr, false)
	d := env.dialer()
	ctx := testContext(t, 10*time.Second)
	_, err := d.dialChain(ctx, "127.0.0.1:"+strconv.Itoa(p.port())+",127.0.0.1:1")
	if err == nil {
		t.Fatal("the chain through a server without forwarding was dialled")
	}
	if first.Handshakes() != 1 {
		t.Fatalf("first hop: %d handshakes, want 1 (err %v)", first.Handshakes(), err)
	}
	if !p.waitOpen(0) {
		t.Fatalf("the first hop's connection is still open after the second hop failed: %v", err)
	}
	want := "unreachable: jump host 127.0.0.1:1: 127.0.0.1:" + strconv.Itoa(p.port()) + " refused to forward to it: "
	if !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), "jump host") != 1 {
		t.Errorf("error = %q, want it to start %q", err, want)
	}
}

// A jump host's failure is the target's unreachability, said once, with
// the hop's own kind and hint: not the target's authentication failure,
// not "jump host ...: jump host ...".
func TestJumpHostErrorsSayItWasTheJumpHost(t *testing.T) {
	env := newEnv(t)
	target := inventory.Host{Name: "127.0.0.1", Port: 1, Label: "target"}
	refusedPort := closedPort(t)
	noAuth := sshtest.Start(t, sshtest.Config{}) // accepts no key
	strict := env.server(sshtest.Config{})
	tests := []struct {
		name, jump string
		opts       func(*Options)
		hopKind    error
		want       string
	}{
		{"auth", noAuth.Addr, nil, ErrAuth, "unreachable: jump host " + noAuth.Addr + ": authentication failed: "},
		{"refused", "127.0.0.1:" + strconv.Itoa(refusedPort), nil, ErrUnreachable,
			"unreachable: jump host 127.0.0.1:" + strconv.Itoa(refusedPort) + ": connection refused"},
		{"host key", strict.Addr, withOverrides("StrictHostKeyChecking", "yes"), ErrHostKey,
			"unreachable: jump host " + strict.Addr + ": host key verification failed: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := env.dialer(func(o *Options) {
				o.ProxyJump = tt.jump
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			r := Run(context.Background(), d, []inventory.Host{target}, RunOptions{Parallel: 1},
				func(context.Context, *Conn, *Result) error { return nil })[0]
			msg := r.Err.Error()
			if r.Outcome != Unreachable || !strings.HasPrefix(msg, tt.want) {
				t.Fatalf("outcome %v, error %q; want unreachable starting %q", r.Outcome, msg, tt.want)
			}
			if n := strings.Count(msg, "jump host"); n != 1 {
				t.Errorf("%q says \"jump host\" %d times", msg, n)
			}
			if strings.Contains(msg, "target") || strings.Contains(msg, ":1:") {
				t.Errorf("%q names the target", msg)
			}
			var fe *Error
			if !errors.As(r.Err, &fe) || fe.Kind != ErrUnreachable {
				t.Errorf("%#v: want kind unreachable", r.Err)
			}
			if tt.hopKind != ErrUnreachable && errors.Is(r.Err, tt.hopKind) {
				t.Errorf("%v: the hop's %v is taken for the target's", r.Err, tt.hopKind)
			}
			if tt.hopKind != ErrUnreachable && Hint(r.Err) == "" {
				t.Errorf("the hop's hint was lost: %v", r.Err)
			}
		})
	}
}
