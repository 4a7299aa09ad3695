package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// How the seed part checks its runs and reads where the time went.

// readSeqSteps reads the sequence script's step file: "EXIT T0 T1" a line.
func readSeqSteps(path string) ([]seqStep, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []seqStep
	for line := range strings.Lines(string(b)) {
		var s seqStep
		var t0, t1 float64
		if _, err := fmt.Sscan(line, &s.Exit, &t0, &t1); err != nil {
			return nil, fmt.Errorf("%s: %q: %v", path, line, err)
		}
		s.Wall = time.Duration((t1 - t0) * float64(time.Second))
		out = append(out, s)
	}
	if len(out) != len(seedSteps) {
		return out, fmt.Errorf("the sequence ran %d of %d steps", len(out), len(seedSteps))
	}
	return out, nil
}

// State of the harness's CentOS 7 test doubles (e2e/harness/doubles/lib.sh).
const (
	fakePkgs  = "/var/lib/fake-pkgs/"
	fakeUnits = "/var/lib/fake-systemd/"
	fakeDrv   = "/var/lib/fake-docker/driver"
)

// checkDocker checks the end state every contestant must reach on every
// host: docker-ce installed, daemon.json asking for the systemd cgroup
// driver, docker enabled and running with it.
func checkDocker(hosts []harness.Host) error {
	var bad []string
	for _, h := range hosts {
		var cfg struct {
			ExecOpts []string `json:"exec-opts"`
		}
		b, err := os.ReadFile(h.Path("/etc/docker/daemon.json"))
		drv, _ := os.ReadFile(h.Path(fakeDrv))
		_, errPkg := os.Stat(h.Path(fakePkgs + "docker-ce"))
		_, errOn := os.Stat(h.Path(fakeUnits + "enabled/docker.service"))
		_, errUp := os.Stat(h.Path(fakeUnits + "active/docker.service"))
		switch {
		case errPkg != nil:
			bad = append(bad, h.Addr+": docker-ce not installed")
		case err != nil || json.Unmarshal(b, &cfg) != nil || !slices.Contains(cfg.ExecOpts, "native.cgroupdriver=systemd"):
			bad = append(bad, h.Addr+": no daemon.json with the systemd driver")
		case errOn != nil || errUp != nil:
			bad = append(bad, h.Addr+": docker not enabled and running")
		case strings.TrimSpace(string(drv)) != "systemd":
			bad = append(bad, h.Addr+": docker runs with the "+strings.TrimSpace(string(drv))+" driver")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("end state wrong on %d of %d hosts, first %s", len(bad), len(hosts), bad[0])
	}
	return nil
}

// checkNothingChanged reads fleet's record of its last run: a second run
// must report every host ok and unchanged.
func checkNothingChanged(stateDir string) error {
	hosts, err := benchreport.LatestRun(stateDir)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h.Outcome != "ok" || h.Changed {
			return fmt.Errorf("second run: a host reports %s, changed=%v (want ok, unchanged)", h.Outcome, h.Changed)
		}
	}
	return nil
}

// stepTimes gathers, from fleet's run records, how long each host spent
// before its first step (connect and facts) and in each step.
type stepTimes struct {
	order  []string
	byStep map[string][]time.Duration
}

// addRun reads the host logs of the latest run: lines "TIME --- | start
// HOST", "TIME --- | step NAME", ..., "TIME --- | end ...".
func (st *stepTimes) addRun(stateDir string) error {
	logs, err := filepath.Glob(filepath.Join(stateDir, "runs", "latest", "hosts", "*.log"))
	if err != nil || len(logs) == 0 {
		return fmt.Errorf("no host logs in fleet's run record (%v)", err)
	}
	for _, l := range logs {
		fh, err := os.Open(l)
		if err != nil {
			return err
		}
		var label string
		var start, last time.Time
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			ts, rest, _ := strings.Cut(sc.Text(), " ")
			mark, ok := strings.CutPrefix(rest, "--- | ")
			t, err := time.Parse(time.RFC3339Nano, ts)
			if !ok || err != nil {
				continue
			}
			if label != "" {
				if _, seen := st.byStep[label]; !seen {
					st.order = append(st.order, label)
				}
				st.byStep[label] = append(st.byStep[label], t.Sub(last))
			}
			switch word, name, _ := strings.Cut(mark, " "); word {
			case "start":
				label, start, last = "connect and facts", t, t
			case "step":
				label, last = "step: "+name, t
			case "end":
				label = ""
				st.byStep["whole host"] = append(st.byStep["whole host"], t.Sub(start))
			}
		}
		fh.Close()
	}
	return nil
}
