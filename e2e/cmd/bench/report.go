package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// group is one (N, -p) and, in the run part, command, with the results of
// every client, fleet's first.
type group struct {
	N, P    int
	Cmd     benchCmd
	Results []*result
}

// result is one client's runs in a group.
type result struct {
	Client client
	Warmup *sample // nil: no warm-up
	Runs   []sample
}

// stats are the medians over a result's successful runs.
type stats struct {
	OK, Failed       int
	Wall, CPU, SSHD  time.Duration
	OtherCores       float64 // other CPU / window: cores the rest of the machine used
	WallMin, WallMax time.Duration
	RSS              int64
	FirstErr         error
}

// treeRSS is the tree RSS sampled in run 1, 0 if not sampled or failed.
func (r *result) treeRSS() int64 {
	if len(r.Runs) == 0 || r.Runs[0].Err != nil {
		return 0
	}
	return r.Runs[0].TreeRSS
}

// treeCell is the tree RSS in a table, "–" if not sampled.
func (r *result) treeCell() string {
	if t := r.treeRSS(); t > 0 {
		return fmt.Sprintf("%.1f MiB", benchreport.MiB(t))
	}
	return "–"
}

// label is r's name in a table, with how many of its runs failed; the
// first failure is added to failures after where (the group and client).
func (r *result) label(st stats, where string, failures *[]string) string {
	if st.Failed == 0 {
		return r.Client.Name
	}
	*failures = append(*failures, fmt.Sprintf("%s: %v", where, st.FirstErr))
	return fmt.Sprintf("%s (%d of %d runs failed)", r.Client.Name, st.Failed, len(r.Runs))
}

func (r *result) stats() stats {
	var st stats
	var wall, cpu, sshd []time.Duration
	var other []float64
	var rss []int64
	for _, s := range r.Runs {
		if s.Err != nil {
			st.Failed++
			if st.FirstErr == nil {
				st.FirstErr = s.Err
			}
			continue
		}
		st.OK++
		wall, cpu, sshd, rss = append(wall, s.Wall), append(cpu, s.CPU), append(sshd, s.SSHDCPU), append(rss, s.MaxRSS)
		if s.Window > 0 {
			other = append(other, s.OtherCPU.Seconds()/s.Window.Seconds())
		}
	}
	if st.OK > 0 {
		st.Wall, st.CPU, st.SSHD, st.RSS = benchreport.Median(wall), benchreport.Median(cpu), benchreport.Median(sshd), benchreport.Median(rss)
		st.WallMin, st.WallMax = slices.Min(wall), slices.Max(wall)
		if len(other) > 0 {
			st.OtherCores = benchreport.Median(other)
		}
	}
	return st
}

// machine describes where and with what the bench ran.
type machine struct {
	Date              time.Time
	Cores             int
	MemGiB            float64
	CPUModel, Kernel  string
	OS                string
	OpenSSH           string
	Python, Fleet, Go string
	Peers             map[string]string // name -> version
	LoadBefore        string
}

func describeMachine(ctx context.Context, fleetBin string, st *peerStatus) machine {
	m := machine{
		Date:       time.Now().UTC(),
		Cores:      runtime.NumCPU(),
		CPUModel:   procstat.CPUModel(),
		Kernel:     procstat.Kernel(),
		OS:         strings.Trim(procstat.Field("/etc/os-release", "PRETTY_NAME", "="), `"`),
		OpenSSH:    output(ctx, "ssh", "-V"),
		Python:     output(ctx, "/usr/bin/python3", "--version"),
		Go:         runtime.Version(),
		LoadBefore: procstat.LoadAverage(),
	}
	m.MemGiB = float64(procstat.MemTotalKiB()) / (1 << 20)
	m.Peers = st.Version
	m.Fleet = output(ctx, fleetBin, "--version")
	if sum := benchreport.FileSum(fleetBin); sum != "?" {
		m.Fleet += ", binary sha256 " + sum
	}
	return m
}

// report is everything one bench measured; a part not run is empty.
type report struct {
	Machine machine
	Opts    *options
	Load    map[string]string // load average when each part started
	Peers   *peerStatus
	Elapsed time.Duration // the whole bench, hosts' start and stop included
	Run     []group
	Copy    *copyResult
	Seed    []*seedResult // one per -seed-n
	Proxy   *group        // the proxy part: direct, ProxyJump, ProxyCommand
}

