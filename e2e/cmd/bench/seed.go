package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// The seed part: `fleet provision docker` against the seed's CentOS 7
// sequence typed as the seed types it (container_runtimes.rst, the pssh lines
// near its end): one parallel-ssh or parallel-scp invocation per step. The
// issue: "Measured here on 50 test hosts: the seed's CentOS 7 sequence
// through parallel-ssh takes about 35 s; one Go connection per host running
// 11 commands takes 1.3 s. Target: fleet at least 20x faster than the
// sequence" (and at least 5x in a later issue).

const (
	targetSeedX      = 20.0 // sequence wall / fleet wall, issue 4
	targetSeedXLater = 5.0  // the same, issue 7
)

// seedDaemonJSON is the seed's daemon.json for CentOS 7, as it writes it.
const seedDaemonJSON = `{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2",
  "storage-opts": [
    "overlay2.override_kernel_check=true"
  ]
}
`

// seedSteps are the seed's pssh lines with sudo and -y; "" is its
// `pscp.pssh -h kube daemon.json /tmp/daemon.json`.
var seedSteps = []string{
	"sudo yum install yum-utils device-mapper-persistent-data lvm2 -y",
	"sudo yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo",
	"sudo yum update -y && sudo yum install docker-ce -y",
	"sudo mkdir /etc/docker",
	"",
	"sudo mv /tmp/daemon.json /etc/docker/daemon.json",
	"sudo mkdir -p /etc/systemd/system/docker.service.d",
	"sudo systemctl daemon-reload",
	"sudo systemctl restart docker",
	"sudo systemctl enable docker",
}

// seedResult is the seed part: contestants sequence, fleet, fleet's second
// run and the floor, one run each per round.
type seedResult struct {
	N, Rounds int
	Results   []*result
	SeqSteps  [][]seqStep // per round, per step of the sequence
	steps     *stepTimes  // fleet's first runs, per host and step
}

type seqStep struct {
	Exit int
	Wall time.Duration
}

