// Command bench compares `fleet run` with Debian's parallel-ssh (pssh) and
// with a minimal Go SSH client, the floor, on real sshd hosts of this very
// machine, and writes the result as a Markdown report (docs/benchmarks.md).
//
//	go run ./e2e/cmd/bench -fleet bin/fleet            (what `make bench` runs)
//	go run ./e2e/cmd/bench -fleet bin/fleet -quick     (20 hosts, 1 run: a smoke check)
//
// It starts one harness fleet of max(-n) sshd hosts on 127.0.X.Y and, for
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

// psshPath is Debian's name for pssh's binary (the package renames it so
// that it does not clash with putty's pssh).
const psshPath = "/usr/bin/parallel-ssh"

// options are the command-line flags.
type options struct {
	ns     []int  // host counts
	runs   int    // measured rounds per (N, -p)
	fleet  string // absolute path of the fleet binary
	out    string // report path; "" = print only
	quick  bool
	argv   []string // as given, for the report
	logOut io.Writer
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
		fmt.Fprint(fs.Output(), "usage: go run ./e2e/cmd/bench -fleet PATH [-n 50,200] [-runs 3] [-out docs/benchmarks.md] [-quick]\n\n")
		fs.PrintDefaults()
	}
	ns := fs.String("n", "50,200", "comma-separated host counts N; each is run at -p 32 and -p N")
	runs := fs.Int("runs", 3, "measured runs per client and (N, -p); the report shows medians")
	fleetBin := fs.String("fleet", "bin/fleet", "path of the fleet binary to measure")
	out := fs.String("out", "docs/benchmarks.md", "where to write the Markdown report (also printed); with -quick only when given")
	quick := fs.Bool("quick", false, "smoke check: N=20, 1 run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := &options{runs: *runs, out: *out, quick: *quick, argv: args, logOut: os.Stderr}
	outGiven := false
	fs.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	if o.quick {
		// A smoke check must not overwrite the report of a full run.
		o.ns, o.runs = []int{20}, 1
		if !outGiven {
			o.out = ""
		}
	} else {
		for s := range strings.SplitSeq(*ns, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 248 {
				return nil, fmt.Errorf("-n: %q is not a host count in 1..248", s)
			}
			o.ns = append(o.ns, n)
		}
	}
	if o.runs < 1 {
		return nil, fmt.Errorf("-runs must be at least 1, got %d", o.runs)
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

	if err := ensurePSSH(ctx, o.logOut); err != nil {
		return err
	}
	m := describeMachine(ctx, o.fleet)

	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	f, err := harness.Start(startCtx, harness.Options{Hosts: slices.Max(o.ns), Log: o.logOut})
	if err != nil && startCtx.Err() == nil {
		// The harness gives all hosts 10 s together to send their banner,
		// which 200 sshd on a busy 2-core machine can miss; once more.
		fmt.Fprintf(o.logOut, "bench: harness start failed (%v); retrying once\n", firstLine(err.Error()))
		f, err = harness.Start(startCtx, harness.Options{Hosts: slices.Max(o.ns), Log: o.logOut})
	}
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(o.logOut, "bench: stopping the harness fleet")
		if err := f.Stop(); err != nil {
			fmt.Fprintln(o.logOut, "bench:", err)
		}
	}()
	work, err := os.MkdirTemp("", "fleet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// One state folder for every fleet run, as a user's accumulates runs.
	// Deleting each run's records right after it would not be neutral:
	// ext4 without a journal (as here) skips inodes freed in the last
	// seconds when it allocates new ones, which perf showed as extra kernel
	// time in fleet's creation of one log file per host.
	stateDir := filepath.Join(work, "fleet-state")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	masters := make([]int, len(f.Hosts))
	for i, h := range f.Hosts {
		masters[i] = h.PID
	}

	var groups []group
	for _, n := range o.ns {
		hosts, err := writeHosts(f.HostsFile, filepath.Join(work, fmt.Sprintf("hosts-%d", n)), n)
		if err != nil {
			return err
		}
		for _, p := range parallelisms(n) {
			g := group{N: n, P: p}
			for _, c := range clients(o.fleet, self, f, hosts, p, stateDir) {
				g.Results = append(g.Results, &result{Client: c})
			}
			if err := measureGroup(ctx, &g, o.runs, masters[:n], o.logOut); err != nil {
				return err
			}
			groups = append(groups, g)
		}
	}

	rep := renderReport(m, groups, o)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(rep), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(o.logOut, "bench: report written to %s\n", o.out)
	}
	fmt.Print(rep)
	return nil
}

// parallelisms returns the -p values for n hosts: the default 32 and n
// itself (everything at once), or only n when n <= 32, since -p above the
// host count changes nothing.
func parallelisms(n int) []int {
	if n <= defaultPar {
		return []int{n}
	}
	return []int{defaultPar, n}
}

// measureGroup warms each client up once, then measures runs rounds,
// interleaved, printing each run as it ends so a long bench shows progress.
func measureGroup(ctx context.Context, g *group, runs int, masters []int, log io.Writer) error {
	fmt.Fprintf(log, "bench: N=%d -p %d: warm-up\n", g.N, g.P)
	for _, r := range g.Results {
		s := measure(ctx, r.Client, masters, true)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		r.Warmup = s
		fmt.Fprintf(log, "bench: N=%d -p %d %-12s warm-up %s\n", g.N, g.P, r.Client.Name, s)
	}
	for i := range runs {
		for _, r := range g.Results {
			s := measure(ctx, r.Client, masters, false)
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			r.Runs = append(r.Runs, s)
			fmt.Fprintf(log, "bench: N=%d -p %d %-12s run %d/%d %s\n", g.N, g.P, r.Client.Name, i+1, runs, s)
		}
	}
	return nil
}

// writeHosts copies the first n hosts of the harness host file, which lists
// every host of the fleet, so that all N share one fleet of sshd.
func writeHosts(all, path string, n int) (string, error) {
	b, err := os.ReadFile(all)
	if err != nil {
		return "", err
	}
	var lines []string
	for l := range strings.Lines(string(b)) {
		if strings.TrimSpace(l) != "" && len(lines) < n {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) < n {
		return "", fmt.Errorf("%s lists %d hosts, need %d", all, len(lines), n)
	}
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// clients returns the three contestants for one (hosts file, -p). All get
// the harness ssh_config or its key and known_hosts, and -t 0 (no time
// limit) so a slow host is timed rather than cut off.
func clients(fleetBin, self string, f *harness.Fleet, hosts string, p int, stateDir string) []client {
	ps := strconv.Itoa(p)
	return []client{
		{
			Name: "fleet",
			Argv: []string{fleetBin, "run", "-F", f.SSHConfig, "-h", hosts, "-p", ps, "-t", "0", "true"},
			// Run records are part of fleet's cost: keep them on.
			StateDir: stateDir,
		},
		{
			Name: "parallel-ssh",
			Argv: []string{psshPath, "-h", hosts, "-p", ps, "-t", "0", "-x", "-F " + shellQuote(f.SSHConfig), "true"},
		},
		{
			Name: "floor",
			Argv: []string{self, floorFlag, "-h", hosts, "-i", f.Key, "-known-hosts", f.KnownHosts, "-p", ps, "true"},
		},
	}
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