// section is one part of the report with its target count.
type section struct {
	title, text string
	met, total  int
	detail      string // after the count in the summary, e.g. the count per issue
}

// renderReport writes the Markdown report: what ran where, then per part
// its table and targets, then how the numbers were taken.
func renderReport(rep report) string {
	m, o := rep.Machine, rep.Opts
	var secs []section
	notes := methodNotes
	if len(rep.Run) > 0 {
		secs = append(secs, renderRun(rep.Run, o, rep.Peers))
		notes += runNotes(rep.Peers)
	}
	if rep.Copy != nil {
		secs = append(secs, renderCopy(rep.Copy, o))
		notes += copyNotes
	}
	for _, res := range rep.Seed {
		secs = append(secs, renderSeed(res, o))
	}
	if len(rep.Seed) > 0 {
		notes += seedNotes
	}
	if rep.Proxy != nil {
		secs = append(secs, renderProxy(rep.Proxy, o))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fleet benchmarks\n\n")
	fmt.Fprintf(&b, "Made by `%s` on %s. Generated file: rerun `make bench` rather than editing it.\n\n",
		commandLine(o.argv), m.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "fleet against its peers from Debian's packages on real sshd hosts of this machine (loopback, 127.0.X.Y), in up\n")
	fmt.Fprintf(&b, "to four parts: `fleet run` vs `parallel-ssh`, `pdsh`, `clush` and `ansible` and a minimal Go client (the floor);\n")
	fmt.Fprintf(&b, "`fleet copy` vs `parallel-scp`; and `fleet provision docker` vs the seed's CentOS 7 sequence typed as one\n")
	fmt.Fprintf(&b, "`parallel-ssh`/`parallel-scp` per step; and `fleet run` on hosts reached directly, by ProxyJump and by ProxyCommand.\n")
	fmt.Fprintf(&b, "Each part picks with `-only run,copy,seed,proxy`; all of them run by default.\n\n")

	fmt.Fprintf(&b, "## Machine\n\n")
	fmt.Fprintf(&b, "- %d cores (%s), %.1f GiB memory; %s, Linux %s\n", m.Cores, m.CPUModel, m.MemGiB, m.OS, m.Kernel)
	fmt.Fprintf(&b, "- %s (client ssh and sshd); %s\n", m.OpenSSH, m.Python)
	for _, name := range peerNames() {
		if v, ok := m.Peers[name]; ok {
			fmt.Fprintf(&b, "- %s: %s\n", name, v)
		}
	}
	fmt.Fprintf(&b, "- %s; floor built with %s\n", m.Fleet, m.Go)
	fmt.Fprintf(&b, "- the bench took %.0f min, starting and stopping hosts included (installing peers not)\n", rep.Elapsed.Minutes())
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) when the bench started: %s", m.LoadBefore)
	for _, p := range partNames {
		if l, ok := rep.Load[p]; ok {
			fmt.Fprintf(&b, "; when the %s part started: %s", p, l)
		}
	}
	fmt.Fprintf(&b, ".\n  The machine is shared with other work: \"other load\" in the tables tells how busy the rest of it was\n  during the runs.\n\n")

	fmt.Fprintf(&b, "## Summary\n\n")
	met, total := 0, 0
	for _, s := range secs {
		if s.total == 0 {
			fmt.Fprintf(&b, "- %s: measured%s\n", s.title, s.detail)
			continue
		}
		fmt.Fprintf(&b, "- %s: %d of %d targets met%s\n", s.title, s.met, s.total, s.detail)
		met, total = met+s.met, total+s.total
	}
	fmt.Fprintf(&b, "\n%d of %d targets met in all.\n", met, total)
	for _, s := range secs {
		fmt.Fprintf(&b, "\n## %s\n\n%s", s.title, s.text)
	}
	b.WriteString(notes)
	return b.String()
}

// wallRange formats a median wall time with its spread.
func wallRange(st stats) string {
	wall := fmt.Sprintf("%.2f s", st.Wall.Seconds())
	if st.OK > 1 {
		wall += fmt.Sprintf(" (%.2f–%.2f)", st.WallMin.Seconds(), st.WallMax.Seconds())
	}
	return wall
}

func writeFailures(b *bytes.Buffer, failures []string) {
	if len(failures) > 0 {
		fmt.Fprintf(b, "\nFailed runs (not timed):\n\n")
		for _, f := range failures {
			fmt.Fprintf(b, "- %s\n", f)
		}
	}
}

