// Command bench compares fleet with its peers from Debian's packages on real
// sshd hosts of this very machine, in three parts, and writes the result as
// a Markdown report (docs/benchmarks.md):
//   - run: `fleet run` vs parallel-ssh, pdsh, clush and ansible vs a minimal
//     Go SSH client (the floor), running `true` and 100 KB of output (run.go);
//   - copy: `fleet copy` vs parallel-scp, a 100 MB file to 20 and 100 hosts (copy.go);
//   - seed: `fleet provision docker` vs the seed's CentOS 7 sequence typed as
//     one parallel-ssh or parallel-scp per step, on fresh hosts (seed.go);
//   - proxy: `fleet run` on 200 hosts reached directly, through -J and
//     through a ProxyCommand `ssh -W` on a bastion (proxy.go).
//
// Usage:
//
//	go run ./e2e/cmd/bench -fleet bin/fleet                 (what `make bench` runs: every part)
//	go run ./e2e/cmd/bench -fleet bin/fleet -quick          (20 hosts, 1 run: a smoke check)
//	go run ./e2e/cmd/bench -fleet bin/fleet -only run -n 50 -peers pdsh,clush
//	go run ./e2e/cmd/bench -fleet bin/fleet -only proxy -out /tmp/proxy.md
//
// The run part starts max(-n) sshd hosts on 127.0.X.Y (one harness fleet per
// 248 of them, hosts.go) and, for every N of -n, command of -cmd and -p of
// -par, runs every client on the first N hosts: one unmeasured warm-up
// each, then -runs rounds in the order fleet, the peers, floor, so that
// drift of the machine touches all alike. Each client runs as the child of a small
// spawner process (this binary again) and is measured from its rusage
// (wall, user+sys CPU, max RSS); the CPU the sshd side spent is read from
// /proc of the sshd masters, since client and servers share the machine's
// cores. The spawner (-spawn) and the floor client (-floor) are hidden modes
// of this binary that only the bench itself starts.
//
// The bench is a report, not a test: a missed target is printed as missed,
// and only a bench that could not run at all exits non-zero. Needs root,
// like the harness (users, sshd); installs the peers with apt-get when
// missing, and goes on without a peer that cannot be installed (peers.go).
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// Limits that keep a broken client or a stuck apt-get from hanging the bench.
const (
	runTimeout     = 5 * time.Minute  // one client run
	startTimeout   = 15 * time.Minute // harness start, which may install openssh-server
	installTimeout = 10 * time.Minute // apt-get install of the peers
	defaultPar     = 32               // pssh's and fleet's default -p
)

// partNames are the parts of the bench, in the order they run (-only).
var partNames = []string{"run", "copy", "seed", "proxy"}

// psshPath is Debian's name for pssh's binary (the package renames it so
// that it does not clash with putty's pssh).
const psshPath = "/usr/bin/parallel-ssh"

// maxRunHosts is the most hosts the run part starts: three harness fleets.
const maxRunHosts = 3 * maxFleetHosts

