package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// The interrupt tests run on 50 hosts at -p 20 a command that ends at once
// on the first 10 hosts and sleeps on the others, so that when the signal
// comes 10 hosts have finished, 20 are running and 20 were never started,
// and the record must tell the three apart.
const (
	intHosts    = 50
	intPar      = 20
	intFinished = 10
)

// intGrace bounds fleet's exit after one Ctrl-C or SIGTERM: it kills every
// running command (TERM, then KILL after 2 s) and waits at most
// fleet.killGrace (5 s) for each, all hosts at once; the rest is margin for
// a busy machine.
const intGrace = 10 * time.Second

// hardQuit is how soon a second Ctrl-C must end fleet, as the issue asks.
const hardQuit = 2 * time.Second

// TestInterrupt: one Ctrl-C (SIGINT), one SIGTERM, and two Ctrl-Cs in the
// middle of a run on 50 real hosts. The cases run one after the other on
// one fleet of their own, since each counts the processes of every host.
func TestInterrupt(t *testing.T) {
	parent(t)
	f := startOwnFleet(t, intHosts)
	hosts := hostsFile(t, f.Users.NoPass, f.Hosts)
	for _, c := range []struct {
		name       string
		ignoreTerm bool
		sigs       []os.Signal
	}{
		{"one SIGINT", false, []os.Signal{os.Interrupt}},
		{"SIGTERM", false, []os.Signal{syscall.SIGTERM}},
		// Commands that ignore SIGTERM get fleet's KILL 2 s later.
		{"one SIGINT, TERM ignored", true, []os.Signal{os.Interrupt}},
		// The commands ignore SIGTERM, so that killing them takes fleet's
		// whole TERM-to-KILL wait and the second Ctrl-C comes while it waits.
		{"two SIGINTs", true, []os.Signal{os.Interrupt, os.Interrupt}},
		// A second Ctrl-C as soon as fleet took the first, before its kills
		// reached the hosts: fleet waits for them to start (at most 1 s)
		// before it cuts the connections, so nothing is left running.
		{"two quick SIGINTs", true, []os.Signal{os.Interrupt, quickSecond, os.Interrupt}},
		// The terminal closed: as one Ctrl-C, exit status 129.
		{"SIGHUP", false, []os.Signal{syscall.SIGHUP}},
	} {
		t.Run(c.name, func(t *testing.T) { testInterrupt(t, f, hosts, c.ignoreTerm, c.sigs...) })
	}
	t.Run("stdout closed", func(t *testing.T) {
		testStdoutClosed(t, f, hosts)
	})
}

// testStdoutClosed: `fleet run ... | head -1`. The reader of fleet's output
// goes away while hosts still run; fleet's next line meets a closed pipe.
// That must act as one Ctrl-C (stop starting hosts, kill what runs, write
// the whole record) and exit 141, not kill fleet with its commands left
// running and its record unfinished.
func testStdoutClosed(t *testing.T, f *harness.Fleet, hosts string) {
	u := newUser(t)
	sleep := uniqueSleep(333)
	// Ten hosts end at once; two wait for a flag, which the test sets once
	// it has closed the pipe, so theirs are the lines that meet the closed
	// pipe (a fixed sleep raced the ten on a loaded machine); the rest of
	// the window sleeps until killed.
	flag := filepath.Join(sharedTemp(t), "go")
	body := `case $PSSH_NODENUM in [0-9]) ;; 1[01]) while [ ! -e ` + flag + ` ]; do sleep 0.05; done;; *) ` + sleep + `;; esac`
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := u.command(ctx, nil, "run", "-F", f.SSHConfig, "-p", "20", "-h", hosts, body)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Read until the ten quick hosts are done, as `head -10` would.
	var first string
	out := bufio.NewReader(pr)
	for strings.Count(first, "[SUCCESS]") < intFinished {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("fleet's output ended before %d hosts succeeded: %v\n%s%s", intFinished, err, first, stderr.String())
		}
		first += line
	}
	if !eventually(20*time.Second, func() bool { return len(sleepProcs(sleep)) >= intPar-12 }) {
		t.Fatalf("want at least %d %q running, got %d", intPar-12, sleep, len(sleepProcs(sleep)))
	}
	pr.Close() // head has what it wanted
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-done:
	case <-time.After(intGrace + 5*time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("fleet still running %v after its output was closed\n%s", intGrace+5*time.Second, stderr.String())
	}
	r := result{args: cmd.Args, stdout: first, stderr: stderr.String(), status: cmd.ProcessState.ExitCode()}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatalf("fleet: %v\n%s", werr, r)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("fleet was killed by %v instead of winding down\n%s", ws.Signal(), r)
	}
	if r.status != 141 || !strings.Contains(r.stderr, "SIGPIPE") {
		t.Errorf("want exit status 141 and a word of SIGPIPE\n%s", r)
	}
	checkGone(t, r, 10*time.Second, sleep)
	rec := u.latestRun()
	if rec.Status == nil || *rec.Status != 141 || rec.End == nil || len(rec.Hosts) != intHosts {
		t.Fatalf("run.json: status %v, end %v, %d hosts; want 141, a time and %d hosts\n%s", rec.Status, rec.End, len(rec.Hosts), intHosts, r)
	}
	count := rec.outcomeCounts()
	if count["ok"] < intFinished || count["cancelled"] < intPar-12 || count["ok"]+count["cancelled"]+count["not-started"] != intHosts {
		t.Errorf("run.json outcomes %v: want at least %d ok and %d cancelled, the rest not started\n%s", count, intFinished, intPar-12, r)
	}
}

