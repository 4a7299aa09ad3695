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
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var log bytes.Buffer
	f, err := harness.Start(ctx, harness.Options{Hosts: n, Log: &log})
	if err != nil {
		t.Fatalf("starting a fleet of %d hosts: %v\n%s", n, err, log.String())
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("stopping the fleet of %d hosts: %v", n, err)
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
