// Command scale measures fleet at a scale no real sshd fleet on one machine
// reaches: it stands up thousands of lightweight SSH endpoints on loopback
// in a separate process and runs the fleet binary against all of them, as a
// user would, sampling the fleet process while it runs. It writes a
// Markdown report (docs/scale.md) and prints it.
//
// Usage:
//
//	go run ./e2e/cmd/scale -fleet bin/fleet                  (5,000 hosts at -p 1000: what `make bench` runs)
//	go run ./e2e/cmd/scale -fleet bin/fleet -quick           (500 hosts: a smoke check)
//	go run ./e2e/cmd/scale -fleet bin/fleet -n 2000 -p 500 -out ''
//
// Scenarios: `fleet run -p P true`; `fleet run -p P 'sleep 5'`, which
// holds P connections open at once (with `true`, handshakes, at most 128 at
// a time, are the bottleneck and few connections are open together);
// `fleet provision -p P --recipe scale.yaml` (five steps, see setup.go);
// and a run under a hard
// RLIMIT_NOFILE too low for -p, which must cap -p with one clear warning
// and still reach every host. Each scenario runs -runs times unprofiled
// (the numbers in the table, medians) and once more with fleet's hidden
// profiling on (FLEET_PROFILE_DIR, FLEET_PPROF: see cmd/fleet/pprof.go),
// which gives the CPU and heap profiles and the leak check: every
// goroutine of fleet's engine and of the SSH library gone at exit, and no
// more files open than at start.
//
// The endpoints are an in-process x/crypto/ssh server per address (server.go)
// whose sessions run fleet's commands in mvdan.cc/sh's interpreter instead
// of forking a shell (shell.go, programs.go): what is measured is fleet's side. The sshd side at smaller
// scale is what e2e/cmd/bench measures. Needs no root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// options are the command-line flags.
type options struct {
	fleet   string
	n, par  int
	runs    int
	profile bool
	quick   bool
	out     string
	dir     string
	keep    bool
	port    int
	only    map[string]bool // scenarios to run: run, hold, provision, rlimit
	env     []string        // extra environment for fleet (-env), for experiments such as GOGC
	argv    []string
}

// harnessRun is one scale run: the endpoints and what fleet is given.
type harnessRun struct {
	opts   options
	dir    string
	n      int
	server *serverProc
}

// memTarget is the target: client memory per host in flight.
const memTarget = 64 // KiB

// holdSeconds is how long each host's command runs in the hold scenario.
const holdSeconds = 5

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveFlag {
		os.Exit(serveMain(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) { // the flag package printed the usage
			fmt.Fprintln(stderr, "scale:", err)
		}
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := scale(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 1
	}
	text := rep.markdown()
	if o.out != "" {
		if err := benchreport.WriteKeepingHistory(o.out, text); err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
		fmt.Fprintf(stderr, "scale: report written to %s\n", o.out)
	}
	fmt.Fprint(stdout, text)
	return 0 // a report, not a test: missed targets are in it, marked missed
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{argv: args}
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.fleet, "fleet", "", "the fleet binary to measure (required)")
	fs.IntVar(&o.n, "n", 5000, "endpoints (hosts)")
	fs.IntVar(&o.par, "p", 1000, "fleet's -p")
	fs.IntVar(&o.runs, "runs", 3, "unprofiled runs per scenario (the table shows medians)")
	fs.BoolVar(&o.profile, "profile", true, "one more run per scenario with fleet's profiling on")
	fs.BoolVar(&o.quick, "quick", false, "500 endpoints, for a smoke check")
	fs.StringVar(&o.out, "out", "docs/scale.md", "report file (\"\" prints only)")
	fs.StringVar(&o.dir, "dir", "", "work folder (default: a new one under $TMPDIR, removed unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work folder (profiles, host files, keys)")
	fs.IntVar(&o.port, "port", defaultPort, "the endpoints' port on every 127.0.X.Y")
	fs.Func("env", "KEY=VALUE added to fleet's environment (repeatable), e.g. GOGC=50", func(kv string) error {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("want KEY=VALUE, not %q", kv)
		}
		o.env = append(o.env, kv)
		return nil
	})
	only := fs.String("only", "run,hold,provision,rlimit", "the scenarios to run, comma-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.only = map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		if !slices.Contains([]string{"run", "hold", "provision", "rlimit"}, name) {
			return o, fmt.Errorf("-only %q: the scenarios are run, hold, provision and rlimit", name)
		}
		o.only[name] = true
	}
	if o.fleet == "" {
		return o, errors.New("-fleet is required (make build, then -fleet bin/fleet)")
	}
	abs, err := filepath.Abs(o.fleet)
	if err != nil {
		return o, err
	}
	o.fleet = abs
	if fi, err := os.Stat(o.fleet); err != nil {
		return o, err
	} else if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return o, fmt.Errorf("-fleet %s is not an executable file", o.fleet)
	}
	if o.quick {
		o.n = 500
	}
	if o.n < 1 || o.par < 1 || o.runs < 1 {
		return o, errors.New("-n, -p and -runs must be at least 1")
	}
	if max := (maxBlock - firstBlock + 1) * hostsPerBlock; o.n > max {
		return o, fmt.Errorf("-n %d: at most %d endpoints fit in 127.0.%d-%d.1-%d", o.n, max, firstBlock, maxBlock, hostsPerBlock)
	}
	return o, nil
}

