package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	rpprof "runtime/pprof"
	"strings"
	"time"
)

// Hidden profiling hooks, for measuring fleet at scale (e2e/cmd/scale) and
// for finding where a slow run spends its time. They are environment
// variables rather than flags so that --help stays about the user's work:
//
//	FLEET_PPROF=127.0.0.1:PORT  serve net/http/pprof under /debug/pprof/ and
//	                            the goroutine count and heap size as JSON at
//	                            /debug/fleet/stats, on a loopback address only
//	FLEET_PROFILE_DIR=DIR       write DIR/cpu.pprof (the whole process),
//	                            DIR/heap.pprof (at exit: allocations over the
//	                            run, and what is still in use) and
//	                            DIR/exit.json (goroutines and open files at
//	                            start and at exit, to tell a leak)
//
// Nothing they expose is secret: fleet never holds a secret in argv (which
// /debug/pprof/cmdline shows), and profiles hold stacks and sizes, not data.
const (
	envPprof      = "FLEET_PPROF"
	envProfileDir = "FLEET_PROFILE_DIR"
)

// leakSettle bounds the wait at exit for connection goroutines that are
// still unwinding after their connection was closed.
const leakSettle = 2 * time.Second

// startProfiling starts what the environment asks for and returns the
// function that finishes it, which main calls after Main returns. Problems
// are warnings: profiling must never stop a run.
func startProfiling(stderr io.Writer) (finish func()) {
	warn := func(err error) { fmt.Fprintf(stderr, "fleet: warning: profiling: %v\n", err) }
	if addr := os.Getenv(envPprof); addr != "" {
		if err := servePprof(addr); err != nil {
			warn(err)
		}
	}
	dir := os.Getenv(envProfileDir)
	if dir == "" {
		return func() {}
	}
	start := processStats()
	cpu, err := startCPUProfile(dir)
	if err != nil {
		warn(err)
	}
	return func() {
		if cpu != nil {
			rpprof.StopCPUProfile()
			cpu.Close()
		}
		if err := writeExitProfiles(dir, start); err != nil {
			warn(err)
		}
	}
}

// servePprof serves the profiles on a loopback address in the background.
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", envPprof, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s=%q: only a loopback address is served (127.0.0.1:PORT)", envPprof, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", envPprof, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/fleet/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(processStats())
	})
	go func() { _ = http.Serve(ln, mux) }() // lives as long as the process
	return nil
}

// stats is a cheap snapshot of the process: reading it stops nothing.
type stats struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`  // live and not yet swept heap objects
	StackBytes uint64 `json:"stack_bytes"` // goroutine stacks
	GoBytes    uint64 `json:"go_bytes"`    // all memory the Go runtime has mapped
	OpenFiles  int    `json:"open_files"`
}

func processStats() stats {
	names := []string{"/sched/goroutines:goroutines", "/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/stacks:bytes", "/memory/classes/total:bytes"}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	metrics.Read(samples)
	v := make([]uint64, len(samples))
	for i, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	return stats{Goroutines: int(v[0]), HeapBytes: v[1], StackBytes: v[2], GoBytes: v[3], OpenFiles: openFiles()}
}

// openFiles counts this process's file descriptors (-1 when /proc is not
// there), not counting the one used to list them.
func openFiles() int {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1
}

func startCPUProfile(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "cpu.pprof"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// exitReport is DIR/exit.json: what the process held at start and at exit.
// Leaked lists the goroutines still running fleet's or the SSH library's
// code at exit, which a finished run must not have.
type exitReport struct {
	Start  stats    `json:"start"`
	End    stats    `json:"end"`
	Leaked []string `json:"leaked"`
	// Running is what every goroutine at exit was running (its top frame),
	// to tell the runtime's and the profiler's own from leaks.
	Running []string `json:"running"`
}

// writeExitProfiles waits briefly for goroutines of closed connections to
// unwind, then writes the heap profile and exit.json (and, when something
// leaked, every goroutine's stack to goroutines.txt).
func writeExitProfiles(dir string, start stats) error {
	var leaked, running []string
	var end stats
	// The files open are read in the same pass: a stats request of the
	// harness's sampler in flight holds a socket for a moment, which is
	// not a leak, and a later pass sees it gone.
	for deadline := time.Now().Add(leakSettle); ; {
		leaked, running = leakedGoroutines()
		end = processStats()
		if len(leaked) == 0 && end.OpenFiles <= start.OpenFiles || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC() // so that heap.pprof's in-use numbers are what is really still held
	var errs []error
	if err := writeProfile(dir, "heap.pprof", "heap", 0); err != nil {
		errs = append(errs, err)
	}
	if len(leaked) > 0 {
		errs = append(errs, writeProfile(dir, "goroutines.txt", "goroutine", 2))
	}
	b, err := json.MarshalIndent(exitReport{Start: start, End: end, Leaked: leaked, Running: running}, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "exit.json"), append(b, '\n'), 0o600)
	}
	return errors.Join(append(errs, err)...)
}

func writeProfile(dir, name, profile string, debug int) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	werr := rpprof.Lookup(profile).WriteTo(f, debug)
	return errors.Join(werr, f.Close())
}

// leakedGoroutines returns the first line of each goroutine whose stack
// runs fleet's engine, recipes or the SSH library (once Main has returned,
// none should be left), and the top frame of every goroutine.
func leakedGoroutines() (leaked, running []string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		top := topFrame(g)
		running = append(running, top)
		if strings.Contains(g, "github.com/fleet-sh/fleet/fleet.") || strings.Contains(g, "github.com/fleet-sh/fleet/recipes.") ||
			strings.Contains(g, "golang.org/x/crypto/ssh") || strings.Contains(g, "github.com/pkg/sftp") {
			first, _, _ := strings.Cut(g, "\n")
			leaked = append(leaked, first+" "+top)
		}
	}
	return leaked, running
}

// topFrame is the function a goroutine's stack shows first, without its
// arguments.
func topFrame(g string) string {
	lines := strings.Split(g, "\n")
	if len(lines) < 2 {
		return ""
	}
	f := strings.TrimSpace(lines[1])
	if i := strings.LastIndexByte(f, '('); i > 0 {
		f = f[:i]
	}
	return f
}
