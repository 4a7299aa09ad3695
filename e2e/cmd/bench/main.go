// Command bench compares fleet with Debian's pssh on real sshd hosts of this
// very machine, in three parts, and writes the result as a Markdown report
// (docs/benchmarks.md):
//   - run: `fleet run` vs parallel-ssh vs a minimal Go SSH client (the floor);
//   - copy: `fleet copy` vs parallel-scp, a 100 MB file to 20 and 100 hosts (copy.go);
//   - seed: `fleet provision docker` vs the seed's CentOS 7 sequence typed as
//     one parallel-ssh or parallel-scp per step, on fresh hosts (seed.go).
//
// Usage:
//
//	go run ./e2e/cmd/bench -fleet bin/fleet                 (what `make bench` runs: all three)
//	go run ./e2e/cmd/bench -fleet bin/fleet -quick          (20 hosts, 1 run: a smoke check)
//	go run ./e2e/cmd/bench -fleet bin/fleet -only copy,seed
//
// The run part starts one harness fleet of max(-n) sshd hosts on 127.0.X.Y and, for
// every N of -n and every -p of {32, N}, runs the three clients on the first
// N hosts with the command `true`: one unmeasured warm-up each, then -runs
// rounds in the order fleet, parallel-ssh, floor, so that drift of the
// machine touches all three alike. Each client runs as the child of a small
// spawner process (this binary again) and is measured from its rusage
// (wall, user+sys CPU, max RSS); the CPU the sshd side spent is read from
// /proc of the sshd masters, since client and servers share the machine's
// cores. The spawner (-spawn) and the floor client (-floor) are hidden modes
// of this binary that only the bench itself starts.
//
// The bench is a report, not a test: a missed target is printed as missed,
// and only a bench that could not run at all exits non-zero. Needs root,
// like the harness (users, sshd); installs pssh with apt-get when missing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// Limits that keep a broken client or a stuck apt-get from hanging the bench.
const (
	runTimeout     = 5 * time.Minute  // one client run
	startTimeout   = 15 * time.Minute // harness start, which may install openssh-server
	installTimeout = 10 * time.Minute // apt-get install pssh
	defaultPar     = 32               // pssh's and fleet's default -p
)

// partNames are the parts of the bench, in the order they run (-only).
var partNames = []string{"run", "copy", "seed"}

// psshPath is Debian's name for pssh's binary (the package renames it so
// that it does not clash with putty's pssh).
const psshPath = "/usr/bin/parallel-ssh"

// options are the command-line flags.
type options struct {
	ns     []int  // host counts of the run part
	runs   int    // measured rounds per (N, -p), per copy N and of the seed part
	fleet  string // absolute path of the fleet binary
	out    string // report path; "" = print only
	quick  bool
	only   map[string]bool // parts to run
	argv   []string        // as given, for the report
	logOut io.Writer

	copyNs    []int // host counts of the copy part
	copyRuns  []int // measured runs at each copy N
	copyMB    int   // size of the copied file
	copyPar   int   // -p of the copy part; 0 = N (every host at once)
	seedN     int   // hosts per contestant in the seed part
	seedStart int   // hosts the seed part starts per round (3 * seedN)
}

