package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// report is everything the Markdown report says.
type report struct {
	opts     options
	machine  machine
	n        int
	first    string // the first and last endpoint
	last     string
	fleetSum string
	results  []scenarioResult
	rlimit   *rlimitResult
}

// scenarioResult is one scenario's runs and, when profiled, its profiles.
type scenarioResult struct {
	scenario
	runs                      []measurement
	profiled                  *measurement
	cpuTop, heapTop, allocTop string
	goroutineTop              string
}

// medianRun is the run whose wall time is the median (the lower middle one
// for an even count), so that every column of a row comes from one run.
func (r scenarioResult) medianRun() measurement {
	runs := slices.Clone(r.runs)
	slices.SortFunc(runs, func(a, b measurement) int { return int(a.Wall - b.Wall) })
	return runs[(len(runs)-1)/2]
}

// perHost is peak RSS over the hosts that -p lets be in flight.
func (m measurement) perHost(par int) float64 {
	return float64(m.PeakRSS) / float64(min(m.Hosts, par))
}

// line is one run's summary for the log.
func (m measurement) line(h *harnessRun) string {
	s := fmt.Sprintf("%d/%d ok, wall %.1fs, cpu %.1fs, peak rss %.1f MiB (%.1f KiB/host at -p %d), %d conns, %d goroutines, %d fds, %d threads, server cpu %.1fs",
		m.OK, m.Hosts, m.Wall.Seconds(), m.CPU.Seconds(), benchreport.MiB(m.PeakRSS), m.perHost(h.opts.par), h.opts.par,
		m.PeakConns, m.PeakGoroutine, m.PeakFDs, m.PeakThreads, m.ServerCPU.Seconds())
	if m.Kills > 0 {
		s += fmt.Sprintf(", %d kill scripts (run record kept in %s)", m.Kills, m.KeptRecord)
	}
	if len(m.Problems) > 0 {
		s += "; PROBLEMS: " + strings.Join(m.Problems, "; ")
	}
	return s
}

func (r *report) markdown() string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "# fleet at scale\n\n")
	fmt.Fprintf(&b, "Made by `go run ./e2e/cmd/scale %s` on %s. Generated file: run it again (or `make bench`) "+
		"rather than editing it; only the History section at the end is kept.\n\n",
		strings.Join(o.argv, " "), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%d SSH endpoints on loopback, each on an address of its own (%s to %s), served by one separate\n", r.n, r.first, r.last)
	b.WriteString("process: an x/crypto/ssh server per address whose sessions run fleet's commands in mvdan.cc/sh's interpreter\n" +
		"instead of forking a shell (e2e/cmd/scale/shell.go), so what is measured is fleet's side. fleet runs as a user runs it, with a\n" +
		"host file, a known_hosts listing every endpoint (checked strictly) and a key file. While it runs, the harness\n" +
		"samples /proc/PID (peak RSS as VmHWM, threads, file descriptors) and fleet's hidden stats endpoint\n" +
		"(goroutines, live heap; FLEET_PPROF, see cmd/fleet/pprof.go). Client CPU is the rusage of the fleet process.\n")
	fmt.Fprintf(&b, "Rows are the median of %d unprofiled run(s); one more run per scenario with profiling on gives the\n"+
		"leak check and the profiles below.\n\n", o.runs)
	if len(o.env) > 0 {
		fmt.Fprintf(&b, "fleet ran with %s in its environment.\n\n", strings.Join(o.env, " "))
	}
	b.WriteString("## Machine\n\n")
	b.WriteString(r.machine.text())
	fmt.Fprintf(&b, "- fleet binary sha256 %s\n\n", r.fleetSum)

	b.WriteString("## Results\n\n")
	b.WriteString("| scenario | hosts ok | -p | wall | client CPU | CPU per host | peak RSS | per host in flight | live heap · stacks (peak) | conns open (peak) | goroutines (peak) | threads (peak) | fds (peak) | sessions | endpoints' CPU |\n")
	b.WriteString("|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, res := range r.results {
		m := res.medianRun()
		fmt.Fprintf(&b, "| %s | %d/%d | %d | %.1f s | %.2f s | %.2f ms | %.1f MiB | %.1f KiB | %.1f · %.1f MiB | %d | %d | %d | %d | %d | %.1f s |\n",
			res.label(), m.OK, m.Hosts, res.Par, m.Wall.Seconds(), m.CPU.Seconds(),
			float64(m.CPU.Microseconds())/1000/float64(m.Hosts), benchreport.MiB(m.PeakRSS), m.perHost(res.Par),
			float64(m.PeakHeap)/(1<<20), float64(m.PeakStacks)/(1<<20),
			m.PeakConns, m.PeakGoroutine, m.PeakThreads, m.PeakFDs, m.Sessions, m.ServerCPU.Seconds())
	}
	b.WriteString("\nPer connection open at the peak, where connections filled at least half of the window (peak values over\n" +
		"peak connections, so an upper bound: the heap also holds the whole run's results and records):\n\n")
	for _, res := range r.results {
		m := res.medianRun()
		if m.PeakConns == 0 || 2*int(m.PeakConns) < min(m.Hosts, res.Par) {
			continue
		}
		c := float64(m.PeakConns)
		fmt.Fprintf(&b, "- %s: %.1f goroutines, %.1f KiB of goroutine stacks, %.1f KiB of heap (live and not yet collected), %.1f KiB of RSS\n",
			res.label(), float64(m.PeakGoroutine)/c, float64(m.PeakStacks)/1024/c, float64(m.PeakHeap)/1024/c, float64(m.PeakRSS)/c)
	}
	for _, res := range r.results {
		if m := res.medianRun(); m.Kills > 0 {
			fmt.Fprintf(&b, "\n%s: fleet sent %d kill scripts (a command it had to stop: a timeout, or a remote shell that did not close in time).\n",
				res.label(), m.Kills)
		}
	}
	b.WriteString("\n\"Per host in flight\" is peak RSS / min(N, -p). Peak RSS includes the binary's pages (about 10 MiB\n" +
		"for `fleet --version`). \"Live heap · stacks\" are the Go runtime's own counts (sampled every 100 ms): the rest\n" +
		"of RSS is garbage not yet collected, the binary and the runtime. \"Conns open\" is the most connections the\n" +
		"endpoints had open at once: fleet lets at most 128 handshakes run together, and `true` ends fast, so fewer\n" +
		"than -p hosts hold a connection at any moment; the others of the window wait for a handshake slot.\n" +
		"Goroutine counts include the runtime's own.\n\n")

	b.WriteString("## Targets\n\n")
	for _, res := range r.results {
		m := res.medianRun()
		fmt.Fprintf(&b, "- %s: %d hosts at -p %d in %.1f KiB of client memory per host in flight (target < %d KiB): **%s**",
			res.label(), m.Hosts, res.Par, m.perHost(res.Par), memTarget, benchreport.Verdict(m.perHost(res.Par) < memTarget && m.OK == m.Hosts))
		if len(m.Problems) > 0 {
			fmt.Fprintf(&b, "; problems: %s", strings.Join(m.Problems, "; "))
		}
		b.WriteString("\n")
	}
	for _, res := range r.results {
		if p := res.profiled; p != nil {
			b.WriteString(leakLine(res.label(), p))
		}
	}
	if r.rlimit != nil {
		b.WriteString(r.rlimit.targetLine())
	}
	if strings.Contains(b.String(), "**MISSED**") {
		b.WriteString("\nWhere a target is missed, the profiles below and the History section at the end say why.\n")
	}
	b.WriteString("\n")
	if r.rlimit != nil {
		b.WriteString(r.rlimit.section())
	}

	b.WriteString("## Where the time goes\n\n")
	b.WriteString("From the profiled runs (`go tool pprof -top`; rerun with `-keep` to keep the profiles). The CPU profile covers\n" +
		"the whole fleet process and is shown by cumulative time, the runtime's and the standard library's own frames\n" +
		"hidden, so that each line says what share of fleet's CPU went through that function; \"heap in use near the\n" +
		"peak\" was fetched from the pprof endpoint when the goroutine count was highest; \"allocated\" counts every\n" +
		"allocation over the run.\n\n")
	for _, res := range r.results {
		if res.profiled == nil {
			continue
		}
		for _, p := range []struct{ title, text string }{
			{"CPU", res.cpuTop}, {"heap in use near the peak", res.heapTop}, {"allocated over the run", res.allocTop},
			{"goroutines near the peak", res.goroutineTop}} {
			fmt.Fprintf(&b, "### %s: %s\n\n```\n%s\n```\n\n", res.label(), p.title, strings.TrimSpace(p.text))
		}
	}
	return b.String()
}

