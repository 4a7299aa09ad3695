package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// client is one contestant: a command line run as a child process.
type client struct {
	Name     string
	Argv     []string
	StateDir string   // when set, the client's FLEET_STATE_DIR
	Env      []string // added to the environment (envFor)
	Dir      string   // working directory; "" = the bench's
	Runs     int      // measured runs in a group; 0 = -runs
}

// sample is what one run of a client cost.
type sample struct {
	Wall    time.Duration
	CPU     time.Duration // user+sys of the client and every child it waited for
	MaxRSS  int64         // KiB; for a forking client, the largest single process
	SSHDCPU time.Duration // user+sys the sshd side spent meanwhile
	// OtherCPU is the machine's busy time during the run minus CPU and
	// SSHDCPU: other processes, and kernel work charged to no process.
	OtherCPU time.Duration
	Window   time.Duration // over which SSHDCPU and OtherCPU were measured
	TreeRSS  int64         // KiB, peak sum over the client's process tree; sampled, warm-up only
	// SpawnerRSS (KiB) is the least MaxRSS can show: see spawnMain.
	SpawnerRSS int64
	Err        error // the run failed: not a timing
}

func (s sample) String() string {
	if s.Err != nil {
		return "FAILED: " + s.Err.Error()
	}
	t := fmt.Sprintf("wall %.2fs cpu %.2fs maxrss %.1fMiB sshd %.2fs other %.2fs window %.2fs", s.Wall.Seconds(),
		s.CPU.Seconds(), benchreport.MiB(s.MaxRSS), s.SSHDCPU.Seconds(), s.OtherCPU.Seconds(), s.Window.Seconds())
	if s.TreeRSS > 0 {
		t += fmt.Sprintf(" tree-rss %.1fMiB", benchreport.MiB(s.TreeRSS))
	}
	return t
}

// envFor is the environment of every client: ours without an ssh-agent
// (IdentitiesOnly is set, but an agent would still be contacted) and
// without the clients' own defaults (PSSH_*, FLEET_*, PDSH_*,
// CLUSTERSHELL_*, ANSIBLE_*) that would change what is measured; then the
// client's own additions.
func envFor(c client) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SSH_AUTH_SOCK=") || slices.ContainsFunc(clientEnvPrefixes, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			continue
		}
		env = append(env, kv)
	}
	if c.StateDir != "" {
		env = append(env, "FLEET_STATE_DIR="+c.StateDir)
	}
	return append(env, c.Env...)
}

var clientEnvPrefixes = []string{"PSSH_", "FLEET_", "PDSH_", "CLUSTERSHELL_", "ANSIBLE_"}

// measure runs c once, through the spawner (see spawnMain). Before and
// after, it waits for the sshd masters to have reaped every connection
// child, so that the sshd CPU of this run (and none of the previous one) is
// in their cutime/cstime. withTree samples the RSS of the client's whole
// process tree, which costs the bench some CPU and is therefore done only on
// warm-up runs.
func measure(ctx context.Context, c client, masters []int, withTree bool) (s sample) {
	if _, err := waitReaped(ctx, masters, 30*time.Second); err != nil {
		return sample{Err: err}
	}
	before, busyBefore, t0 := sshdTicks(masters), procstat.MachineBusyTicks(), time.Now()
	// Files rather than pipes, so that the bench runs no goroutine copying
	// output while the client is timed.
	errf, err := os.CreateTemp("", "fleet-bench-stderr-")
	if err != nil {
		return sample{Err: err}
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	outf, err := os.CreateTemp("", "fleet-bench-result-")
	if err != nil {
		return sample{Err: err}
	}
	defer os.Remove(outf.Name())
	defer outf.Close()

	rctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return sample{Err: err}
	}
	cmd := exec.CommandContext(rctx, self, append([]string{spawnFlag}, c.Argv...)...)
	cmd.Env = envFor(c)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = outf, errf
	// Its own process group, which the client joins: a timeout or Ctrl-C
	// kills the spawner, the client and parallel-ssh's ssh children at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return sample{Err: err}
	}
	var tree chan int64
	stop := make(chan struct{})
	if withTree {
		tree = make(chan int64, 1)
		go func() { tree <- procstat.TreeRSS(cmd.Process.Pid, stop) }()
	}
	werr := cmd.Wait()
	close(stop)
	if tree != nil {
		s.TreeRSS = <-tree
	}
	adopted, err := waitReaped(ctx, masters, 30*time.Second)
	if err != nil {
		return sample{Err: err}
	}
	s.SSHDCPU = procstat.Ticks(sshdTicks(masters)-before) + adopted
	busy := procstat.Ticks(procstat.MachineBusyTicks() - busyBefore)
	s.Window = time.Since(t0)

	var r spawnResult
	b, _ := os.ReadFile(outf.Name())
	jerr := json.Unmarshal(b, &r)
	switch {
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		s.Err = fmt.Errorf("timed out after %v", runTimeout)
	case werr != nil || jerr != nil:
		s.Err = fmt.Errorf("spawner: %v: %s", errors.Join(werr, jerr), tail(errf.Name(), 300))
	case r.Error != "":
		s.Err = errors.New(r.Error)
	case r.Exit != 0:
		s.Err = fmt.Errorf("exit status %d: %s", r.Exit, tail(errf.Name(), 300))
	}
	s.Wall, s.CPU, s.MaxRSS, s.SpawnerRSS = r.Wall, r.CPU, r.MaxRSS, r.SpawnerHWM
	s.OtherCPU = max(0, busy-s.CPU-s.SSHDCPU)
	return s
}

// waitReaped waits until no sshd master has a child left and no adopted
// sshd process runs (see orphans.go): every connection of the last run has
// ended and been reaped, so its CPU is accounted. It returns the CPU of the
// adopted processes it reaped.
func waitReaped(ctx context.Context, masters []int, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	var adopted time.Duration
	for {
		cpu, running := reapAdopted()
		adopted += cpu
		busy := 0
		for _, pid := range masters {
			if procstat.HasChildren(pid) {
				busy = pid
				break
			}
		}
		if busy == 0 && running == 0 {
			return adopted, nil
		}
		if time.Now().After(deadline) {
			return adopted, fmt.Errorf("sshd %d still has connection children, or %d adopted sshd run, after %v", busy, running, timeout)
		}
		select {
		case <-ctx.Done():
			return adopted, context.Cause(ctx)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sshdTicks sums utime+stime+cutime+cstime of the masters. Each connection's
// sshd is a child of its master and waits for its own children (privilege
// separation, the session shell), so once reaped all their CPU is in the
// master's cutime/cstime.
func sshdTicks(masters []int) int64 {
	var sum int64
	for _, pid := range masters {
		sum += procstat.CPUTicks(pid, 11, 12, 13, 14) // fields 14-17 of proc(5)
	}
	return sum
}

// tail returns the last n bytes of a file on one line, for error messages.
func tail(path string, n int) string {
	if s := benchreport.Tail(path, n); s != "" {
		return s
	}
	return "(no stderr)"
}