// quickSecond, among testInterrupt's signals, sends the next one as soon
// as fleet has taken the first, rather than once every kill has started.
var quickSecond os.Signal = syscall.Signal(0)

func testInterrupt(t *testing.T, f *harness.Fleet, hosts string, ignoreTerm bool, sigs ...os.Signal) {
	quick := len(sigs) == 3 && sigs[1] == quickSecond
	if quick {
		sigs = []os.Signal{sigs[0], sigs[2]}
	}
	u := newUser(t)
	np := f.Users.NoPass
	sleep := uniqueSleep(333)
	body := sleep
	if ignoreTerm {
		body = "{ trap '' TERM; " + sleep + "; }"
	}
	run := u.startOn(f.SSHConfig, cmdTimeout, "run", "", "-p", "20", "-h", hosts,
		`[ "$PSSH_NODENUM" -lt 10 ] || `+body)

	// Wait for the window to be full of sleeping hosts.
	var sleeping []proc
	if !eventually(20*time.Second, func() bool {
		sleeping = sleepProcs(sleep)
		return len(sleeping) == intPar && strings.Count(run.stdout.String(), "[SUCCESS]") == intFinished || run.finished()
	}) || run.finished() {
		t.Fatalf("want %d %q running and %d hosts done before the signal, got %d running\n%s",
			intPar, sleep, intFinished, len(sleeping), run.result())
	}

	groups := processGroups(t, sleeping)
	if err := run.cmd.Process.Signal(sigs[0]); err != nil {
		t.Fatal(err)
	}
	last, limit := time.Now(), intGrace
	if len(sigs) == 2 {
		// The second Ctrl-C comes once fleet has started killing every
		// running command: its kill script on the host (TERM, then KILL
		// after 2 s, since these commands ignore TERM) goes on when fleet
		// quits. ("two quick SIGINTs" sends it at once instead.)
		var missing []int
		if quick {
			// As soon as fleet has taken the first (its notice), not
			// after a fixed 20 ms: a second SIGINT sent while the first
			// is still pending merges with it (signals are not queued),
			// which a loaded machine did.
			if !eventually(10*time.Second, func() bool {
				return strings.Contains(run.stderr.String(), "stopping") || run.finished()
			}) || run.finished() {
				t.Fatalf("no notice of the first Ctrl-C\n%s", run.result())
			}
		} else if !eventually(10*time.Second, func() bool {
			missing = groupsWithoutKill(groups)
			return len(missing) == 0 || run.finished()
		}) || run.finished() {
			t.Fatalf("after the first Ctrl-C, no kill started for the process groups %v (or fleet ended "+
				"although its commands ignore SIGTERM)\n%s", missing, run.result())
		}
		if err := run.cmd.Process.Signal(sigs[1]); err != nil {
			t.Fatal(err)
		}
		last, limit = time.Now(), hardQuit
	}
	select {
	case <-run.done:
		t.Logf("fleet exited %v after the last signal", time.Since(last).Round(time.Millisecond))
	case <-time.After(limit):
		t.Errorf("fleet still running %v after the last signal", limit)
	}
	r := run.wait(cmdTimeout)
	want := 130 // Ctrl-C and SIGTERM
	if sigs[0] == syscall.SIGHUP {
		want = 129
	}
	wantExit(t, r, want)
	wantSummary := regexp.MustCompile(`(?m)^50 hosts: 10 ok, 20 cancelled, 20 not started \(`)
	if !wantSummary.MatchString(r.stderr + r.stdout) {
		t.Errorf("want the summary %q\n%s", wantSummary, r)
	}
	if len(sigs) == 2 && !strings.Contains(r.stderr, "fleet: quitting") {
		t.Errorf("the second Ctrl-C did not say it quits\n%s", r)
	}

	// Nothing of the run is left on any host: every host is this machine,
	// so every process whose command line holds the sleep counts, whoever
	// runs it (the shell, sleep itself).
	checkGone(t, r, 10*time.Second, sleep)

	checkInterruptRecord(t, u, np, f.Hosts, want)
}