// label names a scenario in tables: its fleet command.
func (r scenarioResult) label() string {
	switch r.Name {
	case "run":
		return "`fleet run true`"
	case "hold":
		return fmt.Sprintf("`fleet run 'sleep %d'`", holdSeconds)
	case "provision":
		return "`fleet provision` (5 steps)"
	}
	return r.Name
}

// leakLine says whether a profiled run left anything behind at exit.
func leakLine(label string, m *measurement) string {
	if m.Leak == nil {
		return fmt.Sprintf("- %s leaves nothing behind: **not checked** (%s)\n", label, strings.Join(m.Problems, "; "))
	}
	l := m.Leak
	met := len(l.Leaked) == 0 && l.End.OpenFiles <= l.Start.OpenFiles && m.OK == m.Hosts
	return fmt.Sprintf("- %s leaves nothing behind: goroutines %d at start, %d peak, %d at exit, %d of them in fleet's engine or the SSH library "+
		"(at exit: %s); files open %d at start, %d at exit: **%s**\n",
		label, l.Start.Goroutines, m.PeakGoroutine, l.End.Goroutines, len(l.Leaked), countList(l.Running),
		l.Start.OpenFiles, l.End.OpenFiles, benchreport.Verdict(met))
}

// countList writes a list as "a, b ×2, c" in first-seen order.
func countList(xs []string) string {
	counts := map[string]int{}
	var order []string
	for _, x := range xs {
		if counts[x] == 0 {
			order = append(order, x)
		}
		counts[x]++
	}
	for i, x := range order {
		if counts[x] > 1 {
			order[i] = fmt.Sprintf("%s ×%d", x, counts[x])
		}
	}
	return strings.Join(order, ", ")
}

// pprofTop runs go tool pprof -top on a profile, keeping the table.
func pprofTop(ctx context.Context, bin, profile string, extra ...string) string {
	if _, err := os.Stat(profile); err != nil {
		return "(no profile: " + err.Error() + ")"
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "(go not found: cannot run go tool pprof)"
	}
	args := append([]string{"tool", "pprof", "-top", "-nodecount=15"}, extra...)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, goTool, append(args, bin, profile)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof: %v: %s)", err, bytes.TrimSpace(out))
	}
	for rest := string(out); rest != ""; _, rest, _ = strings.Cut(rest, "\n") {
		if strings.HasPrefix(rest, "Showing nodes") || strings.HasPrefix(rest, "Duration:") {
			return strings.TrimRight(rest, "\n")
		}
	}
	return string(out)
}
