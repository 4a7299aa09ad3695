package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The run part: `fleet run` vs every peer vs the floor, running each
// command of -cmd on N hosts at the same -p.

// runPart starts max(-n) plain hosts (several harness fleets above 248) and
// measures every (N, command, -p) group on the first N of them.
func runPart(ctx context.Context, o *options, work, self string, st *peerStatus) ([]group, error) {
	hs, err := startHostSet(ctx, slices.Max(o.ns), work, o.logOut)
	if err != nil {
		return nil, err
	}
	defer hs.stop(o.logOut)
	setup, err := newPeerSetup(hs, work)
	if err != nil {
		return nil, err
	}
	// One state folder for every fleet run, as a user's accumulates runs.
	// Deleting each run's records right after it would not be neutral:
	// ext4 without a journal (as here) skips inodes freed in the last
	// seconds when it allocates new ones, which perf showed as extra kernel
	// time in fleet's creation of one log file per host.
	stateDir := filepath.Join(work, "fleet-state")
	masters := pids(hs.Hosts)

	var groups []group
	warm := map[string]bool{} // client and command warmed up
	for _, n := range o.ns {
		hf, err := hs.writeHostFiles(work, n)
		if err != nil {
			return nil, err
		}
		for _, cmd := range o.cmds {
			for _, p := range o.parallelisms(n) {
				g := group{N: n, P: p, Cmd: cmd}
				for _, c := range setup.clients(o.fleet, self, st.Ready, cmd, hf, p, stateDir) {
					c.Runs = o.runsFor(c.Name, n)
					g.Results = append(g.Results, &result{Client: c})
				}
				if err := measureGroup(ctx, &g, masters[:n], warm, o.logOut); err != nil {
					return nil, err
				}
				groups = append(groups, g)
			}
		}
	}
	return groups, nil
}

// parallelisms returns the -p values for n hosts from -par: "N" is n
// itself (every host at once), a number above n is n; each value once.
func (o *options) parallelisms(n int) []int {
	var out []int
	for _, s := range o.par {
		p := n
		if s != "N" {
			v, _ := strconv.Atoi(s) // checked by parseFlags
			p = min(v, n)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// runsFor is how many measured runs a client gets at n hosts: -runs, but
// -slow-runs for ansible above 200 hosts, where one run lasts minutes.
func (o *options) runsFor(name string, n int) int {
	if name == "ansible" && n > 200 && o.slowRuns > 0 {
		return min(o.slowRuns, o.runs)
	}
	return o.runs
}

// measureGroup warms up each client that has not run this command yet
// (warm), so that its binary, libraries and caches are warm, then measures
// rounds, each client in turn, so that drift of the machine touches all
// alike, printing each run as it ends so a long bench shows progress.
// Later groups need no warm-up of their own: at a few seconds to minutes a
// run, a warm-up per group would make the bench a third longer. Run 1
// samples the process tree's memory (tree RSS).
func measureGroup(ctx context.Context, g *group, masters []int, warm map[string]bool, log io.Writer) error {
	label := fmt.Sprintf("bench: %s N=%d -p %d", g.Cmd.Key, g.N, g.P)
	rounds := 0
	for _, r := range g.Results {
		rounds = max(rounds, r.Client.Runs)
		if key := r.Client.Name + " " + g.Cmd.Key; !warm[key] {
			warm[key] = true
			s := measure(ctx, r.Client, masters, false)
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			r.Warmup = &s
			fmt.Fprintf(log, "%s %-12s warm-up %s\n", label, r.Client.Name, s)
		}
	}
	for i := range rounds {
		for _, r := range g.Results {
			if i >= r.Client.Runs {
				continue
			}
			s := measure(ctx, r.Client, masters, i == 0)
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			r.Runs = append(r.Runs, s)
			fmt.Fprintf(log, "%s %-12s run %d/%d %s\n", label, r.Client.Name, i+1, r.Client.Runs, s)
		}
	}
	return nil
}

// result returns the results of the client called name, nil if it did
// not run in this group.
func (g group) result(name string) *result {
	for _, r := range g.Results {
		if r.Client.Name == name {
			return r
		}
	}
	return nil
}

// parseParallelisms checks -par: comma-separated numbers >= 1 or "N".
func parseParallelisms(list string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if v, err := strconv.Atoi(s); s != "N" && (err != nil || v < 1) {
			return nil, fmt.Errorf("-par: %q is neither a count >= 1 nor N", s)
		}
		out = append(out, s)
	}
	return out, nil
}
