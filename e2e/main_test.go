// Package e2e runs the fleet binary, exactly as a user would, against a
// fleet of real OpenSSH hosts on this machine (see package harness).
//
// TestMain builds fleet once and starts one harness fleet of 4 hosts that
// every test shares; each test gets its own HOME and FLEET_STATE_DIR, so the
// tests run in parallel. The harness needs root; without it every test is
// skipped with the reason.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// Set by TestMain, read-only afterwards.
var (
	// skipReason, when not empty, is why no test can run here; every test
	// skips with it.
	skipReason string
	// fleetBin is the fleet binary built for this test run.
	fleetBin string
	// testFleet is the fleet of sshd hosts shared by every test.
	testFleet *harness.Fleet
)

// numHosts is the size of the shared fleet: enough to tell "every host"
// from "one host" and to mix outcomes in one run.
const numHosts = 4

// startTimeout bounds the harness start-up, which on a fresh machine
// includes apt-get installing openssh-server and sudo.
const startTimeout = 12 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

// testMain is TestMain's body, so that deferred clean-up runs before the
// process exits.
func testMain(m *testing.M) int {
	if uid := os.Geteuid(); uid != 0 {
		skipReason = fmt.Sprintf("e2e tests need root (euid is %d): the harness creates users, "+
			"writes /etc/sudoers.d and runs sshd; run them as root, as CI does", uid)
		fmt.Fprintln(os.Stderr, "e2e: skipping every test:", skipReason)
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "fleet-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if fleetBin, err = buildFleet(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	testFleet, err = harness.Start(ctx, harness.Options{Hosts: numHosts, Log: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the harness fleet:", err)
		return 1
	}
	// The sshd processes live in their own session and would outlive us:
	// stop them on every way out that Go lets us catch, including Ctrl-C.
	stopped := make(chan struct{})
	stop := func() {
		select {
		case <-stopped:
			return
		default:
			close(stopped)
		}
		if err := testFleet.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping the harness fleet:", err)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the harness fleet\n", sig)
		stop()
		os.Exit(1)
	}()
	defer func() {
		signal.Stop(sigs)
		close(sigs)
		stop()
	}()
	return m.Run()
}

// buildFleet builds ./cmd/fleet of this module into dir and returns the
// binary's path.
func buildFleet(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if goroot := os.Getenv("GOROOT"); goroot != "" {
			goTool = filepath.Join(goroot, "bin", "go")
		} else {
			return "", fmt.Errorf("building fleet: no go tool in PATH: %w", err)
		}
	}
	bin := filepath.Join(dir, "fleet")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/fleet")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/fleet: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot walks up from the working folder (the package's, under go
// test) to the folder holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working folder")
		}
		dir = parent
	}
}
