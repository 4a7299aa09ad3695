// Package leakcheck tells a test whether it left goroutines or file
// descriptors behind. Goroutines are compared by identity with
// go.uber.org/goleak, so one goroutine that ended cannot hide another that
// leaked, as a bare runtime.NumGoroutine count could; goleak has no file
// descriptor check, so descriptors are counted in /proc/self/fd.
//
// Neither can tell one test's goroutines from another's: use it only in
// tests that do not call t.Parallel.
package leakcheck

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Settle is how long Goroutines waits for goroutines to go: connections
// close asynchronously, and a busy two-core machine under the race
// detector is slow to run the goroutines that end them.
const Settle = 3 * time.Second

// A Snapshot is what the process was running and had open at one moment.
type Snapshot struct {
	ignore goleak.Option // the goroutines running then
	fds    int           // -1 when not counted
}

// Take records the goroutines and the number of open file descriptors now.
func Take() (*Snapshot, error) {
	n, err := OpenFDs()
	if err != nil {
		return nil, err
	}
	return &Snapshot{ignore: goleak.IgnoreCurrent(), fds: n}, nil
}

// Check waits up to wait until every goroutine started since the snapshot
// has ended and no more descriptors are open than then; otherwise it
// returns an error with the leaked goroutines' stacks and the counts.
func (s *Snapshot) Check(wait time.Duration) error {
	var gerr error
	fds := 0
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		gerr = goleak.Find(s.ignore) // retries for a moment itself
		var err error
		if s.fds >= 0 {
			if fds, err = OpenFDs(); err != nil {
				return err
			}
		}
		fdsOK := s.fds < 0 || fds <= s.fds
		if gerr == nil && fdsOK || time.Now().After(deadline) {
			break
		}
	}
	var msgs []string
	if s.fds >= 0 && fds > s.fds {
		msgs = append(msgs, fmt.Sprintf("open file descriptors: %d before, %d after", s.fds, fds))
	}
	if gerr != nil {
		msgs = append(msgs, gerr.Error())
	}
	if msgs == nil {
		return nil
	}
	return fmt.Errorf("leakcheck: %s", strings.Join(msgs, "\n"))
}

// Goroutines fails t if goroutines started from now on are still running
// a few seconds after t and its earlier-registered cleanups have finished
// (call it first, so that its cleanup runs last).
func Goroutines(t testing.TB) {
	t.Helper()
	s := &Snapshot{ignore: goleak.IgnoreCurrent(), fds: -1}
	t.Cleanup(func() {
		if err := s.Check(Settle); err != nil {
			t.Error(err)
		}
	})
}

// OpenFDs counts this process's open file descriptors.
func OpenFDs() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("leakcheck: counting file descriptors: %w", err)
	}
	return len(ents) - 1, nil // the one ReadDir itself had open
}
