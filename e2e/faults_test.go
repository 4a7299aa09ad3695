package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// faultFleet is the personality of each host of TestFaultMatrix's fleet:
// two healthy hosts, then every fault once.
var faultFleet = append([]harness.Fault{harness.FaultNone, harness.FaultNone}, harness.AllFaults()...)

// faultLimit bounds each fleet invocation of TestFaultMatrix; the slowest,
// provision on the slow host, takes about 10 s.
const faultLimit = 90 * time.Second

// want is how one host must end: its outcome as run.json writes it, and a
// pattern its status line's reason must match ("" for a success).
type want struct {
	outcome string
	reason  string
}

var succeeds = want{"ok", ""}

// cannotConnect is how the hosts that fleet cannot use at all end, whatever
// the command.
var cannotConnect = map[harness.Fault]want{
	harness.FaultRefuse:    {"unreachable", `^unreachable: connection refused$`},
	harness.FaultNoBanner:  {"unreachable", `^unreachable: no answer within 2s \(--connect-timeout\)$`},
	harness.FaultWrongKey:  {"unreachable", `^host key verification failed: host key of \S+ has CHANGED: it offered ssh-ed25519 SHA256:`},
	harness.FaultRejectKey: {"unreachable", `^authentication failed: refused publickey$`},
}

// noShell is how a host whose user has the nologin shell ends: nologin
// prints its message and exits 1 before fleet's command starts, which
// fleet tells from a command's own exit by the missing PID marker.
var noShell = want{"failed", `login refused: the account's login shell did not run the command: This account is currently not available\.$`}

// TestFaultMatrix runs fleet run, fleet copy and fleet provision, each over
// one fleet of healthy hosts and a host of every fault personality (see
// harness.Fault), and checks for every host its outcome and message, the
// exit status, the run record and the logs. The subtests share the hosts
// and run side by side; each writes its own files.
func TestFaultMatrix(t *testing.T) {
	f := startFaults(t, faultFleet...)
	t.Run("commands", func(t *testing.T) {
		t.Run("run", func(t *testing.T) { testFaultRun(t, f) })
		t.Run("copy", func(t *testing.T) { testFaultCopy(t, f) })
		t.Run("provision", func(t *testing.T) { testFaultProvision(t, f) })
		t.Run("slow host times out", func(t *testing.T) { testFaultSlowTimeout(t, f) })
	})
	// Only once every command is done: what they left behind.
	t.Run("nothing left behind", func(t *testing.T) {
		for _, h := range f.Hosts {
			if h.Fault == harness.FaultRefuse {
				continue
			}
			left, err := f.Written(h, "/tmp")
			if err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("%s (%q) has files of the runs left in /tmp: %q", h.Addr, h.Fault, left)
			}
			ents, err := os.ReadDir(h.Path(harness.DiskFullDir))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if strings.Contains(e.Name(), ".fleet-") {
					t.Errorf("%s (%q) has a temporary file left in %s: %s", h.Addr, h.Fault, harness.DiskFullDir, e.Name())
				}
			}
		}
	})
}

// wants maps every host of f to what the command must end it with: the
// healthy hosts succeed, the hosts fleet cannot use end as cannotConnect
// says, the others as in special, or succeed.
func wants(f *harness.Fleet, special map[harness.Fault]want) map[string]want {
	out := map[string]want{}
	for _, h := range f.Hosts {
		w := succeeds
		if c, found := cannotConnect[h.Fault]; found {
			w = c
		} else if s, found := special[h.Fault]; found {
			w = s
		}
		out[label(f.Users.NoPass, h)] = w
	}
	return out
}

// hostOf returns the (first) host of f with fault fl.
func hostOf(f *harness.Fleet, fl harness.Fault) harness.Host {
	for _, h := range f.Hosts {
		if h.Fault == fl {
			return h
		}
	}
	panic("no host with fault " + string(fl))
}