// scale sets up, runs every scenario and gathers the report.
func scale(ctx context.Context, o options, log io.Writer) (*report, error) {
	m := machineInfo()
	if err := m.check(o); err != nil {
		return nil, err
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fleet-scale-")
		if err != nil {
			return nil, err
		}
		dir = d
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	if err := setupDir(dir); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	// Measured where the runs keep their records; locked to one thread so
	// that its rusage is this loop's alone.
	runtime.LockOSThread()
	m.CreateCost = fileCreateCost(dir)
	runtime.UnlockOSThread()
	fmt.Fprint(log, m.text())
	t0 := time.Now()
	srv, err := startServer(ctx, dir, o.n, o.port)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	addrs, err := writeHostFiles(dir)
	if err != nil {
		return nil, err
	}
	n := len(addrs)
	if n == 0 {
		return nil, errors.New("the endpoint server listed no endpoints")
	}
	fmt.Fprintf(log, "scale: %d endpoints up in %.1fs, %s to %s (work folder %s)\n",
		n, time.Since(t0).Seconds(), addrs[0], addrs[n-1], dir)
	h := &harnessRun{opts: o, dir: dir, n: n, server: srv}
	rep := &report{opts: o, machine: m, n: n, first: addrs[0], last: addrs[n-1], fleetSum: benchreport.FileSum(o.fleet)}
	for _, sc := range h.scenarios() {
		if !o.only[sc.Name] {
			continue
		}
		res := scenarioResult{scenario: sc}
		for i := 0; i < o.runs; i++ {
			ms := runFleet(ctx, h, sc, "")
			fmt.Fprintf(log, "scale: %s, run %d: %s\n", sc.Name, i+1, ms.line(h))
			res.runs = append(res.runs, ms)
		}
		if o.profile {
			pdir := filepath.Join(dir, "profiles", sc.Name)
			if err := os.MkdirAll(pdir, 0o700); err != nil {
				return nil, err
			}
			ms := runFleet(ctx, h, sc, pdir)
			fmt.Fprintf(log, "scale: %s, profiled: %s\n", sc.Name, ms.line(h))
			res.profiled = &ms
			res.cpuTop = pprofTop(ctx, o.fleet, filepath.Join(pdir, "cpu.pprof"),
				"-cum", "-nodecount=25", `-hide=^(runtime|internal|syscall|os|io|sync|context|bufio|net)[./]`)
			res.heapTop = pprofTop(ctx, o.fleet, filepath.Join(pdir, "heap-peak.pprof"), "-sample_index=inuse_space")
			res.allocTop = pprofTop(ctx, o.fleet, filepath.Join(pdir, "heap.pprof"), "-sample_index=alloc_space")
			res.goroutineTop = pprofTop(ctx, o.fleet, filepath.Join(pdir, "goroutines-peak.pprof"))
		}
		rep.results = append(rep.results, res)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if o.only["rlimit"] {
		rl, err := rlimitCheck(ctx, h)
		if err != nil {
			return nil, err
		}
		rep.rlimit = rl
	}
	if o.keep {
		fmt.Fprintf(log, "scale: profiles kept in %s/profiles\n", dir)
	}
	return rep, nil
}

// scenarios are the fleet command lines measured.
func (h *harnessRun) scenarios() []scenario {
	hosts := filepath.Join(h.dir, "hosts")
	return []scenario{
		{Name: "run", Args: []string{"run", "true"}, Hosts: hosts, N: h.n, Par: h.opts.par},
		// Every host holds its connection for a while, so that -p hosts
		// are connected at once: the memory of a full window.
		{Name: "hold", Args: []string{"run", "sleep " + strconv.Itoa(holdSeconds)}, Hosts: hosts, N: h.n, Par: h.opts.par},
		{Name: "provision", Args: []string{"provision", "--recipe", filepath.Join(h.dir, "scale.yaml")},
			Hosts: hosts, N: h.n, Par: h.opts.par},
	}
}

// optionsFor are the host and SSH options of every run: the endpoints'
// host file, their key pinned in a known_hosts of their own (strict, so a
// wrong key fails rather than being recorded), the client key only, and
// no ssh_config, agent or default keys of whoever runs the harness.
func (h *harnessRun) optionsFor(hosts string, par int) []string {
	return []string{"-h", hosts, "-p", strconv.Itoa(par), "-F", "none",
		"--identity", filepath.Join(h.dir, clientKeyFile), "-O", "IdentitiesOnly=yes",
		"-O", "UserKnownHostsFile=" + filepath.Join(h.dir, "known_hosts"),
		"-O", "GlobalKnownHostsFile=/dev/null", "-O", "StrictHostKeyChecking=yes",
		// Generous: 2 cores serve thousands of handshakes on both sides.
		"--connect-timeout", "120", "-t", "300"}
}