func main() {
	// The floor client is this same binary in a hidden mode, so that it is
	// measured as a child process exactly like fleet and parallel-ssh.
	if len(os.Args) > 1 && os.Args[1] == floorFlag {
		os.Exit(floorMain(os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == spawnFlag {
		os.Exit(spawnMain(os.Args[2:]))
	}
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: go run ./e2e/cmd/bench -fleet PATH [-only run,copy,seed] [-n 50,200] [-runs 3] [-copy-n 20,100] [-seed-n 50] [-out docs/benchmarks.md] [-quick]\n\n")
		fs.PrintDefaults()
	}
	ns := fs.String("n", "50,200", "comma-separated host counts N; each is run at -p 32 and -p N")
	runs := fs.Int("runs", 3, "measured runs per client and (N, -p); the report shows medians")
	fleetBin := fs.String("fleet", "bin/fleet", "path of the fleet binary to measure")
	out := fs.String("out", "docs/benchmarks.md", "where to write the Markdown report (also printed); with -quick only when given")
	quick := fs.Bool("quick", false, "smoke check: N=20 in every part, 1 run")
	only := fs.String("only", strings.Join(partNames, ","), "comma-separated parts to run: run, copy, seed")
	copyNs := fs.String("copy-n", "20,100", "comma-separated host counts of the copy part")
	copyRuns := fs.String("copy-runs", "", "measured runs at each -copy-n, comma-separated (default: -runs at N <= 20, 1 above)")
	copyMB := fs.Int("copy-mb", 100, "size in MB of the file the copy part sends")
	copyPar := fs.Int("copy-p", 0, "-p of the copy part (0 = N: every host at once)")
	seedN := fs.Int("seed-n", 50, "CentOS 7 hosts per contestant in the seed part (each round starts 3x as many)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := &options{runs: *runs, out: *out, quick: *quick, argv: args, logOut: os.Stderr,
		copyMB: *copyMB, copyPar: *copyPar, seedN: *seedN, only: map[string]bool{}}
	for p := range strings.SplitSeq(*only, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(partNames, p) {
			return nil, fmt.Errorf("-only: %q is not one of %s", p, strings.Join(partNames, ", "))
		}
		o.only[p] = true
	}
	outGiven := false
	fs.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	var err error
	if o.quick {
		// A smoke check must not overwrite the report of a full run.
		o.ns, o.copyNs, o.seedN, o.runs = []int{20}, []int{20}, 20, 1
		if !outGiven {
			o.out = ""
		}
	} else {
		if o.ns, err = hostCounts("-n", *ns); err != nil {
			return nil, err
		}
		if o.copyNs, err = hostCounts("-copy-n", *copyNs); err != nil {
			return nil, err
		}
	}
	if o.runs < 1 {
		return nil, fmt.Errorf("-runs must be at least 1, got %d", o.runs)
	}
	// Above 20 hosts a copy run lasts minutes (parallel-scp: about 2 s of
	// client CPU per host and 100 MB): one run each keeps the bench short.
	for _, n := range o.copyNs {
		r := o.runs
		if n > 20 {
			r = 1
		}
		o.copyRuns = append(o.copyRuns, r)
	}
	if *copyRuns != "" && !o.quick {
		if o.copyRuns, err = hostCounts("-copy-runs", *copyRuns); err != nil || len(o.copyRuns) != len(o.copyNs) {
			return nil, fmt.Errorf("-copy-runs %q: want one run count per -copy-n", *copyRuns)
		}
	}
	if o.copyMB < 1 || o.copyPar < 0 {
		return nil, fmt.Errorf("-copy-mb must be at least 1 and -copy-p at least 0")
	}
	// Each seed round needs three sets of fresh hosts (sequence, fleet,
	// floor) from one harness fleet, which has at most 248 hosts.
	if o.seedStart = 3 * o.seedN; o.seedN < 1 || o.seedStart > 248 {
		return nil, fmt.Errorf("-seed-n must be in 1..82 (each round starts 3x as many hosts), got %d", o.seedN)
	}
	abs, err := filepath.Abs(*fleetBin)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("-fleet %s: not an executable file (build it first: make build)", abs)
	}
	o.fleet = abs
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	// Ctrl-C cancels ctx: the running client is killed (its whole process
	// group) and the deferred Stop below still tears the hosts down.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := becomeSubreaper(); err != nil {
		return err
	}
	if err := ensurePSSH(ctx, o.logOut); err != nil {
		return err
	}
	m := describeMachine(ctx, o.fleet)
	work, err := os.MkdirTemp("", "fleet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep := report{Machine: m, Opts: o, Load: map[string]string{}}
	for _, p := range partNames {
		if !o.only[p] {
			continue
		}
		rep.Load[p] = loadAverage()
		fmt.Fprintf(o.logOut, "bench: part %s (load average %s)\n", p, rep.Load[p])
		switch p {
		case "run":
			rep.Run, err = runPart(ctx, o, work, self)
		case "copy":
			rep.Copy, err = copyPart(ctx, o, work)
		case "seed":
			rep.Seed, err = seedPart(ctx, o, work, self)
		}
		if err != nil {
			return fmt.Errorf("%s part: %w", p, err)
		}
	}

	text := renderReport(rep)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(o.logOut, "bench: report written to %s\n", o.out)
	}
	fmt.Print(text)
	return nil
}

// hostCounts parses a comma-separated list of counts in 1..248.
func hostCounts(flagName, list string) ([]int, error) {
	var out []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 248 {
			return nil, fmt.Errorf("%s: %q is not a count in 1..248", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// startFleet starts a harness fleet, once more if the first start fails:
// the harness gives all hosts 10 s together to send their banner, which
// 200 sshd on a busy 2-core machine can miss.
func startFleet(ctx context.Context, opts harness.Options) (*harness.Fleet, error) {
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	f, err := harness.Start(startCtx, opts)
	if err != nil && startCtx.Err() == nil {
		fmt.Fprintf(opts.Log, "bench: harness start failed (%v); retrying once\n", firstLine(err.Error()))
		f, err = harness.Start(startCtx, opts)
	}
	if err == nil {
		registerMasters(pids(f.Hosts), true)
	}
	return f, err
}

func stopFleet(f *harness.Fleet, log io.Writer) {
	fmt.Fprintf(log, "bench: stopping the harness fleet of %d hosts\n", len(f.Hosts))
	ps := pids(f.Hosts)
	if err := f.Stop(); err != nil {
		fmt.Fprintln(log, "bench:", err)
	}
	registerMasters(ps, false)
	reapAdopted() // the connections Stop killed, if any
}

func pids(hosts []harness.Host) []int {
	out := make([]int, len(hosts))
	for i, h := range hosts {
		out[i] = h.PID
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// shellQuote quotes s for pssh's -x, which splits its value like a shell.
func shellQuote(s string) string {
	if !strings.ContainsAny(s, " \t'\"\\$`") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ensurePSSH installs Debian's pssh package when parallel-ssh is missing,
// saying so, as the harness does for openssh-server. apt-get update is run
// only if the install fails without it.
func ensurePSSH(ctx context.Context, log io.Writer) error {
	if _, err := os.Stat(psshPath); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s is missing and installing pssh needs root", psshPath)
	}
	fmt.Fprintln(log, "bench: parallel-ssh is missing; installing pssh with apt-get")
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	apt := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	if err := apt("install", "-y", "--no-install-recommends", "pssh"); err != nil {
		fmt.Fprintf(log, "bench: apt-get install failed (%v); running apt-get update and retrying\n", err)
		if err := apt("update"); err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if err := apt("install", "-y", "--no-install-recommends", "pssh"); err != nil {
			return fmt.Errorf("apt-get install pssh: %w", err)
		}
	}
	if _, err := os.Stat(psshPath); err != nil {
		return fmt.Errorf("%s still missing after apt-get install pssh", psshPath)
	}
	return nil
}
