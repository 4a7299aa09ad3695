package fleet

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// TestCopyMemoryIsBoundedByFileNotHosts sends a 100 MB file to 20 hosts and
// checks that the heap never holds anything like a copy per host: each host
// streams the file from disk.
func TestCopyMemoryIsBoundedByFileNotHosts(t *testing.T) {
	if raceEnabled {
		t.Skip("skipped under the race detector, which multiplies memory; make test runs it without (see Makefile: unit)")
	}
	env := newEnv(t)
	srv := env.server(sshtest.Config{SFTP: true})
	d := env.dialer()
	const size = 100 << 20
	p := filepath.Join(t.TempDir(), "big")
	f, _ := os.Create(p)
	buf := make([]byte, 1<<20)
	for i := 0; i < size>>20; i++ {
		rand.Read(buf)
		f.Write(buf)
	}
	f.Close()
	src, err := StatLocal(p)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	hosts := hostsOf(srv, 20)

	peak := watchHeapPeak(20 * time.Millisecond)
	results := Run(context.Background(), d, hosts, RunOptions{Parallel: 20}, func(ctx context.Context, c *Conn, r *Result) error {
		_, err := c.Put(ctx, src, filepath.Join(out, r.Host.Label), PutOptions{InFlight: 20})
		return err
	})
	peakHeap := peak()
	if s := Summarize(results); s[OK] != 20 {
		t.Fatalf("results %v: %v", s, results[0].Err)
	}
	// The client and the in-process server share this heap; 20 copies of
	// the file would be 2 GB.
	if p := peakHeap; p > 256<<20 {
		t.Fatalf("peak heap %d MiB for 20 hosts x 100 MB", p>>20)
	} else {
		t.Logf("peak heap %d MiB for 20 hosts x 100 MB", p>>20)
	}
}
