package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExitStatus checks pssh's exit statuses, which scripts written for
// pssh test: 0, 5 (a command failed), 4 (unreachable), 3 (timeout), and
// the precedence 3 > 4 > 5 when several apply.
func TestExitStatus(t *testing.T) {
	parent(t)
	hosts := testFleet.Hosts
	np := testFleet.Users.NoPass
	t.Run("all ok", func(t *testing.T) {
		u := setup(t)
		r := u.run("-h", testFleet.HostsFile, "true")
		mustExit(t, r, 0)
		got := statuses(t, r.stdout)
		for _, l := range allLabels(np) {
			if !got[l].ok {
				t.Errorf("no [SUCCESS] line for %s\n%s", l, r)
			}
		}
	})
	t.Run("one command fails", func(t *testing.T) {
		u := setup(t)
		r := u.run("-h", testFleet.HostsFile, `[ "$PSSH_NODENUM" = 1 ] && exit 5; true`)
		mustExit(t, r, 5)
		got := statuses(t, r.stdout)
		for i, l := range allLabels(np) {
			s, ok := got[l]
			switch {
			case !ok:
				t.Errorf("no status line for %s\n%s", l, r)
			case i == 1 && (s.ok || s.reason != "Exited with error code 5"):
				t.Errorf("%s: want [FAILURE] ... Exited with error code 5, got %+v\n%s", l, s, r)
			case i != 1 && !s.ok:
				t.Errorf("%s: want [SUCCESS], got %+v\n%s", l, s, r)
			}
		}
	})
	t.Run("one host unreachable", func(t *testing.T) {
		u := setup(t)
		r := u.run("-H", hostArg(np, hosts[0], testFleet.Unreachable, hosts[1], hosts[2]), "true")
		mustExit(t, r, 4)
		got := statuses(t, r.stdout)
		for _, h := range hosts[:3] {
			if !got[label(np, h)].ok {
				t.Errorf("no [SUCCESS] line for %s: one unreachable host must not stop the others\n%s", label(np, h), r)
			}
		}
		if s, ok := got[np+"@"+testFleet.Unreachable]; !ok || s.ok || !strings.Contains(s.reason, "unreachable") {
			t.Errorf("want [FAILURE] ... unreachable for %s, got %+v\n%s", testFleet.Unreachable, s, r)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		u := setup(t)
		r := u.run("-h", testFleet.HostsFile, "-t", "1", "sleep 30")
		mustExit(t, r, 3)
		got := statuses(t, r.stdout)
		for _, l := range allLabels(np) {
			if s := got[l]; s.ok || !strings.Contains(s.reason, "timed out") {
				t.Errorf("%s: want [FAILURE] ... timed out, got %+v\n%s", l, s, r)
			}
		}
	})
	t.Run("timeout beats unreachable beats failure", func(t *testing.T) {
		u := setup(t)
		// Host 0 times out, host 1 is unreachable, host 2 exits 7.
		r := u.run("-t", "2", "-H", hostArg(np, hosts[0], testFleet.Unreachable, hosts[1]),
			`case $PSSH_NODENUM in 0) sleep 31;; 2) exit 7;; esac`)
		mustExit(t, r, 3, "timeout wins")
		want := map[string]string{label(np, hosts[0]): "timeout", np + "@" + testFleet.Unreachable: "unreachable",
			label(np, hosts[1]): "failed"}
		if got := u.latestRun().outcomes(); !maps.Equal(got, want) {
			t.Errorf("run.json outcomes = %v, want %v\n%s", got, want, r)
		}

		// Without the timeout, unreachable wins over a failed command.
		r = u.run("-H", hostArg(np, testFleet.Unreachable, hosts[1]), `[ "$PSSH_NODENUM" = 1 ] && exit 7; true`)
		wantExit(t, r, 4, "unreachable beats a failed command")
	})
}

// TestInline checks -i: each host's stdout right after its status line,
// then "Stderr: " and its stderr, in pssh's format.
func TestInline(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	r := u.run("-i", "-h", testFleet.HostsFile, `echo "out $PSSH_HOST"; echo "err $PSSH_HOST" >&2`)
	mustExit(t, r, 0)
	got := statuses(t, r.stdout)
	blocks := inlineBlocks(r.stdout)
	for _, h := range testFleet.Hosts {
		l := label(np, h)
		if !got[l].ok {
			t.Errorf("no [SUCCESS] line for %s", l)
		}
		want := "out " + h.Addr + "\nStderr: err " + h.Addr + "\n"
		if blocks[l] != want {
			t.Errorf("after the status line of %s: got %q, want %q", l, blocks[l], want)
		}
	}
	if n := len(lines(r.stdout)); n != 3*len(testFleet.Hosts) {
		t.Errorf("stdout has %d lines, want 3 per host\n%s", n, r)
	}
	if t.Failed() {
		t.Log(r)
	}
}

// TestPrint checks -P: every output line, however the host's output was
// cut into packets, is prefixed with "label: " (pssh prefixes whole chunks
// and so leaves lines unlabelled).
func TestPrint(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	// One printf: the three lines leave in one write, so in one packet.
	r := u.run("-P", "-h", testFleet.HostsFile, `printf 'line1\nline2\nline3\n'; echo oops >&2`)
	mustExit(t, r, 0)
	labels := allLabels(np)
	check := func(stream, text string, want []string, allowed func(string) bool) {
		per := map[string][]string{}
		for _, line := range lines(text) {
			if allowed(line) {
				continue
			}
			l, rest, ok := strings.Cut(line, ": ")
			if !ok || !slices.Contains(labels, l) {
				t.Errorf("%s: line %q is not prefixed with a host label", stream, line)
				continue
			}
			per[l] = append(per[l], rest)
		}
		for _, l := range labels {
			if !slices.Equal(per[l], want) {
				t.Errorf("%s of %s: got lines %q, want %q", stream, l, per[l], want)
			}
		}
	}
	check("stdout", r.stdout, []string{"line1", "line2", "line3"}, statusRE.MatchString)
	check("stderr", r.stderr, []string{"oops"}, func(line string) bool {
		return strings.HasPrefix(line, fmt.Sprintf("%d hosts: ", numHosts)) // the summary
	})
	if t.Failed() {
		t.Log(r)
	}
}

// TestOutErrDirs checks -o and -e: one file per host, named by its label,
// holding exactly that host's stdout or stderr.
func TestOutErrDirs(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	base := t.TempDir()
	outDir, errDir := filepath.Join(base, "out"), filepath.Join(base, "err")
	r := u.run("-o", outDir, "-e", errDir, "-h", testFleet.HostsFile,
		`echo "out $PSSH_HOST"; echo "err $PSSH_HOST" >&2`)
	mustExit(t, r, 0)
	for dir, prefix := range map[string]string{outDir: "out ", errDir: "err "} {
		var want []string
		for _, h := range testFleet.Hosts {
			want = append(want, label(np, h))
			b, err := os.ReadFile(filepath.Join(dir, label(np, h)))
			if err != nil {
				t.Errorf("%v", err)
			} else if string(b) != prefix+h.Addr+"\n" {
				t.Errorf("%s/%s holds %q, want %q", dir, label(np, h), b, prefix+h.Addr+"\n")
			}
		}
		if got := dirNames(t, dir); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s holds %q, want exactly %q", dir, got, sorted(want))
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names // ReadDir sorts by name
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestSendInput checks -I: standard input, read once, reaches every host.
func TestSendInput(t *testing.T) {
	u := setup(t)
	const input = "first line\nsecond line\n"
	r := u.runInput(input, "-I", "-i", "-h", testFleet.HostsFile, "cat")
	mustExit(t, r, 0)
	blocks := inlineBlocks(r.stdout)
	for _, l := range allLabels(testFleet.Users.NoPass) {
		if blocks[l] != input {
			t.Errorf("%s echoed %q, want %q\n%s", l, blocks[l], input, r)
		}
	}
}

// TestDuplicateHosts checks that a host listed twice is contacted twice,
// the second time labelled X.1, in the report and in -o files alike.
func TestDuplicateHosts(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	h0, h1 := testFleet.Hosts[0], testFleet.Hosts[1]
	outDir := t.TempDir()
	r := u.run("-i", "-o", outDir, "-H", hostArg(np, h0, h0, h1), `echo "node $PSSH_NODENUM"`)
	mustExit(t, r, 0)
	x := label(np, h0)
	want := map[string]string{x: "node 0\n", x + ".1": "node 1\n", label(np, h1): "node 2\n"}
	if got := inlineBlocks(r.stdout); !maps.Equal(got, want) {
		t.Errorf("outputs by label = %q, want %q\n%s", got, want, r)
	}
	for l, out := range want {
		if b, err := os.ReadFile(filepath.Join(outDir, l)); err != nil || string(b) != out {
			t.Errorf("-o file %s: %q, %v; want %q", l, b, err, out)
		}
	}
}

// TestUsageErrors checks that mistakes on the command line end with exit
// status 2 and "fleet: error:" before any host is contacted or recorded.
func TestUsageErrors(t *testing.T) {
	parent(t)
	cases := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no hosts", []string{"true"}, "no hosts"},
		// testdata/kube's second line is "web1:22x".
		{"bad port in host file", []string{"-h", filepath.Join("testdata", "kube"), "true"}, `kube:2: invalid port "22x"`},
		{"unknown flag", []string{"--no-such-flag", "-h", testFleet.HostsFile, "true"}, "no-such-flag"},
		{"unsupported ssh argument", []string{"-x", "-R 8080:localhost:80", "-h", testFleet.HostsFile, "true"}, "ssh -R is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := setup(t)
			r := u.run(c.args...)
			wantExit(t, r, 2)
			if !strings.Contains(r.stderr, "fleet: error:") || !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr should say \"fleet: error:\" and %q\n%s", c.want, r)
			}
			if r.stdout != "" {
				t.Errorf("a usage error printed on stdout\n%s", r)
			}
			if _, err := os.Stat(filepath.Join(u.stateDir, "runs")); err == nil {
				t.Errorf("a usage error left a run record in %s", u.stateDir)
			}
		})
	}
}

