package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

// TestOutputMemoryIsBounded runs a command printing 20 MB on 20 hosts
// (the 4 harness hosts 5 times each) with -i, --gather and --json, and
// checks that fleet's peak RSS stays under 256 MiB while 400 MB passes
// through it. Each host keeps its --max-output (1 MiB) of stdout, head and
// tail around a mark: 20 MiB in all. The rest of the RSS is the SSH
// library's window (up to 2 MiB a channel while output flows: 40 MiB at
// -p 20) and the garbage collector's headroom (GOGC=100 lets the heap grow
// to twice what is live): 120-145 MiB measured. Before the bound fleet kept
// 16 MiB a stream, 320 MiB live here (with 50 MB a host it took 0.9-1.4
// GB): 20 MB a host is enough to go over. The host logs stop at --max-log
// 1M, with a note, and the hosts still succeed. The numbers, measured
// with 50 MB a host, are in docs/memory.md.
func TestOutputMemoryIsBounded(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	var hosts []any
	for i := 0; i < 5; i++ {
		for _, h := range testFleet.Hosts {
			hosts = append(hosts, h)
		}
	}
	const perHost = 202_000 * 99 // 20 MB in 99-byte lines
	const bound = 256 << 20
	// Then a last line that only the kept tail can show.
	command := fmt.Sprintf(`yes %s | head -c %d; echo "the end"; echo "a warning" >&2`, strings.Repeat("y", 98), perHost)
	for _, mode := range []string{"-i", "--gather", "--json"} {
		// One after the other, not in parallel: three fleets and their
		// sshds on 2 cores make each other's consumers lag, which fills
		// the SSH windows and measures the machine rather than fleet.
		t.Run(mode, func(t *testing.T) {
			u := newUser(t)
			start := time.Now()
			run := u.startOn(testFleet.SSHConfig, 2*time.Minute, "run", "",
				mode, "-p", "20", "--max-log", "1M", "-H", hostArg(np, hosts...), command)
			rss := peakRSS(run)
			r := run.wait(2*time.Minute + 5*time.Second)
			t.Logf("%s: 20 hosts x %.1f MB in %v: peak RSS %.1f MiB", mode, perHost/1e6,
				time.Since(start).Round(100*time.Millisecond), float64(rss)/(1<<20))
			if r.status != 0 {
				t.Fatalf("want exit status 0\n%.3000s", r.stderr)
			}
			if rss > bound {
				t.Errorf("peak RSS %d MiB, want under %d MiB", rss>>20, bound>>20)
			}
			if !strings.Contains(r.stderr, "20 of 20 hosts printed more than --max-log 1M") {
				t.Errorf("no warning that the logs were cut:\n%.3000s", r.stderr)
			}
			checkKept(t, mode, r.stdout, perHost)
			checkLogsCut(t, u.stateDir, perHost)
		})
	}
}

