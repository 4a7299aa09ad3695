package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// scenario is one fleet command line run against every endpoint.
type scenario struct {
	Name   string
	Args   []string // after the program name; the host and SSH options are added
	Hosts  string   // host file
	N, Par int      // hosts in it, -p
	Prefix []string // runs fleet through this command (the rlimit check's shell)
}

// measurement is what one fleet run cost and whether it did its work.
type measurement struct {
	Wall, CPU     time.Duration
	PeakRSS       int64 // KiB, VmHWM of the fleet process (its own peak, sampled; see procstat.Status)
	PeakFDs       int
	PeakThreads   int
	PeakGoroutine int
	PeakHeap      uint64 // bytes of live heap objects, sampled
	PeakStacks    uint64 // bytes of goroutine stacks, sampled
	PeakConns     int64  // connections open at once, as the server saw them
	ServerCPU     time.Duration
	Sessions      int64
	Kills         int64  // kill scripts fleet sent: commands it had to stop
	KeptRecord    string // the run record, kept when fleet stopped commands
	OK, Hosts     int
	Exit          int
	Problems      []string    // anything that makes this run not count as a clean success
	Leak          *exitReport // from FLEET_PROFILE_DIR/exit.json (profiled runs)
	ProfileDir    string
}

// exitReport is cmd/fleet's FLEET_PROFILE_DIR/exit.json.
type exitReport struct {
	Start   procStats `json:"start"`
	End     procStats `json:"end"`
	Leaked  []string  `json:"leaked"`
	Running []string  `json:"running"`
}

// procStats is cmd/fleet's /debug/fleet/stats answer.
type procStats struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
	StackBytes uint64 `json:"stack_bytes"`
	OpenFiles  int    `json:"open_files"`
}

// runLimit bounds one fleet run: far above what 5,000 hosts take here.
const runLimit = 15 * time.Minute

// runFleet runs one scenario and samples the fleet process while it runs.
// With profileDir set, fleet writes its CPU and exit profiles there and the
// heap is captured when the goroutine count peaks.
func runFleet(ctx context.Context, h *harnessRun, sc scenario, profileDir string) (m measurement) {
	m = measurement{Hosts: sc.N, Exit: -1, ProfileDir: profileDir}
	fail := func(err error) measurement { m.Problems = append(m.Problems, err.Error()); return m }
	state, err := os.MkdirTemp(h.dir, "state-")
	if err != nil {
		return fail(err)
	}
	defer func() {
		switch {
		case len(m.Problems) > 0:
			m.Problems = append(m.Problems, "run record kept in "+state)
		case m.Kills > 0:
			m.KeptRecord = state // to see which commands fleet stopped, and why
		default:
			os.RemoveAll(state)
		}
	}()
	pprofAddr, err := freeLoopbackPort()
	if err != nil {
		return fail(err)
	}
	args := slices.Concat(sc.Prefix, []string{h.opts.fleet, sc.Args[0]}, h.optionsFor(sc.Hosts, sc.Par), sc.Args[1:])
	rctx, cancel := context.WithTimeout(ctx, runLimit)
	defer cancel()
	cmd := exec.CommandContext(rctx, args[0], args[1:]...) // killed at the limit or when ctx ends
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(h.dir, "home"),
		"FLEET_STATE_DIR=" + state, "FLEET_PPROF=" + pprofAddr, "LANG=C.UTF-8"}
	if profileDir != "" {
		cmd.Env = append(cmd.Env, "FLEET_PROFILE_DIR="+profileDir)
	}
	cmd.Env = append(cmd.Env, h.opts.env...)
	outf, err := os.Create(filepath.Join(h.dir, "fleet.out"))
	if err != nil {
		return fail(err)
	}
	defer outf.Close()
	cmd.Stdout, cmd.Stderr = outf, outf
	st0, err := h.server.stats() // also restarts the server's peak count
	if err != nil {
		return fail(err)
	}
	srvCPU := h.server.cpu()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { sample(cmd.Process.Pid, "http://"+pprofAddr, profileDir, &m, stop) })
	werr := cmd.Wait()
	if werr != nil && rctx.Err() != nil {
		werr = cmp.Or(ctx.Err(), fmt.Errorf("killed after %s", runLimit))
	}
	m.Wall = time.Since(start)
	close(stop)
	wg.Wait()
	st1, err := h.server.stats()
	if err != nil {
		m.Problems = append(m.Problems, err.Error())
	}
	m.ServerCPU = h.server.cpu() - srvCPU
	m.PeakConns = st1.PeakOpen
	m.Sessions = st1.Sessions - st0.Sessions
	m.Kills = st1.Kills - st0.Kills
	if d := st1.Unsupported - st0.Unsupported; d > 0 {
		m.Problems = append(m.Problems, fmt.Sprintf("%d commands the endpoints could not interpret", d))
	}
	if d := st1.NotFound - st0.NotFound; d > 0 {
		m.Problems = append(m.Problems, fmt.Sprintf("%d commands not found on the endpoints", d))
	}
	if d := st1.Handshakes - st0.Handshakes; d != int64(sc.N) {
		m.Problems = append(m.Problems, fmt.Sprintf("%d handshakes for %d hosts", d, sc.N))
	}
	if ps := cmd.ProcessState; ps != nil {
		m.Exit = ps.ExitCode()
		m.CPU, _ = procstat.Exited(ps)
	}
	if werr != nil && m.Exit != 0 {
		m.Problems = append(m.Problems, fmt.Sprintf("fleet: %v: %s", werr, benchreport.Tail(outf.Name(), 400)))
	}
	m.OK, err = countOK(state)
	if err != nil {
		m.Problems = append(m.Problems, err.Error())
	} else if m.OK != sc.N {
		m.Problems = append(m.Problems, fmt.Sprintf("%d of %d hosts ok: %s", m.OK, sc.N, benchreport.Tail(outf.Name(), 400)))
	}
	if profileDir != "" {
		var er exitReport
		b, err := os.ReadFile(filepath.Join(profileDir, "exit.json"))
		if err == nil {
			err = json.Unmarshal(b, &er)
		}
		if err != nil {
			m.Problems = append(m.Problems, "exit report: "+err.Error())
		} else {
			m.Leak = &er
			if len(er.Leaked) > 0 {
				m.Problems = append(m.Problems, fmt.Sprintf("%d goroutines left at exit, first: %s", len(er.Leaked), er.Leaked[0]))
			}
			if er.End.OpenFiles > er.Start.OpenFiles {
				m.Problems = append(m.Problems, fmt.Sprintf("%d files open at exit, %d at start", er.End.OpenFiles, er.Start.OpenFiles))
			}
		}
	}
	return m
}

