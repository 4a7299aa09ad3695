package fleet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/internal/leakcheck"
	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// TestRun500HostsLeaksNothing runs a command on 500 hosts, each its own
// SSH server on its own port, 200 at a time, as `fleet run -p 200` does:
// one dialer, a run record with a log per host, every output line checked.
// Ten more hosts are closed ports. Afterwards the goroutines and the file
// descriptors of this process must come back to what they were before the
// run: a leak of one per host would show as hundreds.
//
// It takes about 6 s under the race detector on a two-core machine.
func TestRun500HostsLeaksNothing(t *testing.T) {
	const hostCount, par = 500, 200
	const closedCount = 10
	env := newEnv(t)
	hostKey := sshtest.NewClientKey(t) // one host key for all: 500 keys would only cost time
	var servers []*sshtest.Server
	var known strings.Builder
	for range hostCount {
		srv := env.server(sshtest.Config{HostKey: hostKey, Home: t.TempDir()})
		servers = append(servers, srv)
		known.WriteString(srv.KnownHostsLine() + "\n")
	}
	writeFile(t, env.knownHosts(), known.String(), 0o600)
	var hosts []inventory.Host
	closed := map[int]bool{} // by index in hosts
	for i, srv := range servers {
		hosts = append(hosts, hostOf(srv))
		if i%(hostCount/closedCount) == 0 {
			closed[len(hosts)] = true
			hosts = append(hosts, inventory.Host{Name: "127.0.0.1", Port: closedPort(t)})
		}
	}
	inventory.Label(hosts)
	stateDir := t.TempDir()

	// The baseline: the servers are up (their listeners and accept loops
	// belong to the test, not to the engine) and nothing of the run exists.
	runtime.GC()
	before, err := leakcheck.Take()
	if err != nil {
		t.Fatal(err)
	}

	// Handshakes of hundreds of hosts at once on a busy two-core machine
	// are slow; this test is about leaks, not about connect timeouts.
	d := env.dialer(func(o *Options) { o.ConnectTimeout = 2 * time.Minute })
	// Each host's output goes to a file of its own, as the run record's
	// logs do (fleet/record cannot be imported here: it imports fleet).
	logs := make([]*os.File, len(hosts))
	var inFlight, peak atomic.Int32
	onEvent := func(e Event) {
		switch e.Kind {
		case HostStarted:
			f, err := os.Create(filepath.Join(stateDir, fmt.Sprintf("%d.log", e.Index)))
			if err != nil {
				panic(err)
			}
			logs[e.Index] = f
			raisePeak(&peak, inFlight.Add(1))
		case HostDone:
			if l := logs[e.Index]; l != nil {
				fmt.Fprintln(l, "end "+e.Result.Outcome.String())
				l.Close()
				inFlight.Add(-1)
			}
		}
	}
	var mu sync.Mutex
	outputs := make([]string, len(hosts))
	started := time.Now()
	results := Run(context.Background(), d, hosts, RunOptions{Parallel: par, OnEvent: onEvent},
		func(ctx context.Context, c *Conn, r *Result) error {
			var out strings.Builder
			l := logs[r.Index]
			err := c.Exec(ctx, &Command{Line: `echo "host $PSSH_HOST"; echo warn >&2`,
				Env:    [][2]string{{"PSSH_HOST", r.Host.Label}},
				Stdout: io.MultiWriter(&out, l), Stderr: l})
			mu.Lock()
			outputs[r.Index] = out.String()
			mu.Unlock()
			return err
		})
	elapsed := time.Since(started)

	s := Summarize(results)
	if s[OK] != hostCount || s[Unreachable] != closedCount || len(results) != hostCount+closedCount {
		for i, r := range results {
			if (r.Outcome == OK) == closed[i] {
				t.Errorf("first unexpected outcome: %s: %v %v", r.Host.Label, r.Outcome, r.Err)
				break
			}
		}
		t.Fatalf("summary %v, want %d ok and %d unreachable", s, hostCount, closedCount)
	}
	for i, r := range results {
		if r.Outcome == OK && outputs[i] != "host "+r.Host.Label+"\n" {
			t.Fatalf("%s printed %q", r.Host.Label, outputs[i])
		}
	}
	if p := int(peak.Load()); p > par || p < par/4 {
		t.Errorf("peak in flight %d, want at most %d and a real window", p, par)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Every host has its log, with its output in it.
	logFiles, _ := filepath.Glob(filepath.Join(stateDir, "*.log"))
	if len(logFiles) != len(hosts) {
		t.Errorf("%d host logs, want %d", len(logFiles), len(hosts))
	}

	// The servers close their side when the client has gone, so both
	// goroutines and descriptors settle within a moment.
	t.Logf("%d hosts (+%d closed ports) at -p %d in %v (peak %d in flight)",
		hostCount, closedCount, par, elapsed.Round(time.Millisecond), peak.Load())
	if err := before.Check(10 * time.Second); err != nil {
		t.Error(err)
	}
}