// options are the command-line flags.
type options struct {
	ns       []int      // host counts of the run part
	cmds     []benchCmd // commands of the run part
	par      []string   // -p values of the run part: numbers or "N"
	peers    []string   // peers of the run part
	runs     int        // measured rounds per run group, per copy N and of the seed part
	slowRuns int        // ansible's measured runs above 200 hosts (0 = -runs)
	fleet    string     // absolute path of the fleet binary
	out      string     // report path; "" = print only
	quick    bool
	only     map[string]bool // parts to run
	argv     []string        // as given, for the report
	logOut   io.Writer

	copyNs   []int // host counts of the copy part
	copyRuns []int // measured runs at each copy N
	copyMB   int   // size of the copied file
	copyPar  int   // -p of the copy part; 0 = N (every host at once)
	seedNs   []int // hosts per contestant in the seed part, one seed run per N
	seedRuns []int // rounds at each seed N
	proxyN   int   // target hosts of the proxy part (one more is the bastion)
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
		fmt.Fprint(fs.Output(), "usage: go run ./e2e/cmd/bench -fleet PATH [-only run,copy,seed,proxy] [-n 50,200,500] [-cmd true,100k] [-par N] [-peers ...] [-runs 3] [-copy-n 20,100] [-seed-n 50,200] [-proxy-n 200] [-out docs/benchmarks.md] [-quick]\n\n")
		fs.PrintDefaults()
	}
	ns := fs.String("n", "50,200,500", fmt.Sprintf("comma-separated host counts N of the run part (at most %d)", maxRunHosts))
	cmds := fs.String("cmd", strings.Join(commandKeys(), ","), "commands of the run part: true, 100k (100 KB of output per host)")
	par := fs.String("par", "N", "comma-separated -p values of the run part, every client alike; N = every host at once (e.g. 32,N)")
	peerList := fs.String("peers", strings.Join(peerNames(), ","), "peers of the run part: "+strings.Join(peerNames(), ", "))
	runs := fs.Int("runs", 3, "measured runs per client and group; the report shows medians")
	slowRuns := fs.Int("slow-runs", 1, "measured runs of ansible above 200 hosts, where one run lasts minutes (0 = -runs)")
	fleetBin := fs.String("fleet", "bin/fleet", "path of the fleet binary to measure")
	out := fs.String("out", "docs/benchmarks.md", "where to write the Markdown report (also printed); with -quick only when given")
	quick := fs.Bool("quick", false, "smoke check: N=20 in every part, 1 run")
	only := fs.String("only", strings.Join(partNames, ","), "comma-separated parts to run: "+strings.Join(partNames, ", "))
	copyNs := fs.String("copy-n", "20,100", "comma-separated host counts of the copy part")
	copyRuns := fs.String("copy-runs", "", "measured runs at each -copy-n, comma-separated (default: -runs at N <= 20, 1 above)")
	copyMB := fs.Int("copy-mb", 100, "size in MB of the file the copy part sends")
	copyPar := fs.Int("copy-p", 0, "-p of the copy part (0 = N: every host at once)")
	seedNs := fs.String("seed-n", "50,200", "comma-separated counts of CentOS 7 hosts per contestant in the seed part")
	seedRuns := fs.String("seed-runs", "", "rounds at each -seed-n, comma-separated (default: -runs at N <= 50, 1 above)")
	proxyN := fs.Int("proxy-n", 200, fmt.Sprintf("target hosts of the proxy part, reached directly, by -J and by ProxyCommand (at most %d)", maxFleetHosts-1))
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := &options{runs: *runs, slowRuns: *slowRuns, out: *out, quick: *quick, argv: args, logOut: os.Stderr,
		copyMB: *copyMB, copyPar: *copyPar, proxyN: *proxyN, only: map[string]bool{}}
	parts, err := oneOf("-only", *only, partNames)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		o.only[p] = true
	}
	outGiven := false
	fs.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	keys, err := oneOf("-cmd", *cmds, commandKeys())
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		o.cmds = append(o.cmds, runCommands[slices.Index(commandKeys(), k)])
	}
	if *peerList != "" {
		if o.peers, err = oneOf("-peers", *peerList, peerNames()); err != nil {
			return nil, err
		}
	}
	if o.par, err = parseParallelisms(*par); err != nil {
		return nil, err
	}
	if o.quick {
		// A smoke check must not overwrite the report of a full run.
		o.ns, o.copyNs, o.seedNs, o.runs, o.proxyN = []int{20}, []int{20}, []int{20}, 1, 20
		if !outGiven {
			o.out = ""
		}
	} else {
		if o.ns, err = hostCounts("-n", *ns, maxRunHosts); err != nil {
			return nil, err
		}
		if o.copyNs, err = hostCounts("-copy-n", *copyNs, maxFleetHosts); err != nil {
			return nil, err
		}
		if o.seedNs, err = hostCounts("-seed-n", *seedNs, maxFleetHosts); err != nil {
			return nil, err
		}
	}
	if o.slowRuns < 0 {
		return nil, fmt.Errorf("-slow-runs must be at least 0, got %d", o.slowRuns)
	}
	if o.runs < 1 {
		return nil, fmt.Errorf("-runs must be at least 1, got %d", o.runs)
	}
	// Above 20 hosts a copy run lasts minutes (parallel-scp: about 2 s of
	// client CPU per host and 100 MB), and a seed round on 200 hosts about 6
	// (the typed sequence alone about 3): one each keeps the bench short.
	if o.copyRuns, err = o.runCounts("-copy-runs", *copyRuns, "-copy-n", o.copyNs, 20); err != nil {
		return nil, err
	}
	if o.seedRuns, err = o.runCounts("-seed-runs", *seedRuns, "-seed-n", o.seedNs, 50); err != nil {
		return nil, err
	}
	if o.proxyN < 1 || o.proxyN > maxFleetHosts-1 {
		return nil, fmt.Errorf("-proxy-n must be in 1..%d (one harness fleet, with the bastion), got %d", maxFleetHosts-1, o.proxyN)
	}
	if o.copyMB < 1 || o.copyPar < 0 {
		return nil, fmt.Errorf("-copy-mb must be at least 1 and -copy-p at least 0")
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
	work, err := os.MkdirTemp("", "fleet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var wanted []string
	if o.only["run"] {
		wanted = o.peers
	}
	st, err := ensurePeers(ctx, wanted, o.only["copy"] || o.only["seed"], work, o.logOut)
	if err != nil {
		return err
	}
	m := describeMachine(ctx, o.fleet, st)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep := report{Machine: m, Opts: o, Load: map[string]string{}, Peers: st}
	for _, p := range partNames {
		if !o.only[p] {
			continue
		}
		rep.Load[p] = procstat.LoadAverage()
		fmt.Fprintf(o.logOut, "bench: part %s (load average %s)\n", p, rep.Load[p])
		switch p {
		case "run":
			rep.Run, err = runPart(ctx, o, work, self, st)
		case "copy":
			rep.Copy, err = copyPart(ctx, o, work)
		case "seed":
			rep.Seed, err = seedPart(ctx, o, work, self)
		case "proxy":
			rep.Proxy, err = proxyPart(ctx, o, work)
		}
		if err != nil {
			return fmt.Errorf("%s part: %w", p, err)
		}
	}

	rep.Elapsed = time.Since(m.Date)
	text := renderReport(rep)
	if o.out != "" {
		if err := benchreport.Write(o.out, text); err != nil {
			return err
		}
		fmt.Fprintf(o.logOut, "bench: report written to %s\n", o.out)
	}
	fmt.Print(text)
	return nil
}

// hostCounts parses a comma-separated list of counts in 1..most.
func hostCounts(flagName, list string, most int) ([]int, error) {
	var out []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > most {
			return nil, fmt.Errorf("%s: %q is not a count in 1..%d", flagName, s, most)
		}
		out = append(out, n)
	}
	return out, nil
}

// oneOf parses a comma-separated list of names, each one of names.
func oneOf(flagName, list string, names []string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); !slices.Contains(names, s) {
			return nil, fmt.Errorf("%s: %q is not one of %s", flagName, s, strings.Join(names, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// runCounts is the runs at each of ns (the hosts of flag nsFlag): -runs,
// but 1 above most hosts, unless list (flag flagName) gives one count per N.
func (o *options) runCounts(flagName, list, nsFlag string, ns []int, most int) ([]int, error) {
	if list != "" && !o.quick {
		out, err := hostCounts(flagName, list, 1000)
		if err != nil || len(out) != len(ns) {
			return nil, fmt.Errorf("%s %q: want one count per %s", flagName, list, nsFlag)
		}
		return out, nil
	}
	var out []int
	for _, n := range ns {
		out = append(out, o.runs)
		if n > most {
			out[len(out)-1] = 1
		}
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
		line, _, _ := strings.Cut(err.Error(), "\n")
		fmt.Fprintf(opts.Log, "bench: harness start failed (%v); retrying once\n", line)
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

// shellQuote quotes s for pssh's -x, which splits its value like a shell.
func shellQuote(s string) string {
	if !strings.ContainsAny(s, " \t'\"\\$`") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
