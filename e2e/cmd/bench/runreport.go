package main

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// Targets of the run part, from the issues that asked for them. Issue 2:
// "fleet within 1.15x of the floor's wall time, client CPU at most 1/20 of
// parallel-ssh's, client memory under 30 MiB" (for 200 hosts at -p 32).
// Issue 7: "client CPU at most 1/5 of parallel-ssh's at every N; wall time
// within 1.5x of the sshd floor at N = 200".
const (
	i2WallVsFloor = 1.15
	i2CPUVsPSSH   = 1.0 / 20
	i2RSSKiB      = 30 * 1024
	i7WallVsFloor = 1.5
	i7WallN       = 200
	i7CPUVsPSSH   = 1.0 / 5
)

// renderRun is the run part of the report.
func renderRun(groups []group, o *options, st *peerStatus) section {
	var b bytes.Buffer
	names := []string{"`fleet run`"}
	for _, pe := range st.Ready {
		names = append(names, "`"+pe.Name+"`")
	}
	names = append(names, "the floor (a minimal Go client)")
	var cmds []string
	for _, c := range o.cmds {
		if c.Line == c.Name {
			cmds = append(cmds, fmt.Sprintf("`%s`", c.Line))
		} else {
			cmds = append(cmds, fmt.Sprintf("`%s` (%s)", c.Line, c.Name))
		}
	}
	fmt.Fprintf(&b, "%s and %s run each command on the same N real sshd hosts at the same -p: %s.\n",
		strings.Join(names[:len(names)-1], ", "), names[len(names)-1], strings.Join(cmds, "; "))
	fmt.Fprintf(&b, "Medians of %d run(s) (%s), runs interleaved in that order; one unmeasured warm-up per client and\n", o.runs, slowRunsText(o))
	fmt.Fprintf(&b, "command, before its first group.\n")
	for _, name := range peerNames() {
		if why, ok := st.Missing[name]; ok {
			fmt.Fprintf(&b, "\n**%s did not run**: %s.\n", name, why)
		}
	}
	fmt.Fprintf(&b, "\n### Results\n\n")
	fmt.Fprintf(&b, "÷ fleet: each client's wall time, client CPU, tree RSS and sshd CPU as multiples of fleet's.\n\n")
	fmt.Fprintf(&b, "| command | N | -p | client | wall (min–max) | client CPU | max RSS | tree RSS (run 1) | sshd CPU | other load | ÷ fleet: wall · CPU · tree RSS · sshd CPU |\n")
	fmt.Fprintf(&b, "|:--|--:|--:|:--|--:|--:|--:|--:|--:|--:|:--|\n")
	var failures []string
	for _, g := range groups {
		fl := g.Results[0]
		for _, r := range g.Results {
			st := r.stats()
			where := fmt.Sprintf("%s N=%d -p %d %s", g.Cmd.Key, g.N, g.P, r.Client.Name)
			name, tree := r.label(st, where, &failures), r.treeCell()
			if r.Warmup != nil && r.Warmup.Err != nil {
				failures = append(failures, fmt.Sprintf("%s warm-up: %v", where, r.Warmup.Err))
			}
			if st.OK == 0 {
				fmt.Fprintf(&b, "| %s | %d | %d | %s | failed | – | – | %s | – | – | |\n", g.Cmd.Name, g.N, g.P, name, tree)
				continue
			}
			vs := ""
			if r != fl {
				vs = toFleet(r, fl)
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %.2f s | %.1f MiB | %s | %.2f s | %.2f | %s |\n",
				g.Cmd.Name, g.N, g.P, name, wallRange(st), st.CPU.Seconds(), benchreport.MiB(st.RSS), tree, st.SSHD.Seconds(), st.OtherCores, vs)
		}
	}
	if hwm := spawnerRSS(groups); hwm > 0 {
		fmt.Fprintf(&b, "\nMax RSS cannot read below %.1f MiB here, the spawner's own peak (see below).\n", benchreport.MiB(hwm))
	}
	writeFailures(&b, failures)

	fmt.Fprintf(&b, "\n### Targets\n\n")
	fmt.Fprintf(&b, "Issue 2: fleet's wall time within %.2f× the floor's, its client CPU at most 1/%.0f of parallel-ssh's, its max RSS\n", i2WallVsFloor, 1/i2CPUVsPSSH)
	fmt.Fprintf(&b, "under %d MiB (it measured 200 hosts at -p 32: parallel-ssh 10.6 s wall and 15.5 s client CPU, a minimal Go\n", i2RSSKiB/1024)
	fmt.Fprintf(&b, "client 2.1 s and 0.3 s). Issue 7: client CPU at most 1/%.0f of parallel-ssh's at every N, wall time within %.1f× the\n", 1/i7CPUVsPSSH, i7WallVsFloor)
	fmt.Fprintf(&b, "floor's at N = %d. Evaluated for every command and -p. The CPU-bound least wall time, (client + sshd CPU) / %d cores,\n", i7WallN, runtime.NumCPU())
	fmt.Fprintf(&b, "tells whether a gap to the floor is CPU or waiting.\n\n")
	sec := section{title: "1. fleet run vs its peers"}
	byIssue := map[int]targetCount{}
	for _, g := range groups {
		line, counts := runTargets(g)
		for issue, c := range counts {
			byIssue[issue] = targetCount{byIssue[issue].met + c.met, byIssue[issue].total + c.total}
			sec.met, sec.total = sec.met+c.met, sec.total+c.total
		}
		fmt.Fprintf(&b, "- %s, N=%d -p %d: %s\n", g.Cmd.Key, g.N, g.P, line)
	}
	var per []string
	for _, issue := range []int{7, 2} {
		if c := byIssue[issue]; c.total > 0 {
			per = append(per, fmt.Sprintf("issue %d's: %d of %d", issue, c.met, c.total))
		}
	}
	if len(per) > 0 {
		sec.detail = " (" + strings.Join(per, "; ") + ")"
	}
	sec.text = b.String()
	return sec
}

