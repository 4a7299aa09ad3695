package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
	"github.com/fleet-sh/fleet/inventory"
)

// stuckWriter is a pipe nobody reads: every Write blocks until release.
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) Write(b []byte) (int, error) {
	<-w.release
	return len(b), nil
}

// lockedBuffer is a bytes.Buffer safe for the printer's lanes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// endedJob is a job of one failed host whose log went past --max-log, with
// its record started and its printer writing stderr to w.
func endedJob(t *testing.T, w *lockedBuffer, stuck *stuckWriter) (*job, []fleet.Result) {
	t.Helper()
	hosts := []inventory.Host{{Name: "web1", Label: "web1"}}
	rec, err := record.New(t.TempDir(), record.Info{Command: "run", Args: []string{"run", "-H", "web1", "x"}}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	rec.MaxLog = 4
	l := rec.HostLog(0)
	_, _ = l.Stdout().Write([]byte("more than four bytes\n"))
	var stderr interface{ Write([]byte) (int, error) } = w
	if stuck != nil {
		stderr = stuck
	}
	j := &job{env: &environment{stderr: stderr}, targets: &targetOptions{maxLog: 4, hosts: hosts}, record: rec,
		logs: []*record.HostLog{l}}
	j.printer = ui.New(ui.Options{Stdout: stderr, Stderr: stderr, Total: 1})
	results := []fleet.Result{{Index: 0, Host: hosts[0], Outcome: fleet.Failed, Err: &fleet.ExitError{Status: 3}}}
	return j, results
}

// TestJobEndLinesAfterSummary: the lines about the record (logs cut at
// --max-log, where the failed hosts are) come after the summary line.
func TestJobEndLinesAfterSummary(t *testing.T) {
	var w lockedBuffer
	j, results := endedJob(t, &w, nil)
	j.end(results, exitRemote, time.Second)
	got := w.String()
	summary := strings.Index(got, "1 host: 0 ok, 1 failed")
	cut := strings.Index(got, "fleet: warning: 1 of 1 hosts printed more than --max-log")
	failed := strings.Index(got, "fleet: the hosts that did not succeed are in "+j.record.Dir+"/failed")
	if summary < 0 || cut < summary || failed < cut {
		t.Errorf("want the summary, then the --max-log warning, then the failed file; got\n%s", got)
	}
}

// TestJobEndDoesNotBlock: with stderr a pipe nobody reads and a second
// Ctrl-C (Abort), the end of the run returns although nothing is read.
// fleet wrote the lines about the record straight to stderr after the
// printer's Finish, and blocked there for ever.
func TestJobEndDoesNotBlock(t *testing.T) {
	stuck := &stuckWriter{release: make(chan struct{})}
	defer close(stuck.release)
	j, results := endedJob(t, nil, stuck)
	j.printer.Abort()
	done := make(chan struct{})
	go func() { j.end(results, exitRemote, time.Second); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the run waits for a reader that does not read")
	}
}
