package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// spawnFlag selects the spawner mode, hidden like floorFlag.
const spawnFlag = "-spawn"

// spawnResult is what the spawner reports, as JSON on its stdout.
type spawnResult struct {
	Wall, CPU  time.Duration // CPU: user+sys
	MaxRSS     int64         // KiB
	SpawnerHWM int64         // KiB, the spawner's own peak RSS when it started the client
	Exit       int
	Error      string `json:",omitempty"`
}

// spawnMain runs argv with stdout to /dev/null and reports its wall time and
// rusage. It exists because the bench cannot start clients itself: Go
// starts children with vfork semantics (CLONE_VM), and on exec Linux
// carries the old address space's RSS high-water mark into the child's
// ru_maxrss. A child of the bench, which holds the harness's state, would
// show the bench's peak RSS (tens of MiB) as its own; a child of this small,
// fresh process shows at most SpawnerHWM (a few MiB) below its real peak.
func spawnMain(argv []string) int {
	var r spawnResult
	enc := json.NewEncoder(os.Stdout)
	if len(argv) == 0 {
		r.Error = "spawn: no command"
		_ = enc.Encode(r)
		return 2
	}
	r.SpawnerHWM, _ = procstat.Status(os.Getpid())
	// Every client may open as many files as the hard limit allows, as
	// someone running hundreds of hosts at once would allow with ulimit -n
	// (parallel-ssh holds three pipes per host). Go raised this process's
	// soft limit already but would lower it again for the child unless
	// the program sets the limit itself.
	var nofile syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile) == nil {
		nofile.Cur = nofile.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nofile)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Error = err.Error()
		_ = enc.Encode(r)
		return 0
	}
	_ = cmd.Wait() // the exit status is in ProcessState
	r.Wall = time.Since(start)
	r.Exit = cmd.ProcessState.ExitCode()
	r.CPU, r.MaxRSS = procstat.Exited(cmd.ProcessState)
	if err := enc.Encode(r); err != nil {
		return 1
	}
	return 0
}