// peakRSS samples the process's VmHWM, its peak resident set, until it
// exits, and returns the last value read. The rusage that Wait returns will
// not do: Go starts children with vfork, and Linux then counts the parent's
// peak (this test binary's, large under -race) in the child's ru_maxrss.
func peakRSS(r *running) int64 {
	path := fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid)
	var peak int64
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb int64
					if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err == nil && kb<<10 > peak {
						peak = kb << 10
					}
				}
			}
		}
		select {
		case <-r.done:
			return peak
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkKept checks what fleet printed: every host's kept output, its mark
// and its last line, in the mode's form.
func checkKept(t *testing.T, mode, stdout string, perHost int) {
	t.Helper()
	mark := "of stdout cut here (--max-output 1M); "
	switch mode {
	case "-i":
		if n := strings.Count(stdout, "[SUCCESS]"); n != 20 {
			t.Errorf("%d hosts succeeded, want 20", n)
		}
		if n := strings.Count(stdout, mark); n != 20 {
			t.Errorf("%d cut marks, want 20", n)
		}
		if n := strings.Count(stdout, "y\nthe end\nStderr: a warning\n"); n != 20 {
			t.Errorf("%d hosts show their last line and stderr, want 20; the output ends:\n%q", n, stdout[max(0, len(stdout)-300):])
		}
		if len(stdout) > 20*(1<<20+1024) {
			t.Errorf("printed %d bytes for 20 hosts of 1 MiB each", len(stdout))
		}
	case "--gather":
		// Identical outputs fold though only part of them is kept: one group.
		if n := strings.Count(stdout, "----------------\n"); n != 2 || !strings.Contains(stdout, " (exit 0)\n") {
			t.Errorf("want one group of 20 hosts, got %d rules:\n%.500s", n, stdout)
		}
		if !strings.Contains(stdout, mark) || !strings.HasSuffix(stdout, "the end\nStderr:\na warning\n") {
			t.Errorf("the group lacks its mark or its last line:\n%.300s...%s", stdout, stdout[max(0, len(stdout)-300):])
		}
	case "--json":
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 20 {
			t.Fatalf("%d JSON lines, want 20", len(lines))
		}
		for _, line := range lines {
			var j ui.JSONResult
			if err := json.Unmarshal([]byte(line), &j); err != nil {
				t.Fatalf("%v: %.200s", err, line)
			}
			whole := int64(perHost + len("the end\n"))
			stdout, stderr := deref(j.Stdout), deref(j.Stderr)
			if j.Outcome != fleet.OK || j.StdoutCut != whole-1<<20 || j.StderrCut != 0 || stderr != "a warning\n" ||
				!strings.Contains(stdout, mark) || !strings.HasSuffix(stdout, "the end\n") || len(stdout) > 1<<20+300 {
				t.Errorf("%s: outcome %s, stdout %d bytes kept, %d cut, stderr %q", j.Host, j.Outcome, len(stdout), j.StdoutCut, stderr)
			}
		}
	}
}

// checkLogsCut checks the record: every host's log stopped near --max-log
// with its notes, run.json counts the cut, and the log still ends with the
// host's end note.
func checkLogsCut(t *testing.T, stateDir string, perHost int) {
	t.Helper()
	rec, err := record.Find(stateDir, "latest")
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range rec.Info.Hosts {
		b, err := os.ReadFile(filepath.Join(rec.Dir, h.Log))
		if err != nil {
			t.Fatal(err)
		}
		// 1 MiB of output in 99-byte lines, each with a 31-byte prefix.
		if len(b) > 1<<20+(1<<20/99+1)*31+4096 || !strings.Contains(string(b), "output past --max-log 1048576 bytes is not logged") {
			t.Errorf("%s: log of %d bytes, or without the cut note", h.Host, len(b))
		}
		if h.LogCut < int64(perHost)-1<<20 || h.Outcome != fleet.OK || rec.Info.Hosts[i].ExitCode != 0 {
			t.Errorf("%s: run.json log_cut %d, outcome %v", h.Host, h.LogCut, h.Outcome)
		}
		if !strings.Contains(string(b[max(0, len(b)-400):]), "--- | end ok exit=0") {
			t.Errorf("%s: log does not end with its end note: %q", h.Host, b[max(0, len(b)-400):])
		}
	}
}

// TestRecordsPrunedBySize runs fleet four times with FLEET_KEEP_SIZE=300K,
// each run leaving a record of about 135 KB (100 KB of output and its
// timestamps): the records kept are the newest two, the latest among them.
// A size fleet cannot read is a usage error before any host is contacted.
func TestRecordsPrunedBySize(t *testing.T) {
	u := setup(t)
	u.env = []string{"FLEET_KEEP_SIZE=300K"}
	np := testFleet.Users.NoPass
	var ids []string
	for i := 0; i < 4; i++ {
		r := u.run("-H", hostArg(np, testFleet.Hosts[0]), fmt.Sprintf(`yes %s | head -c 100000`, strings.Repeat("x", 98)))
		if r.status != 0 {
			t.Fatalf("run %d\n%s", i, r)
		}
		rec, err := record.Find(u.stateDir, "latest")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.Info.ID)
	}
	runs, errs := record.List(u.stateDir)
	var left []string
	for _, r := range runs {
		left = append(left, r.Info.ID)
	}
	if len(errs) > 0 || strings.Join(left, ",") != ids[3]+","+ids[2] {
		t.Errorf("records left %v (%v), want the newest two of %v", left, errs, ids)
	}

	for _, args := range [][]string{{"--max-output", "12X"}, {"--max-output-total", "-1M"}, {"--max-log", "lots"}} {
		r := u.run(append(append(args, "-H", hostArg(np, testFleet.Hosts[0])), "true")...)
		if r.status != 2 || !strings.Contains(r.stderr, args[0]+": ") || !strings.Contains(r.stderr, "is not a size") {
			t.Errorf("want a usage error naming %s\n%s", args[0], r)
		}
	}
}

// deref is a --json line's stdout or stderr ("" when absent).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