func testFaultRun(t *testing.T, f *harness.Fleet) {
	u := setup(t)
	// Long enough for the dropcmd host to drop, and a write bigger than the
	// diskfull host's disk.
	script := fmt.Sprintf("sleep %d; head -c %d /dev/zero > %s/fleet-faults-run && echo wrote",
		int(harness.DropCmdAfter.Seconds())+1, 2*harness.DiskFullSize, harness.DiskFullDir)
	r := u.startOn(f.SSHConfig, faultLimit, "run", "", "-h", f.HostsFile, "--connect-timeout", "2", "-t", "60",
		"--sudo", script).wait(faultLimit + 5*time.Second)
	w := wants(f, map[harness.Fault]want{
		harness.FaultNoShell:  noShell,
		harness.FaultDropCmd:  {"unreachable", `^unreachable: connection lost before the command reported its exit status$`},
		harness.FaultDiskFull: {"failed", `^Exited with error code 1$`},
		harness.FaultSudoPass: {"failed", `^sudo failed: sudo needs a password$`},
	})
	dir := checkFaultRecord(t, u, f, r, w, 4)

	np := f.Users.NoPass
	logOf := func(fl harness.Fault) string {
		return readString(t, filepath.Join(dir, "hosts", label(np, hostOf(f, fl))+".log"))
	}
	if l := logOf(harness.FaultDiskFull); !strings.Contains(l, "err | head: error writing 'standard output': No space left on device") {
		t.Errorf("the diskfull host's log does not say why the command failed:\n%s", l)
	}
	if l := logOf(harness.FaultChatty); !strings.Contains(l, "out | Welcome to ") {
		t.Errorf("the chatty host's log lacks its welcome text:\n%s", l)
	}
	for _, h := range f.Hosts {
		l := readString(t, filepath.Join(dir, "hosts", label(np, h)+".log"))
		// The chatty host's text has no newline: as with ssh, the
		// command's output continues its line.
		wrote := "out | wrote\n"
		if h.Fault == harness.FaultChatty {
			wrote = harness.ChattyBanner + "wrote\n"
		}
		if ran, want := strings.Contains(l, wrote), w[label(np, h)] == succeeds; ran != want {
			t.Errorf("%s (%q): the log has the command's output = %v, want %v:\n%s", h.Addr, h.Fault, ran, want, l)
		}
	}
	for fl, hint := range map[harness.Fault]string{
		harness.FaultRefuse:    "is sshd running on that port?",
		harness.FaultWrongKey:  "ssh-keygen -R",
		harness.FaultRejectKey: "check the user name (-l) and the key (--identity)",
		harness.FaultSudoPass:  "use -S/--sudo-password",
	} {
		re := regexp.MustCompile(`(?m)^fleet: hint: .*` + regexp.QuoteMeta(hint) + `.* \(` + regexp.QuoteMeta(label(np, hostOf(f, fl))) + `\)$`)
		if !re.MatchString(r.stderr) {
			t.Errorf("no hint %q for the %s host\n%s", hint, fl, r)
		}
	}
}

func testFaultCopy(t *testing.T, f *harness.Fleet) {
	u := setup(t)
	src := filepath.Join(t.TempDir(), "payload")
	data := make([]byte, 3<<20) // many times the droptransfer and diskfull limits
	_, _ = rand.Read(data)
	writeFile(t, src, string(data), 0o644)
	dst := harness.DiskFullDir + "/fleet-faults-copy"
	r := u.startOn(f.SSHConfig, faultLimit, "copy", "", "-h", f.HostsFile, "--connect-timeout", "2", "--sudo",
		src, dst).wait(faultLimit + 5*time.Second)
	w := wants(f, map[harness.Fault]want{
		harness.FaultNoShell:      noShell,
		harness.FaultDropTransfer: {"unreachable", `^unreachable: write \S+: connection lost$`},
		harness.FaultDiskFull:     {"failed", `^transfer failed: install ` + regexp.QuoteMeta(dst) + `: .*No space left on device$`},
		harness.FaultSudoPass:     {"failed", `^probe ` + regexp.QuoteMeta(dst) + `: sudo failed: sudo needs a password$`},
	})
	checkFaultRecord(t, u, f, r, w, 4)
	for _, h := range f.Hosts {
		got, err := os.ReadFile(h.Path(dst))
		if want := w[label(f.Users.NoPass, h)]; want.outcome == "ok" && (err != nil || !bytes.Equal(got, data)) {
			t.Errorf("%s (%q): %s has %d bytes (%v), want the %d sent", h.Addr, h.Fault, dst, len(got), err, len(data))
		} else if want.outcome != "ok" && h.Fault != harness.FaultRefuse && err == nil {
			t.Errorf("%s (%q): %s exists after a failed copy", h.Addr, h.Fault, dst)
		}
	}
}

// faultRecipe is a recipe with a command step that outlasts the dropcmd
// host's patience and a file step bigger than the droptransfer host's
// limit and the diskfull host's disk.
func faultRecipe(t *testing.T) (path string, blob []byte) {
	t.Helper()
	dir := t.TempDir()
	raw := make([]byte, 3*harness.DropTransferAfter)
	_, _ = rand.Read(raw)
	blob = []byte(base64.StdEncoding.EncodeToString(raw)) // text: recipe files are templates
	writeFile(t, filepath.Join(dir, "blob.txt"), string(blob), 0o644)
	recipe := fmt.Sprintf(`name: faults
description: a command step and a file step, over the fault matrix
files:
  blob:
    path: blob.txt
steps:
  - name: wait
    run: sleep %d
  - name: blob
    put: %s/fleet-faults-blob
    file: blob
    mode: "0644"
`, int(harness.DropCmdAfter.Seconds())+1, harness.DiskFullDir)
	return writeFile(t, filepath.Join(dir, "faults.yaml"), recipe, 0o644), blob
}