// slowRunsText says which clients got fewer runs than -runs (runsFor).
func slowRunsText(o *options) string {
	if n := slices.Max(o.ns); slices.Contains(o.peers, "ansible") && o.runsFor("ansible", n) < o.runs {
		return fmt.Sprintf("but ansible above 200 hosts, where one run lasts a minute or more: %d run(s), -slow-runs", o.runsFor("ansible", n))
	}
	return "every client"
}

// toFleet formats r's wall, CPU, tree RSS and sshd CPU over fleet's.
func toFleet(r, fleet *result) string {
	a, f := r.stats(), fleet.stats()
	if f.OK == 0 {
		return "–"
	}
	x := func(a, b float64) string {
		if b == 0 || a == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f", a/b)
	}
	return fmt.Sprintf("%s · %s · %s · %s", x(a.Wall.Seconds(), f.Wall.Seconds()), x(a.CPU.Seconds(), f.CPU.Seconds()),
		x(float64(r.treeRSS()), float64(fleet.treeRSS())), x(a.SSHD.Seconds(), f.SSHD.Seconds()))
}

// targetCount is how many targets of one issue were met and evaluated.
type targetCount struct{ met, total int }

// runTargets evaluates one group: a line for the report, and the targets
// met and evaluated per issue.
func runTargets(g group) (line string, counts map[int]targetCount) {
	fl := g.Results[0].stats()
	var parts []string
	counts = map[int]targetCount{}
	check := func(ok bool, issue int, what string) string {
		c := counts[issue]
		c.total++
		if ok {
			c.met++
		}
		counts[issue] = c
		return fmt.Sprintf("issue %d %s %s", issue, what, benchreport.Verdict(ok))
	}
	if fl.OK == 0 {
		return "not evaluated: every fleet run failed", counts
	}
	bound := func(st stats) float64 { return (st.CPU + st.SSHD).Seconds() / float64(runtime.NumCPU()) }
	if fr := g.result("floor"); fr == nil || fr.stats().OK == 0 {
		parts = append(parts, "wall vs floor not evaluated (the floor failed)")
	} else {
		frs := fr.stats()
		x := fl.Wall.Seconds() / frs.Wall.Seconds()
		s := fmt.Sprintf("wall %.2f s = %.2f× the floor's %.2f s (CPU-bound least %.2f s and %.2f s): %s",
			fl.Wall.Seconds(), x, frs.Wall.Seconds(), bound(fl), bound(frs), check(x <= i2WallVsFloor, 2, fmt.Sprintf("≤ %.2f×", i2WallVsFloor)))
		if g.N == i7WallN {
			s += "; " + check(x <= i7WallVsFloor, 7, fmt.Sprintf("≤ %.1f×", i7WallVsFloor))
		}
		parts = append(parts, s)
	}
	if ps := g.result("parallel-ssh"); ps == nil || ps.stats().OK == 0 {
		parts = append(parts, "CPU vs parallel-ssh not evaluated (parallel-ssh did not run or failed)")
	} else {
		pss := ps.stats()
		x := fl.CPU.Seconds() / pss.CPU.Seconds()
		parts = append(parts, fmt.Sprintf("client CPU %.2f s = 1/%.1f of parallel-ssh's %.2f s: %s; %s", fl.CPU.Seconds(), 1/x, pss.CPU.Seconds(),
			check(x <= i2CPUVsPSSH, 2, fmt.Sprintf("≤ 1/%.0f", 1/i2CPUVsPSSH)), check(x <= i7CPUVsPSSH, 7, fmt.Sprintf("≤ 1/%.0f", 1/i7CPUVsPSSH))))
	}
	parts = append(parts, fmt.Sprintf("max RSS %.1f MiB: %s", benchreport.MiB(fl.RSS), check(fl.RSS < i2RSSKiB, 2, fmt.Sprintf("< %d MiB", i2RSSKiB/1024))))
	return strings.Join(parts, "; "), counts
}