// seedPart runs the rounds at every -seed-n. Every run must start from
// fresh hosts. When 3N hosts fit in one harness fleet (N <= 82), each round
// starts one fleet of 3N CentOS 7 hosts (about 10 s for 150) and gives N to
// the sequence, N to fleet (whose second run follows on the same hosts) and
// N to the floor, then stops it; above, each of the three gets a fleet of
// its own N hosts, started right before its run and stopped after.
func seedPart(ctx context.Context, o *options, work, self string) ([]*seedResult, error) {
	daemonJSON := filepath.Join(work, "daemon.json")
	if err := os.WriteFile(daemonJSON, []byte(seedDaemonJSON), 0o644); err != nil {
		return nil, err
	}
	var out []*seedResult
	for i, n := range o.seedNs {
		res := &seedResult{N: n, Rounds: o.seedRuns[i], steps: &stepTimes{byStep: map[string][]time.Duration{}}}
		for _, name := range []string{"sequence", "fleet provision", "fleet provision, 2nd run", "floor"} {
			res.Results = append(res.Results, &result{Client: client{Name: name}})
		}
		for round := range res.Rounds {
			if err := seedRound(ctx, o, res, round, work, daemonJSON, self); err != nil {
				return nil, err
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// seedSets are the contestants (indexes into seedResult.Results) that share
// one set of N fresh hosts: the sequence; fleet's two runs; the floor.
var seedSets = [][]int{{0}, {1, 2}, {3}}

func seedRound(ctx context.Context, o *options, res *seedResult, round int, work, daemonJSON, self string) error {
	n := res.N
	start := func(hosts int) (*harness.Fleet, error) {
		return startFleet(ctx, harness.Options{Distros: slices.Repeat([]string{harness.CentOS7}, hosts), Log: o.logOut})
	}
	var shared *harness.Fleet
	if 3*n <= maxFleetHosts {
		f, err := start(3 * n)
		if err != nil {
			return err
		}
		defer stopFleet(f, o.logOut)
		shared = f
	}
	for set, contestants := range seedSets {
		f, hosts := shared, []harness.Host(nil)
		if shared != nil {
			hosts = shared.Hosts[set*n : (set+1)*n]
		} else {
			var err error
			if f, err = start(n); err != nil {
				return err
			}
			hosts = f.Hosts
		}
		err := seedSet(ctx, o, res, round, contestants, f, hosts, work, daemonJSON, self)
		if shared == nil {
			stopFleet(f, o.logOut)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// seedSet runs contestants, in turn, on hosts of f.
func seedSet(ctx context.Context, o *options, res *seedResult, round int, contestants []int, f *harness.Fleet, hosts []harness.Host, work, daemonJSON, self string) error {
	hostsFile, err := writeHosts(filepath.Join(work, fmt.Sprintf("seed-hosts-%d", contestants[0])), f.Users.NoPass, hosts)
	if err != nil {
		return err
	}
	script := filepath.Join(work, "seed-sequence.sh")
	stateDir := filepath.Join(work, "seed-state")
	stepsFile := filepath.Join(work, "seed-steps")
	fleetArgv := []string{o.fleet, "provision", "-F", f.SSHConfig, "-h", hostsFile, "docker"}
	runs := []struct {
		argv  []string
		check func() error
	}{
		{[]string{"/bin/bash", script, stepsFile}, func() error {
			steps, err := readSeqSteps(stepsFile)
			res.SeqSteps = append(res.SeqSteps, steps)
			return err
		}},
		{fleetArgv, func() error { return res.steps.addRun(stateDir) }},
		{fleetArgv, func() error { return checkNothingChanged(stateDir) }},
		{append([]string{self, floorFlag, "-seq", "-h", hostsFile, "-i", f.Key, "-known-hosts", f.KnownHosts,
			"-p", strconv.Itoa(defaultPar)}, floorCommands()...), nil},
	}
	if contestants[0] == 0 {
		if err := os.WriteFile(script, []byte(sequenceScript(hostsFile, f.SSHConfig, daemonJSON)), 0o755); err != nil {
			return err
		}
	}
	for _, i := range contestants {
		r := runs[i]
		c := client{Name: res.Results[i].Client.Name, Argv: r.argv, StateDir: stateDir}
		s := measure(ctx, c, pids(hosts), false)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		if s.Err == nil && r.check != nil {
			s.Err = r.check()
		}
		if s.Err == nil {
			s.Err = checkDocker(hosts)
		}
		res.Results[i].Runs = append(res.Results[i].Runs, s)
		fmt.Fprintf(o.logOut, "bench: seed N=%d %-24s round %d/%d %s\n", res.N, c.Name, round+1, res.Rounds, s)
	}
	return nil
}

// sequenceScript is the seed's sequence as a bash script, one parallel-ssh
// (-ih, as the seed types it) or parallel-scp per step, with pssh's defaults
// (-p 32, -t 60). Like someone typing the steps, it goes on after a step that
// failed; each step's exit status and times go to the file named by $1.
func sequenceScript(hosts, sshConfig, daemonJSON string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n# The seed's CentOS 7 Docker install, one pssh invocation per step (written by e2e/cmd/bench).\n")
	b.WriteString("steps=$1\n: >\"$steps\"\n")
	b.WriteString("step() { local t0=$EPOCHREALTIME; \"$@\"; echo \"$? $t0 $EPOCHREALTIME\" >>\"$steps\"; }\n")
	x := shellQuote("-F " + shellQuote(sshConfig))
	for _, cmd := range seedSteps {
		if cmd == "" {
			fmt.Fprintf(&b, "step %s -h %s -x %s %s /tmp/daemon.json\n", pscpPath, shellQuote(hosts), x, shellQuote(daemonJSON))
			continue
		}
		fmt.Fprintf(&b, "step %s -ih %s -x %s %s\n", psshPath, shellQuote(hosts), x, shellQuote(cmd))
	}
	b.WriteString("exit 0\n")
	return b.String()
}

// floorCommands are the same steps as 11 commands for the floor's one
// connection per host: the yum update && yum install line as two, the copy
// of daemon.json as a command that writes it.
func floorCommands() []string {
	var out []string
	for _, cmd := range seedSteps {
		switch {
		case cmd == "":
			out = append(out, "printf %s "+shellQuote(seedDaemonJSON)+" >/tmp/daemon.json")
		case strings.Contains(cmd, " && "):
			a, z, _ := strings.Cut(cmd, " && ")
			out = append(out, a, z)
		default:
			out = append(out, cmd)
		}
	}
	return out
}

// renderSeed is the seed part of the report.
func renderSeed(res *seedResult, o *options) section {
	var b bytes.Buffer
	sec := section{title: fmt.Sprintf("3. The seed's workflow on %d hosts: fleet provision docker vs the typed sequence", res.N)}
	fmt.Fprintf(&b, "The seed's CentOS 7 Docker install (container_runtimes.rst, the pssh lines near its end) typed as the seed\n")
	fmt.Fprintf(&b, "types it, one `parallel-ssh -ih` or `parallel-scp` invocation per step with sudo and -y, timed as one script;\n")
	fmt.Fprintf(&b, "`fleet provision -F <ssh_config> -h <hosts> docker`; and the floor, this binary's Go client running the same\n")
	fmt.Fprintf(&b, "steps as 11 commands over one connection per host. Each on %d fresh CentOS 7 test hosts (user fleet-np),\n", res.N)
	fmt.Fprintf(&b, "default -p 32 everywhere; fleet's second run, with nothing left to change, on fleet's hosts right after its\n")
	fmt.Fprintf(&b, "first. %d round(s), medians; each round starts %d fresh hosts and stops them after it (see below).\n\n", res.Rounds, 3*res.N)
	if res.Rounds < o.runs {
		fmt.Fprintf(&b, "Only %d round(s) here, fewer than -runs %d: above 50 hosts a round lasts minutes, and -seed-runs sets more.\n\n", res.Rounds, o.runs)
	}
	if 3*res.N > maxFleetHosts {
		fmt.Fprintf(&b, "(%d hosts are more than one harness fleet holds: each contestant got a fleet of its own %d hosts, started\n", 3*res.N, res.N)
		fmt.Fprintf(&b, "right before its run and stopped after.)\n\n")
	}
	fmt.Fprintf(&b, "| contestant | wall (min–max) | client CPU | max RSS | sshd CPU | other load | sequence/this wall |\n|:--|--:|--:|--:|--:|--:|--:|\n")
	seq := res.Results[0].stats()
	var failures []string
	for _, r := range res.Results {
		st := r.stats()
		name := r.label(st, r.Client.Name, &failures)
		if st.OK == 0 {
			fmt.Fprintf(&b, "| %s | failed | – | – | – | – | |\n", name)
			continue
		}
		x := "–"
		if seq.OK > 0 {
			x = fmt.Sprintf("%.1f×", seq.Wall.Seconds()/st.Wall.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f s | %.1f MiB | %.2f s | %.2f | %s |\n", name, wallRange(st), st.CPU.Seconds(), benchreport.MiB(st.RSS), st.SSHD.Seconds(), st.OtherCores, x)
	}
	writeFailures(&b, failures)

	fmt.Fprintf(&b, "\n### Targets\n\nFrom the issues: fleet at least %.0f× faster than the sequence (issue 4; it measured the sequence at about\n", targetSeedX)
	fmt.Fprintf(&b, "35 s on 50 test hosts and one Go connection per host running 11 commands at 1.3 s), and at least %.0f× (issue 7).\n\n", targetSeedXLater)
	fl := res.Results[1].stats()
	for _, t := range []struct {
		x     float64
		issue int
	}{{targetSeedX, 4}, {targetSeedXLater, 7}} {
		sec.total++
		if fl.OK == 0 || seq.OK == 0 {
			fmt.Fprintf(&b, "- issue %d: not evaluated (the sequence or fleet failed)\n", t.issue)
			continue
		}
		x := seq.Wall.Seconds() / fl.Wall.Seconds()
		if x >= t.x {
			sec.met++
		}
		fmt.Fprintf(&b, "- issue %d: %s: sequence %.2f s / fleet %.2f s = %.1f× (target ≥ %.0f×)\n", t.issue, benchreport.Verdict(x >= t.x), seq.Wall.Seconds(), fl.Wall.Seconds(), x, t.x)
	}
	if fr := res.Results[3].stats(); fr.OK > 0 && seq.OK > 0 {
		fmt.Fprintf(&b, "\nThe floor, about the least any client can spend on these steps, is %.1f× faster than the sequence here: on\n",
			seq.Wall.Seconds()/fr.Wall.Seconds())
		fmt.Fprintf(&b, "these hosts, which share this machine's %d cores with the client, no client reaches a higher ratio.", runtime.NumCPU())
		if fl.OK > 0 {
			fmt.Fprintf(&b, " fleet's first\nrun takes %.1f× the floor's wall time and %.1f× its sshd-side CPU.", fl.Wall.Seconds()/fr.Wall.Seconds(), fl.SSHD.Seconds()/fr.SSHD.Seconds())
		}
		b.WriteString("\n")
	}

	fmt.Fprintf(&b, "\n### Where the time goes\n\nThe sequence, per step (median over rounds; exit status of parallel-ssh/-scp, 5 = the command failed on some host):\n\n")
	fmt.Fprintf(&b, "| step | as typed | wall | exit status |\n|--:|:--|--:|:--|\n")
	for i, cmd := range seedSteps {
		var walls []time.Duration
		var exits []string
		for _, round := range res.SeqSteps {
			if i < len(round) {
				walls = append(walls, round[i].Wall)
				exits = append(exits, strconv.Itoa(round[i].Exit))
			}
		}
		if cmd == "" {
			cmd = "pscp.pssh -h kube daemon.json /tmp/daemon.json"
		}
		if len(walls) > 0 {
			fmt.Fprintf(&b, "| %d | `%s` | %.2f s | %s |\n", i+1, cmd, benchreport.Median(walls).Seconds(), strings.Join(exits, ", "))
		}
	}
	fmt.Fprintf(&b, "\nfleet's first run, per host (from its run records: each host's log stamps its start and every step; median\n")
	fmt.Fprintf(&b, "and max over all hosts of all rounds). At -p 32, %d hosts run as %d wave(s) of hosts, one after the other.\n\n",
		res.N, (res.N+defaultPar-1)/defaultPar)
	fmt.Fprintf(&b, "| per host | median | max |\n|:--|--:|--:|\n")
	for _, label := range append(slices.Clone(res.steps.order), "whole host") {
		if d := res.steps.byStep[label]; len(d) > 0 {
			fmt.Fprintf(&b, "| %s | %.2f s | %.2f s |\n", label, benchreport.Median(d).Seconds(), slices.Max(d).Seconds())
		}
	}
	sec.text = b.String()
	return sec
}

const seedNotes = `
Part 3, seed:

- Hosts: distro hosts (centos-7: each sshd in a mount namespace of its own with private overlays of /etc, /var,
  /usr, ... and test doubles for yum, yum-config-manager, rpm, systemctl and docker that keep believable state
  and never touch the network). Every run must start from fresh hosts: up to N = 82 each round starts one
  harness fleet of 3N such hosts (about 10 s for 150 on this machine, not timed), gives N to each of the sequence,
  fleet and the floor, and stops the fleet after the round. That is cheaper than restarting a fleet before every
  run and keeps the three contestants of a round on hosts started together. Above, 3N hosts do not fit in one
  harness fleet (248 hosts): each contestant gets a fleet of its own N hosts, started right before its run(s) and
  stopped after.
- The sequence is a bash script, timed as a whole: its CPU is bash's, every parallel-ssh's and parallel-scp's
  and all their ssh and scp processes'. The seed's ` + "`sudo mkdir /etc/docker`" + ` fails on these hosts, as on real
  ones, because installing docker-ce already made /etc/docker; the script goes on, as someone typing it would.
- After every run the bench checks each host's end state: docker-ce installed, /etc/docker/daemon.json asking
  for the systemd cgroup driver, docker enabled and running with that driver (from the doubles' state files).
  fleet's second run must also report every host ok and unchanged in its run record.
- No warm-up: every run needs fresh hosts, and the binaries are warm from the bench's version checks.
`