func testFaultProvision(t *testing.T, f *harness.Fleet) {
	u := setup(t)
	recipe, blob := faultRecipe(t)
	r := u.startOn(f.SSHConfig, faultLimit, "provision", "", "-h", f.HostsFile, "--connect-timeout", "2",
		"--recipe", recipe).wait(faultLimit + 5*time.Second)
	w := wants(f, map[harness.Fault]want{
		harness.FaultNoShell:      noShell,
		harness.FaultDropCmd:      {"unreachable", `^step "wait": .*connection lost`},
		harness.FaultDropTransfer: {"unreachable", `^step "blob": unreachable: .*connection lost`},
		harness.FaultDiskFull:     {"failed", `^step "blob": .*No space left on device`},
		harness.FaultSudoPass:     {"failed", `sudo needs a password`},
	})
	checkFaultRecord(t, u, f, r, w, 4)
	for _, h := range f.Hosts {
		if w[label(f.Users.NoPass, h)].outcome != "ok" {
			continue
		}
		if got, err := os.ReadFile(h.Path(harness.DiskFullDir + "/fleet-faults-blob")); err != nil || !bytes.Equal(got, blob) {
			t.Errorf("%s (%q): the recipe's file has %d bytes (%v), want the %d of blob.txt", h.Addr, h.Fault, len(got), err, len(blob))
		}
	}
}

// testFaultSlowTimeout: with a -t shorter than the slow host's delay, the
// slow host times out (exit status 3) and a healthy one succeeds. The slow
// host cannot answer before its delay, so a -t just under it is certain to
// pass first there, and leaves the healthy host the most time a busy
// machine may need.
func testFaultSlowTimeout(t *testing.T, f *harness.Fleet) {
	u := setup(t)
	slow, healthy := hostOf(f, harness.FaultSlow), hostOf(f, harness.FaultNone)
	limit := harness.SlowDelay * 9 / 10
	r := u.startOn(f.SSHConfig, faultLimit, "run", "", "-H", hostArg(f.Users.NoPass, slow, healthy), "-t", limit.String(),
		"true").wait(faultLimit + 5*time.Second)
	w := map[string]want{
		label(f.Users.NoPass, slow):    {"timeout", `^timed out: still running after ` + regexp.QuoteMeta(limit.String()) + ` \(-t\)$`},
		label(f.Users.NoPass, healthy): succeeds,
	}
	checkFaultRecord(t, u, f, r, w, 3)
}

// checkFaultRecord checks what fleet printed, its exit status and its run
// record against w (every host of the run), and returns the record's
// folder: a status line per host with the right outcome and reason, the
// same outcomes and status in run.json, a complete log per host, and the
// failed and succeeded files listing exactly the hosts they should.
func checkFaultRecord(t *testing.T, u *user, f *harness.Fleet, r result, w map[string]want, status int) string {
	t.Helper()
	if r.status != status {
		t.Errorf("exit status %d, want %d\n%s", r.status, status, r)
	}
	got := statuses(t, r.stdout)
	var failed, succeeded []string
	for l, want := range w {
		s, found := got[l]
		switch {
		case !found:
			t.Errorf("no status line for %s\n%s", l, r)
		case s.ok != (want.outcome == "ok"):
			t.Errorf("%s: success = %v, want outcome %s (reason %q)\n%s", l, s.ok, want.outcome, s.reason, r)
		case want.reason != "" && !regexp.MustCompile(want.reason).MatchString(s.reason):
			t.Errorf("%s: reason %q does not match %q\n%s", l, s.reason, want.reason, r)
		}
		if want.outcome == "ok" {
			succeeded = append(succeeded, l)
		} else {
			failed = append(failed, l)
		}
	}
	if len(got) != len(w) {
		t.Errorf("%d status lines, want %d\n%s", len(got), len(w), r)
	}

	dir, err := filepath.EvalSymlinks(filepath.Join(u.stateDir, "runs", "latest"))
	if err != nil {
		t.Fatalf("runs/latest: %v", err)
	}
	rec := u.latestRun()
	if rec.Status == nil || *rec.Status != status || rec.End == nil {
		t.Errorf("run.json: status %v, end %v; want %d and a time", rec.Status, rec.End, status)
	}
	if len(rec.Hosts) != len(w) {
		t.Errorf("run.json lists %d hosts, want %d", len(rec.Hosts), len(w))
	}
	for _, h := range rec.Hosts {
		want, found := w[h.Label]
		if !found || h.Outcome != want.outcome || (h.Error == "") != (want.outcome == "ok") {
			t.Errorf("run.json: %s ended %q (error %q), want %q", h.Label, h.Outcome, h.Error, want.outcome)
		}
		log := readString(t, filepath.Join(dir, h.Log))
		start := regexp.MustCompile(`(?m)^\S+ --- \| start ` + regexp.QuoteMeta(h.Label) + `$`)
		end := regexp.MustCompile(`(?m)^\S+ --- \| end ` + regexp.QuoteMeta(want.outcome) + `\b.*\(\S+\)$`)
		if !start.MatchString(log) || !end.MatchString(log) {
			t.Errorf("the log of %s has no start line or no end line saying %q:\n%s", h.Label, want.outcome, log)
		}
	}
	for name, hosts := range map[string][]string{"failed": failed, "succeeded": succeeded} {
		if got := lines(readString(t, filepath.Join(dir, name))); !slices.Equal(sorted(got), sorted(hosts)) {
			t.Errorf("the %s file lists %q, want exactly %q", name, got, hosts)
		}
	}
	checkModes(t, u.stateDir)
	return dir
}
