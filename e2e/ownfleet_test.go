package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// startOwnFleet starts a fleet of n plain sshd hosts for one test (the
// shared fleet has 4, and tests that count connections or processes per
// host must not share theirs) and stops it when the test ends.
func startOwnFleet(t *testing.T, n int) *harness.Fleet {
	t.Helper()
	return startFleet(t, harness.Options{Hosts: n})
}

// startFleet starts a fleet of the test's own and stops it when the test
// ends. Fault and distro hosts need an overlay filesystem: without one the
// test is skipped with the reason.
func startFleet(t *testing.T, opts harness.Options) *harness.Fleet {
	t.Helper()
	if len(opts.Faults)+len(opts.Distros) > 0 {
		if err := harness.OverlayAvailable(); err != nil {
			t.Skipf("fault and distro hosts are not possible here: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var log bytes.Buffer
	opts.Log = &log
	f, err := harness.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting a fleet: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("stopping the fleet: %v", err)
		}
	})
	return f
}

// hostsFile writes a host file naming hosts as user@addr:port, one a line.
func hostsFile(t *testing.T, user string, hosts []harness.Host) string {
	t.Helper()
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintln(&b, label(user, h))
	}
	return writeFile(t, filepath.Join(t.TempDir(), "hosts"), b.String(), 0o600)
}

// sshdLog returns what h's sshd has logged so far (LogLevel VERBOSE: one
// "Connection from" line per TCP connection, one "Accepted METHOD for USER"
// per login).
func sshdLog(t *testing.T, f *harness.Fleet, h harness.Host) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Dir, "sshd", h.Addr, "sshd.log"))
	if err != nil {
		t.Fatalf("sshd log of %s: %v", h.Addr, err)
	}
	return string(b)
}
