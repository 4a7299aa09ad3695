package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// rlimitLimit is the most RLIMIT_NOFILE (soft and hard) the check runs
// fleet under: well below what -p needs, well above fleet's fixed needs.
const rlimitLimit = 512

// fleet's own accounting (cmd/fleet/rlimit.go): what it reserves, and the
// most descriptors a host in flight holds.
const (
	fleetReserve    = 64
	fleetFDsPerHost = 4
)

// rlimitHosts is at most how many hosts the check uses: enough to fill a
// window far larger than the limit allows.
const rlimitHosts = 600

// rlimitResult is what fleet did under a hard limit too low for its -p.
type rlimitResult struct {
	n, par  int
	limit   int
	warning string // fleet's warning line, "" when it printed none
	m       measurement
}

// rlimitCheck runs `fleet run -p P true` on up to rlimitHosts endpoints
// through `sh -c 'ulimit -n 512; exec fleet ...'`, which lowers the soft and
// the hard limit, so fleet cannot raise it (unless it is root and chooses
// to, which fleet does not): it must cap -p, say so once, and still reach
// every host without running out of descriptors.
func rlimitCheck(ctx context.Context, h *harnessRun) (*rlimitResult, error) {
	n := min(h.n, rlimitHosts)
	eps, err := os.ReadFile(filepath.Join(h.dir, "hosts"))
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(eps), "\n")
	hosts := filepath.Join(h.dir, "hosts-rlimit")
	if err := os.WriteFile(hosts, []byte(strings.Join(lines[:n], "")), 0o600); err != nil {
		return nil, err
	}
	par := max(h.opts.par, n)
	// Half of what the window needs, so that fleet must cap -p however
	// few endpoints there are.
	limit := min(rlimitLimit, fleetReserve+fleetFDsPerHost*max(1, n/2))
	sc := scenario{Name: "rlimit", Args: []string{"run", "true"}, Hosts: hosts, N: n, Par: par,
		Prefix: []string{"/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, limit), "sh"}}
	m := runFleet(ctx, h, sc, "")
	r := &rlimitResult{n: n, par: par, limit: limit, m: m}
	out, _ := os.ReadFile(filepath.Join(h.dir, "fleet.out"))
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "RLIMIT_NOFILE") {
			r.warning = strings.TrimSpace(line)
			break
		}
	}
	return r, nil
}

// met: one warning, every host ok, never more descriptors than the limit.
func (r *rlimitResult) met() bool {
	return r.warning != "" && r.m.OK == r.n && len(r.m.Problems) == 0 && r.m.PeakFDs <= r.limit
}

func (r *rlimitResult) targetLine() string {
	return fmt.Sprintf("- RLIMIT_NOFILE too low for -p: fleet caps -p with one clear message and every host still succeeds: **%s** (below)\n",
		benchreport.Verdict(r.met()))
}

func (r *rlimitResult) section() string {
	var b strings.Builder
	b.WriteString("## RLIMIT_NOFILE\n\n")
	fmt.Fprintf(&b, "fleet raises its soft limit toward what -p needs (Go raises it to the hard limit already) and, when the hard\n"+
		"limit is too low, runs fewer hosts at a time and says so (cmd/fleet/rlimit.go). Checked here with\n"+
		"`sh -c 'ulimit -n %d && exec fleet run -p %d ... true'` on %d endpoints:\n\n", r.limit, r.par, r.n)
	if r.warning != "" {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", r.warning)
	} else {
		b.WriteString("fleet printed **no** warning.\n\n")
	}
	fmt.Fprintf(&b, "%d of %d hosts ok, exit status %d, at most %d file descriptors open (limit %d), wall %.1f s",
		r.m.OK, r.n, r.m.Exit, r.m.PeakFDs, r.limit, r.m.Wall.Seconds())
	if len(r.m.Problems) > 0 {
		fmt.Fprintf(&b, "; problems: %s", strings.Join(r.m.Problems, "; "))
	}
	b.WriteString(".\n\n")
	return b.String()
}
