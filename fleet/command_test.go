package fleet

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

func TestInFlightWaitHonoursItsContext(t *testing.T) {
	var f inFlight
	if err := f.wait(context.Background()); err != nil {
		t.Fatalf("nothing counted: wait = %v", err)
	}
	done := f.add()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("one counted: wait = %v, want the context's deadline", err)
	}
	done()
	done() // twice is once
	if err := f.wait(context.Background()); err != nil {
		t.Fatalf("settled: wait = %v", err)
	}
	// Commands start and end while CloseAll waits (the race detector
	// watches this).
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				f.add()()
			}
		}()
	}
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_ = f.wait(ctx)
		cancel()
	}
	wg.Wait()
	if err := f.wait(context.Background()); err != nil {
		t.Fatalf("all settled: wait = %v", err)
	}
}

// CloseAll waits for a running command until its context ends, and no
// longer: then the connection goes and the command fails at once.
func TestCloseAllWaitsForRunningCommandsUntilItsContextEnds(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	d := env.dialer()
	c := dial(t, d, srv)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Exec(context.Background(), &Command{Line: "echo go; exec sleep 30", Stdout: signalWriter(started)})
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	d.CloseAll(ctx)
	if waited := time.Since(begin); waited < 250*time.Millisecond || waited > 3*time.Second {
		t.Errorf("CloseAll returned after %s; want it to wait for the command until its context's 300ms", waited)
	}
	select {
	case err := <-done:
		if OutcomeOf(Classify(context.Background(), err)) != Unreachable {
			t.Errorf("the command cut by CloseAll: %v, want unreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command still runs after CloseAll closed its connection")
	}
	if _, err := d.Dial(context.Background(), hostOf(srv)); !errors.Is(err, ErrCancelled) {
		t.Errorf("Dial after CloseAll: %v, want cancelled", err)
	}
}

// A command whose kill reached the host no longer holds CloseAll: the
// second Ctrl-C right after the first waits only that long.
func TestCloseAllReturnsOnceTheKillsReachedTheHosts(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	d := env.dialer()
	c := dial(t, d, srv)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Exec(ctx, &Command{Line: "echo $$ > " + Quote(pidFile) + "; echo go; exec sleep 30", Stdout: signalWriter(started)})
	}()
	<-started
	cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	begin := time.Now()
	d.CloseAll(wctx)
	if waited := time.Since(begin); waited > 4*time.Second {
		t.Errorf("CloseAll waited %s for a command whose kill was sent", waited)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled command: %v", err)
	}
	assertKilled(t, pidFile)
}

// signalWriter closes ch at the first write.
func signalWriter(ch chan struct{}) *onceWriter { return &onceWriter{ch: ch} }

type onceWriter struct {
	once sync.Once
	ch   chan struct{}
}

func (w *onceWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(p), nil
}