// sample reads /proc and fleet's stats endpoint until stop: peak RSS,
// threads, file descriptors, goroutines and heap. It fetches a heap profile
// each time the goroutine count reaches a new high (at most once a second),
// so that the last one saved shows the heap near its peak.
func sample(pid int, base, profileDir string, m *measurement, stop <-chan struct{}) {
	// No keep-alive: a connection held open to fleet's pprof server would
	// be a file fleet still has open at exit, a false leak.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastHeap time.Time
	heapAt := 0
	for i := 0; ; i++ {
		if hwm, threads := procstat.Status(pid); hwm > 0 {
			m.PeakRSS = max(m.PeakRSS, hwm)
			m.PeakThreads = max(m.PeakThreads, threads)
		}
		m.PeakFDs = max(m.PeakFDs, procstat.FDs(pid))
		if i%2 == 0 {
			var st procStats
			if getJSON(client, base+"/debug/fleet/stats", &st) == nil {
				m.PeakGoroutine = max(m.PeakGoroutine, st.Goroutines)
				m.PeakHeap = max(m.PeakHeap, st.HeapBytes)
				m.PeakStacks = max(m.PeakStacks, st.StackBytes)
				if profileDir != "" && st.Goroutines > heapAt*11/10 && time.Since(lastHeap) > time.Second {
					if fetch(client, base+"/debug/pprof/heap", filepath.Join(profileDir, "heap-peak.pprof")) == nil &&
						fetch(client, base+"/debug/pprof/goroutine", filepath.Join(profileDir, "goroutines-peak.pprof")) == nil {
						heapAt, lastHeap = st.Goroutines, time.Now()
					}
				}
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// fetch saves url to path through a temporary file, so that a fetch cut by
// fleet's exit never leaves half a profile.
func fetch(c *http.Client, url, path string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// countOK reads the run record fleet wrote and counts the hosts that ended ok.
func countOK(state string) (int, error) {
	hosts, err := benchreport.LatestRun(state)
	n := 0
	for _, h := range hosts {
		if h.Outcome == "ok" {
			n++
		}
	}
	return n, err
}

func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
