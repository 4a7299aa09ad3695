package fleet

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// TestRunStartsHostsOnlyWithAHandshakeSlot: a host of the -p window is
// started (its event sent, its goroutine running) only once it can
// handshake, so hosts queued behind MaxHandshakes cost nothing; the window
// still fills with connected hosts, and a dial that fails before its
// handshake gives its slot back.
func TestRunStartsHostsOnlyWithAHandshakeSlot(t *testing.T) {
	checkGoroutines(t)
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	env.knowHost(srv)
	const handshakes, par, n = 2, 20, 60
	d := env.dialer(func(o *Options) { o.MaxHandshakes = handshakes; o.ConnectTimeout = time.Minute })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := inventory.Host{Name: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	hosts := make([]inventory.Host, n)
	for i := range hosts {
		hosts[i] = hostOf(srv)
		if i%10 == 0 {
			hosts[i] = dead // refused: its slot must come back
		}
	}
	inventory.Label(hosts)
	var dialing, peakDialing, running, peakRunning atomic.Int32
	peak := func(p *atomic.Int32, v int32) {
		for o := p.Load(); v > o && !p.CompareAndSwap(o, v); o = p.Load() {
		}
	}
	results := Run(context.Background(), d, hosts, RunOptions{Parallel: par, OnEvent: func(e Event) {
		switch {
		case e.Kind == HostStarted:
			peak(&peakDialing, dialing.Add(1))
		case e.Result.Outcome != OK:
			dialing.Add(-1) // never connected
		}
	}}, func(ctx context.Context, c *Conn, r *Result) error {
		dialing.Add(-1)
		peak(&peakRunning, running.Add(1))
		defer running.Add(-1)
		time.Sleep(200 * time.Millisecond) // long enough for connected hosts to pile up past the handshake limit
		return nil
	})
	s := Summarize(results)
	if s[OK] != n-n/10 || s[Unreachable] != n/10 {
		t.Fatalf("summary %v", s)
	}
	if p := peakDialing.Load(); p > handshakes {
		t.Errorf("%d hosts started and not connected at once; at most %d may be (MaxHandshakes)", p, handshakes)
	}
	if p := peakRunning.Load(); p < 3 || p > par {
		t.Errorf("peak of connected hosts %d: want a window above the handshake limit and at most -p %d", p, par)
	}
	for range handshakes { // every slot came back
		select {
		case d.slots <- struct{}{}:
		default:
			t.Fatal("a handshake slot was not given back")
		}
	}
}