// sleepProcs lists the processes that are exactly the command sleep.
func sleepProcs(sleep string) []proc {
	return slices.DeleteFunc(procsMatching(sleep), func(p proc) bool { return p.cmdline != sleep })
}

// checkInterruptRecord reads the run record: its status, each host's
// outcome in run.json, and each host's log, which must end as run.json
// says for the hosts that started and must not exist for those that never
// did.
func checkInterruptRecord(t *testing.T, u *user, np string, hosts []harness.Host, status int) {
	t.Helper()
	rec := u.latestRun()
	if rec.Status == nil || *rec.Status != status || rec.End == nil {
		t.Errorf("run.json: status %v, end %v; want %d and a time", rec.Status, rec.End, status)
	}
	if len(rec.Hosts) != len(hosts) {
		t.Fatalf("run.json has %d hosts, want %d", len(rec.Hosts), len(hosts))
	}
	dir := filepath.Join(u.stateDir, "runs", "latest")
	for i, h := range rec.Hosts {
		want, logEnd := "not-started", ""
		switch {
		case i < intFinished:
			want, logEnd = "ok", "--- | end ok exit=0 ("
		case i < intFinished+intPar:
			want, logEnd = "cancelled", "--- | end cancelled: interrupted ("
		}
		if h.Label != label(np, hosts[i]) || h.Outcome != want {
			t.Errorf("run.json host %d: %s %q (%s), want %s %q", i, h.Label, h.Outcome, h.Error, label(np, hosts[i]), want)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, h.Log))
		switch {
		case logEnd == "" && err == nil:
			t.Errorf("%s never started but has a log:\n%s", h.Label, b)
		case logEnd == "":
		case err != nil:
			t.Errorf("log of %s: %v", h.Label, err)
		default:
			l := lines(string(b))
			if len(l) == 0 || !strings.Contains(l[len(l)-1], logEnd) {
				t.Errorf("log of %s does not end with %q:\n%s", h.Label, logEnd, b)
			}
		}
	}
}

// processGroups returns the process groups of ps: each remote command is
// one, led by its login shell, which is what fleet kills.
func processGroups(t *testing.T, ps []proc) []int {
	t.Helper()
	var out []int
	for _, p := range ps {
		pgid := statField(p.pid, 2)
		if pgid < 0 {
			t.Fatalf("process %d (%s): no process group in its /proc stat", p.pid, p.cmdline)
		}
		out = append(out, pgid)
	}
	return out
}

// groupsWithoutKill returns the groups for which no process runs fleet's
// kill script ("kill -TERM -PGID ...") yet.
func groupsWithoutKill(groups []int) []int {
	var kills strings.Builder
	for _, p := range procsMatching("kill -TERM -") { // one scan of /proc for all groups
		kills.WriteString(p.cmdline + "\n")
	}
	var out []int
	for _, g := range groups {
		if !strings.Contains(kills.String(), "kill -TERM -"+strconv.Itoa(g)+" ") {
			out = append(out, g)
		}
	}
	return out
}
