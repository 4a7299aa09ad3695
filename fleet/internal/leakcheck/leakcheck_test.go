package leakcheck

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestCheck: a snapshot passes when what started after it has ended, and
// reports a goroutine still running (by its stack) and a file still open.
func TestCheck(t *testing.T) {
	s, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { <-done }()
	close(done)
	if err := s.Check(time.Second); err != nil {
		t.Fatalf("clean: %v", err)
	}

	stop := make(chan struct{})
	go leakyGoroutine(stop)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Check(time.Second)
	close(stop)
	f.Close()
	if err == nil {
		t.Fatal("Check saw no leak")
	}
	if msg := err.Error(); !strings.Contains(msg, "leakyGoroutine") || !strings.Contains(msg, "open file descriptors: ") {
		t.Errorf("error %q lacks the goroutine's stack or the descriptor count", msg)
	}
	if d := time.Since(start); d < time.Second || d > 6*time.Second {
		t.Errorf("Check took %v, want about 1s", d)
	}
	if err := s.Check(time.Second); err != nil {
		t.Errorf("after the leaks ended: %v", err)
	}
}

func leakyGoroutine(stop <-chan struct{}) { <-stop }