// ratios formats fleet's wall, CPU and RSS as multiples of another client's.
func ratios(fleet, other stats) string {
	if fleet.OK == 0 || other.OK == 0 {
		return "–"
	}
	r := func(a, b float64) string {
		if b == 0 {
			return "∞"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	return fmt.Sprintf("%s · %s · %s", r(fleet.Wall.Seconds(), other.Wall.Seconds()),
		r(fleet.CPU.Seconds(), other.CPU.Seconds()), r(float64(fleet.RSS), float64(other.RSS)))
}

const methodNotes = `
## How it is measured

Common to all parts:

- Hosts are harness fleets (e2e/harness): one ` + "`sshd -D`" + ` master per 127.0.X.Y, users fleet-np (passwordless sudo)
  etc., client key and known_hosts in the fleet's ssh_config. No ssh-agent (SSH_AUTH_SOCK removed), no PSSH_*,
  FLEET_*, PDSH_*, CLUSTERSHELL_* or ANSIBLE_* defaults; stdout to /dev/null; the soft limit of open files raised
  to the hard limit for every client. A run counts only when it succeeded (exit status 0, and in the copy and
  seed parts the hosts checked afterwards); a failed run is listed, not timed. Each run has a 5 minute limit.
- Every client is the child of a spawner (this binary in a hidden mode, started fresh per run in its own process
  group), which measures wall time around start and wait and takes client CPU (user+sys) and max RSS from the
  rusage wait4 returns. That rusage includes every descendant the client waited for, so parallel-ssh's CPU
  includes all its ssh processes (checked on Linux: a shell waiting for four children that each burn 0.5 s of
  CPU reports 2.5 s; the same children left unwaited report 0). The spawner exists because Go starts children
  with CLONE_VM and Linux carries the parent's RSS high-water mark into the child's max RSS at exec (checked:
  /bin/true started from a Go process holding 200 MiB reports 203 MiB): started from the bench itself, every
  client would show the bench's own peak. From the small spawner, max RSS reads at least the spawner's peak.
- Max RSS, however, is the largest single process of the tree, not a sum: for parallel-ssh it is one ssh or the
  Python process, while up to P ssh run at once. "tree RSS" is therefore the peak of the summed RSS of the
  client's process tree, sampled during run 1 of each client and group by the bench (every 20 ms, or 0.5 ms per
  process of the tree up to 250 ms, so that walking /proc costs little); shared library pages count once per
  process, so for a forking client it is an upper bound.
- other load: the machine's busy time from /proc/stat over the same window, minus client and sshd CPU, divided
  by the window: how many of the cores other processes (the machine may be shared) and kernel work charged to
  no process took meanwhile, median over the runs. Near 0 the numbers are clean; near the core count the clients
  competed with other work and wall times are inflated (CPU times much less so).
- sshd CPU: utime+stime+cutime+cstime of the sshd masters of the hosts in use, from /proc/PID/stat, before and
  after each run, after waiting until every master has reaped its connection children (their CPU, and that of
  the sessions they waited for, is then in the master's cutime/cstime). sshd shares the cores with the client,
  so a client that makes sshd work harder also slows itself down. One gap is closed by hand: when a client
  drops its connection rather than closing the channel (scp kills its ssh when done, so every parallel-scp
  transfer ends that way), sshd's privileged process exits without reaping the unprivileged one that did the
  ciphering and ran the session (strace: "sshd -R" exits 255 with no wait4 for it), whose CPU then never reaches
  the master. The bench is a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so such sshd processes are
  re-parented to it; it reaps them and adds their rusage to the sshd CPU (before this, parallel-scp's 20-host
  copy read 0.66 s of sshd CPU instead of about 10 s, the rest showing as other load).
`

// commandLine reconstructs the command that made the report: under `go run`
// os.Args[0] is a temporary build, so the package path is shown instead.
func commandLine(args []string) string {
	name := os.Args[0]
	if strings.Contains(name, "go-build") {
		name = "go run ./e2e/cmd/bench"
	}
	parts := []string{name}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// output runs a version command and returns its first line (stdout or
// stderr: ssh -V writes to stderr), or "unknown".
func output(ctx context.Context, name string, args ...string) string {
	return outputIn(ctx, "", nil, append([]string{name}, args...)...)
}

// outputIn is output run in dir with env (nil: the bench's own).
func outputIn(ctx context.Context, dir string, env []string, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	out, _ := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "unknown"
	}
	return line
}