// OpenSSH leaves a command without a terminal running when its connection
// closes, so fleet must kill the remote process group itself on a timeout
// or a Ctrl-C. These tests (and TestTimeoutKillsSudoCommand) check that
// nothing is left on the hosts. Each sleeps a duration of its own
// (uniqueSleep), so that no other test, nor another test run on this
// machine, is mistaken for a leftover.

// killWindow is how long a killed remote command may take to disappear
// after fleet has exited.
const killWindow = 5 * time.Second

// TestTimeoutKillsRemoteCommand: -t kills the command, not just the wait.
func TestTimeoutKillsRemoteCommand(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	sleep := uniqueSleep(333)
	run := u.start("", "-t", "2", "-h", testFleet.HostsFile, sleep)
	// Make sure the command really ran, or its absence later proves nothing.
	seen := false
	eventually(cmdTimeout, func() bool {
		seen = len(userProcsMatching(t, np, sleep)) > 0
		return seen || run.finished()
	})
	r := run.wait(cmdTimeout)
	mustExit(t, r, 3)
	if !seen {
		t.Errorf("never saw %q running as %s", sleep, np)
	}
	checkGone(t, r, killWindow, sleep)
}

// TestInterruptKillsRemoteCommands: Ctrl-C (SIGINT) kills every running
// command, exits 130 and leaves a finished record saying "cancelled".
func TestInterruptKillsRemoteCommands(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	sleep := uniqueSleep(335)
	run := u.start("", "-h", testFleet.HostsFile, sleep)
	// Count the sleeps themselves, not the shells that may wrap them.
	var sleeping []string
	if !eventually(10*time.Second, func() bool {
		sleeping = slices.DeleteFunc(userProcsMatching(t, np, sleep), func(p string) bool { return p != sleep })
		return len(sleeping) == numHosts || run.finished()
	}) || run.finished() {
		t.Fatalf("want %d %q running before the interrupt, got %q\n%s", numHosts, sleep, sleeping, run.result())
	}
	if err := run.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r := run.wait(8 * time.Second)
	wantExit(t, r, 130)
	checkGone(t, r, killWindow, sleep)
	rec := u.latestRun()
	if rec.End == nil {
		t.Errorf("run.json has no end after an interrupted run")
	}
	if rec.Status == nil || *rec.Status != 130 {
		t.Errorf("run.json status = %v, want 130", rec.Status)
	}
	if len(rec.Hosts) != numHosts {
		t.Errorf("run.json has %d hosts, want %d", len(rec.Hosts), numHosts)
	}
	rec.wantEvery(t, "cancelled")
}