// spawnerRSS returns the largest spawner peak RSS of all successful runs:
// the floor below which max RSS cannot read.
func spawnerRSS(groups []group) int64 {
	var hwm int64
	for _, g := range groups {
		for _, r := range g.Results {
			for _, s := range r.Runs {
				if s.Err == nil {
					hwm = max(hwm, s.SpawnerRSS)
				}
			}
		}
	}
	return hwm
}

// runNotes is how the run part measured, for the report's last section.
func runNotes(st *peerStatus) string {
	var b strings.Builder
	b.WriteString("\nPart 1, run:\n\n")
	b.WriteString("- Plain sshd hosts sharing the machine's filesystem, one harness fleet per 248 of them (one 127.0.X.0/24\n")
	b.WriteString("  each): above 248 hosts the first fleet's client key is also authorized on the others' hosts, and one\n")
	b.WriteString("  known_hosts and ssh_config list all of them. N hosts are the first N; every client logs in as fleet-np.\n")
	b.WriteString("- Commands, every client at the same -p, no time limit (-t 0 where a client has one):\n")
	for _, l := range peerCommandLines(st.Ready) {
		fmt.Fprintf(&b, "  - %s\n", l)
	}
	b.WriteString("- Output: fleet and parallel-ssh print each host's output after its status line (-i); pdsh and clush print\n")
	b.WriteString("  every line prefixed with the host as it arrives (fleet's -P); ansible prints each host's result; the floor\n")
	b.WriteString("  reads the output and drops it. Everything goes to /dev/null.\n")
	b.WriteString("- Where a client's wall time is well above (client + sshd CPU) / cores, it waited rather than computed, and\n")
	b.WriteString("  other load tells how much of the machine the rest of it took meanwhile.\n")
	b.WriteString("- One unmeasured warm-up per client and command, in the first group it runs in (the smallest N): later groups\n")
	b.WriteString("  find its binary, libraries and caches warm, and a warm-up per group would make the bench a third longer.\n")

	return b.String()
}
