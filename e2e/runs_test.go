package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startPlain starts `fleet args...` as this user, without the -F that
// startSub adds: rerun, logs and runs only read records (rerun dials with
// the recorded command line, which has its own -F).
func (u *user) startPlain(args ...string) *running {
	u.t.Helper()
	return u.startArgs(cmdTimeout, "", args...)
}

// fleet runs `fleet args...` (no -F) to its end.
func (u *user) fleet(args ...string) result {
	u.t.Helper()
	return u.startPlain(args...).wait(cmdTimeout + 5*time.Second)
}

// recInfo is run.json as `fleet runs show --json` prints it.
type recInfo struct {
	ID      string     `json:"id"`
	Args    []string   `json:"args"`
	End     *time.Time `json:"end"`
	Status  *int       `json:"status"`
	RerunOf string     `json:"rerun_of"`
	Hosts   []struct {
		Label string `json:"host"` // the label
	} `json:"hosts"`
}

func (r recInfo) labels() []string {
	var out []string
	for _, h := range r.Hosts {
		out = append(out, h.Label)
	}
	return sorted(out)
}

// show runs `fleet runs show --json REF` and parses it.
func (u *user) show(ref string) recInfo {
	u.t.Helper()
	r := u.fleet("runs", "show", "--json", ref)
	var info recInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); r.status != 0 || err != nil {
		u.t.Fatalf("runs show %s: %v\n%s", ref, err, r)
	}
	return info
}

// hostLog reads a host's log file of a run.
func (u *user) hostLog(id, label string) string {
	b, _ := os.ReadFile(filepath.Join(u.stateDir, "runs", id, "hosts", label+".log"))
	return string(b)
}

func touch(t *testing.T, path string) { writeFile(t, path, "", 0o644) }

// failThenRerun runs a command on every host that fails on hosts 2 and 3
// (no marker yet), adds their markers and reruns. It returns the folder
// and both run ids; each host appends a line to D/count-ADDR per attempt.
func failThenRerun(t *testing.T, u *user) (dir, first, rerun string) {
	t.Helper()
	dir = sharedTemp(t)
	hs := testFleet.Hosts
	np := testFleet.Users.NoPass
	for _, h := range hs[:2] {
		touch(t, filepath.Join(dir, "ok-"+h.Addr))
	}
	cmd := fmt.Sprintf(`echo x >> %[1]s/count-$PSSH_HOST; [ -e %[1]s/ok-$PSSH_HOST ] || exit 3; echo "ran $PSSH_HOST"`, dir)
	if r := u.run("-H", hostArg(np, hs[0], hs[1], hs[2], hs[3]), cmd); r.status != 5 {
		t.Fatalf("first run: want exit status 5\n%s", r)
	}
	first = u.show("latest").ID
	for _, h := range hs[2:] {
		touch(t, filepath.Join(dir, "ok-"+h.Addr))
	}
	r := u.fleet("rerun")
	if r.status != 0 {
		t.Fatalf("rerun: want exit status 0\n%s", r)
	}
	want := []string{label(np, hs[2]), label(np, hs[3])}
	st := statuses(t, r.stdout)
	if len(st) != 2 || !st[want[0]].ok || !st[want[1]].ok {
		t.Errorf("rerun: want SUCCESS lines for exactly %q\n%s", want, r)
	}
	rec := u.show("latest")
	if rec.ID == first || rec.RerunOf != first || !slices.Equal(rec.labels(), sorted(want)) {
		t.Errorf("rerun record: id %s, rerun_of %q, hosts %q; want a new run, rerun_of %s, hosts %q",
			rec.ID, rec.RerunOf, rec.labels(), first, want)
	}
	// The record keeps the command line of the run it repeats (its hosts
	// are the record's, not that line's): fleet runs shows the command.
	if args := u.show(first).Args; !slices.Equal(rec.Args, args) {
		t.Errorf("rerun record: args %q, want the first run's %q", rec.Args, args)
	}
	for i, h := range hs[2:] {
		if log := u.hostLog(rec.ID, want[i]); !strings.Contains(log, " out | ran "+h.Addr+"\n") {
			t.Errorf("rerun log of %s does not show the command ran:\n%s", want[i], log)
		}
	}
	return dir, first, rec.ID
}

// counts is how often the command ran on each host, in host order.
func counts(dir string) []int {
	var out []int
	for _, h := range testFleet.Hosts {
		b, _ := os.ReadFile(filepath.Join(dir, "count-"+h.Addr))
		out = append(out, len(lines(string(b))))
	}
	return out
}

// TestRerunFailedHosts: rerun touches exactly the hosts that failed,
// a rerun of a fully successful run does nothing, and --all takes all.
func TestRerunFailedHosts(t *testing.T) {
	u := setup(t)
	dir, first, rerun := failThenRerun(t, u)
	if got := counts(dir); !slices.Equal(got, []int{1, 1, 2, 2}) {
		t.Errorf("runs per host after the rerun: %v, want [1 1 2 2]", got)
	}

	r := u.fleet("rerun")
	if r.status != 0 || !strings.Contains(r.stderr, "nothing to rerun") || statusRE.MatchString(r.stdout) {
		t.Errorf("rerun of a run where every host succeeded: want exit 0 and \"nothing to rerun\"\n%s", r)
	}
	if id := u.show("latest").ID; id != rerun {
		t.Errorf("a rerun with nothing to do recorded run %s", id)
	}

	// -1 is the run before the latest: the first one. The docs
	// (rerun.go) give exactly this example.
	r = u.fleet("rerun", "-1", "--all")
	if r.status != 0 {
		t.Errorf("BUG: `fleet rerun -1 --all` (documented example) fails; trying `--all -- -1`\n%s", r)
		r = u.fleet("rerun", "--all", "--", "-1")
	}
	if r.status != 0 || len(statuses(t, r.stdout)) != numHosts {
		t.Fatalf("rerun --all of the first run: want exit 0 and %d status lines\n%s", numHosts, r)
	}
	rec := u.show("latest")
	if rec.RerunOf != first || !slices.Equal(rec.labels(), sorted(allLabels(testFleet.Users.NoPass))) {
		t.Errorf("rerun --all record: rerun_of %q, hosts %q; want %s and every host", rec.RerunOf, rec.labels(), first)
	}
	if got := counts(dir); !slices.Equal(got, []int{2, 2, 3, 3}) {
		t.Errorf("runs per host after rerun --all: %v, want [2 2 3 3]", got)
	}
}

// TestRerunUnreachable: only the unreachable host is dialled again, also
// by a rerun of the rerun.
func TestRerunUnreachable(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	if r := u.run("-H", hostArg(np, testFleet.Unreachable, testFleet.Hosts[0], testFleet.Hosts[1]), "true"); r.status != 4 {
		t.Fatalf("want exit status 4\n%s", r)
	}
	bad := np + "@" + testFleet.Unreachable
	prev := u.show("latest").ID
	for range 2 {
		r := u.fleet("rerun")
		st := statuses(t, r.stdout)
		if s, ok := st[bad]; r.status != 4 || len(st) != 1 || !ok || s.ok {
			t.Errorf("rerun of %s: want exit 4 and one FAILURE line, for %s\n%s", prev, bad, r)
		}
		rec := u.show("latest")
		if !slices.Equal(rec.labels(), []string{bad}) || rec.RerunOf != prev {
			t.Errorf("rerun record: hosts %q, rerun_of %q; want only %s, %s", rec.labels(), rec.RerunOf, bad, prev)
		}
		prev = rec.ID
	}
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (out|err|---) \| `)

// hostOutcomes parses `fleet logs` with no host: label -> outcome.
func hostOutcomes(out string) map[string]string {
	got := map[string]string{}
	for _, l := range lines(out) {
		if f := strings.Fields(l); len(f) >= 2 {
			got[f[0]] = f[1]
		}
	}
	return got
}

// TestLogsFollow: logs -f shows output live and returns when the host
// ends; plain logs, --failed, the host list and an unknown host. Host 1
// prints a line that looks like fleet's end note, host 2 ends at once.
func TestLogsFollow(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	hs := testFleet.Hosts
	l0, l1, l2 := label(np, hs[0]), label(np, hs[1]), label(np, hs[2])
	run := u.start("", "-H", hostArg(np, hs[0], hs[1], hs[2]), `echo first; case $PSSH_NODENUM in 2) exit 0;; `+
		`1) echo 'fake --- | end note';; esac; sleep 3; echo second; [ "$PSSH_NODENUM" = 0 ] || exit 7`)
	if !eventually(10*time.Second, func() bool { return exists(t, filepath.Join(u.stateDir, "runs", "latest", "run.json")) }) {
		t.Fatalf("no runs/latest/run.json while the run goes\n%s", run.result())
	}
	id := u.show("latest").ID
	follow, follow1 := u.startPlain("logs", "-f", l0), u.startPlain("logs", "-f", l1)
	if !eventually(10*time.Second, func() bool { return strings.Contains(follow.stdout.String(), "out | first\n") }) {
		t.Fatalf("logs -f never printed \"first\"\n%s", follow.result())
	}
	if run.finished() {
		t.Errorf("the run ended before logs -f printed \"first\": it does not follow live")
	}
	// Host 2 has ended (its log says so) while the run goes on.
	if eventually(10*time.Second, func() bool {
		return strings.Contains(u.hostLog(id, l2), " --- | end ok")
	}) && !run.finished() {
		if r := u.fleet("logs"); hostOutcomes(r.stdout)[l2] != "ok" {
			t.Errorf("BUG: during the run, `fleet logs` lists %s, whose log already ends \"end ok\", as not ok\n%s", l2, r)
		}
	}
	if r := run.wait(cmdTimeout); r.status != 5 {
		t.Fatalf("run: want exit status 5\n%s", r)
	}
	f := follow.wait(3 * time.Second)
	if f.status != 0 || !strings.Contains(f.stdout, "out | second\n") || !strings.Contains(f.stdout, " --- | end ok") {
		t.Errorf("logs -f: want exit 0, \"second\" and the end note\n%s", f)
	}
	for _, l := range lines(f.stdout) {
		if !logLine.MatchString(l) {
			t.Errorf("logs -f line %q is not `TIME out|err|--- | text`", l)
		}
	}
	if r := follow1.wait(3 * time.Second); !strings.Contains(r.stdout, "out | second\n") {
		t.Errorf("BUG: logs -f stopped at an output line that contains \" --- | end \", not at the host's end\n%s", r)
	}
	if r := u.fleet("logs", l0); r.status != 0 || r.stdout != f.stdout {
		t.Errorf("logs after the run differs from what -f printed (%q)\n%s", f.stdout, r)
	}
	r := u.fleet("logs", "--failed")
	if r.status != 0 || !strings.Contains(r.stdout, "==== "+l1+": ") || strings.Count(r.stdout, "==== ") != 1 ||
		!strings.Contains(r.stdout, "out | second\n") {
		t.Errorf("logs --failed: want a header and the log for %s only\n%s", l1, r)
	}
	r = u.fleet("logs")
	if want := map[string]string{l0: "ok", l1: "failed", l2: "ok"}; r.status != 0 || !maps.Equal(hostOutcomes(r.stdout), want) {
		t.Errorf("logs with no host: want %v\n%s", want, r)
	}
	r = u.fleet("logs", "no-such-host")
	if r.status != 1 || !strings.Contains(r.stderr, id) || !strings.Contains(r.stderr, "no-such-host") {
		t.Errorf("logs of an unknown host: want exit 1 naming run %s\n%s", id, r)
	}
}

// TestRunsList: fleet runs, --json and the RUN references.
func TestRunsList(t *testing.T) {
	u := setup(t)
	_, first, rerun := failThenRerun(t, u)
	r := u.fleet("runs")
	var rows []string // id hosts ok failed
	for _, l := range lines(r.stdout) {
		if f := strings.Fields(l); len(f) >= 8 && f[0] != "ID" {
			rows = append(rows, strings.Join([]string{f[0], f[4], f[5], f[6]}, " "))
		}
	}
	if want := []string{rerun + " 2 2 0", first + " 4 2 2"}; r.status != 0 || !slices.Equal(rows, want) {
		t.Errorf("runs: rows (id hosts ok failed) %q, want %q\n%s", rows, want, r)
	}
	r = u.fleet("runs", "--json")
	var got []string
	for _, l := range lines(r.stdout) {
		var j struct {
			ID, State         string
			RerunOf           string `json:"rerun_of"`
			Status            *int
			Hosts, OK, Failed int
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil || j.Status == nil {
			t.Errorf("runs --json line %q: %v, status %v", l, err, j.Status)
			continue
		}
		got = append(got, fmt.Sprintf("%s %s %d %d %d %d %s", j.ID, j.State, *j.Status, j.Hosts, j.OK, j.Failed, j.RerunOf))
	}
	if want := []string{rerun + " done 0 2 2 0 " + first, first + " done 5 4 2 2 "}; !slices.Equal(got, want) {
		t.Errorf("runs --json: got %q, want %q (id state status hosts ok failed rerun_of)\n%s", got, want, r)
	}

	prefix := first[:len(first)-2] // ids end in 6 random hex digits
	for ref, id := range map[string]string{prefix: first, "latest": rerun, rerun: rerun} {
		if got := u.show(ref).ID; got != id {
			t.Errorf("runs show %s: run %s, want %s", ref, got, id)
		}
	}
	if r := u.fleet("runs", "show", "-1"); r.status != 0 || !strings.Contains(r.stdout, "run      "+first) {
		t.Errorf("BUG: `fleet runs show -1` does not show run %s\n%s", first, r)
	}
	if r := u.fleet("runs", "show", "--", "-1"); r.status != 0 || !strings.Contains(r.stdout, "run      "+first) {
		t.Errorf("runs show -- -1: want run %s\n%s", first, r)
	}
	r = u.fleet("runs", "show", "nosuchrun")
	if r.status != 1 || !strings.Contains(r.stderr, `"nosuchrun"`) || !strings.Contains(r.stderr, "hint: fleet runs") {
		t.Errorf("runs show of an unknown id: want exit 1, a message and a hint\n%s", r)
	}
	for _, sub := range [][]string{{"runs"}, {"runs", "show"}, {"logs"}, {"rerun"}} {
		if r := u.fleet(append(sub, "--bogus")...); r.status != 2 || r.stdout != "" {
			t.Errorf("BUG: a bad flag is not a usage error (exit 2, nothing on stdout)\n%s", r)
		}
	}
}

// TestRerunKilledRun: a run killed outright is listed as killed and its
// hosts that had not ended are rerun. Host 0 sleeps; host 1 ends at once.
func TestRerunKilledRun(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	hs := testFleet.Hosts
	l0, l1 := label(np, hs[0]), label(np, hs[1])
	dir := sharedTemp(t)
	slow := filepath.Join(dir, "slow-"+hs[0].Addr)
	touch(t, slow)
	sleep := uniqueSleep(5)
	killSleeps := func() {
		for _, p := range procsMatching(sleep) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	t.Cleanup(killSleeps)
	run := u.start("", "-H", hostArg(np, hs[0], hs[1]),
		fmt.Sprintf("echo x >> %[1]s/count-$PSSH_HOST; [ -e %[1]s/slow-$PSSH_HOST ] && %s; echo quick", dir, sleep))
	if !eventually(10*time.Second, func() bool {
		return len(userProcsMatching(t, np, sleep)) > 0 && exists(t, filepath.Join(u.stateDir, "runs", "latest", "run.json")) &&
			strings.Contains(u.hostLog("latest", l1), " --- | end ok")
	}) {
		t.Fatalf("never saw %q running and %s ended\n%s", sleep, l1, run.result())
	}
	id := u.show("latest").ID
	_ = run.cmd.Process.Kill()
	if !eventually(5*time.Second, run.finished) {
		t.Fatal("fleet survived SIGKILL")
	}
	killSleeps()

	r := u.fleet("runs", "--json")
	var j struct {
		ID, State string
		Status    *int
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.ID != id || j.State != "killed" || j.Status != nil {
		t.Errorf("runs --json: want run %s killed with a null status (%v)\n%s", id, err, r)
	}
	if r := u.fleet("runs"); !regexp.MustCompile(`(?m)^` + id + ` .* killed `).MatchString(r.stdout) {
		t.Errorf("runs: run %s not shown as killed\n%s", id, r)
	}
	if r := u.fleet("logs"); strings.Contains(r.stdout, "pending") {
		t.Errorf("BUG: the hosts of a killed run are listed as pending, as if it still went\n%s", r)
	}

	os.Remove(slow)
	r = u.fleet("rerun", id)
	if st := statuses(t, r.stdout); r.status != 0 || !st[l0].ok {
		t.Errorf("rerun of the killed run: want exit 0 and %s SUCCESS\n%s", l0, r)
	}
	if rec := u.show("latest"); rec.RerunOf != id || rec.Status == nil || *rec.Status != 0 {
		t.Errorf("rerun record: %+v; want rerun_of %s, status 0", rec, id)
	}
	if got := counts(dir)[:2]; !slices.Equal(got, []int{2, 1}) {
		t.Errorf("BUG: runs per host %v, want [2 1]: the rerun of a killed run repeated the command on %s, "+
			"whose log says it had ended ok before the kill", got, l1)
	}
}

// TestRunsConcurrent: two runs at once in one state folder leave two
// intact records of their own.
func TestRunsConcurrent(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	hs := testFleet.Hosts
	words := []string{"alpha", "beta"}
	rs := []*running{u.start("", "-H", hostArg(np, hs[0], hs[1]), "sleep 1; echo alpha-$PSSH_HOST"),
		u.start("", "-H", hostArg(np, hs[0], hs[1]), "sleep 1; echo beta-$PSSH_HOST")}
	for _, run := range rs {
		if r := run.wait(cmdTimeout); r.status != 0 {
			t.Fatalf("want exit status 0\n%s", r)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(u.stateDir, "runs"))
	var ids []string
	for _, e := range ents {
		if e.Name() != "latest" {
			ids = append(ids, e.Name())
		}
	}
	if len(ids) != 2 {
		t.Fatalf("runs/ holds %q, want 2 run folders and latest", ids)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		rec := u.show(id)
		cmd := rec.Args[len(rec.Args)-1]
		w, other := words[0], words[1]
		if strings.Contains(cmd, "beta") {
			w, other = other, w
		}
		seen[w] = true
		if rec.ID != id || rec.End == nil || !slices.Equal(rec.labels(), sorted([]string{label(np, hs[0]), label(np, hs[1])})) {
			t.Errorf("record %s: %+v", id, rec)
		}
		for _, h := range hs[:2] {
			if log := u.hostLog(id, label(np, h)); !strings.Contains(log, "out | "+w+"-"+h.Addr+"\n") || strings.Contains(log, other) {
				t.Errorf("log of %s in run %s (%s) should have %s output only:\n%s", label(np, h), id, cmd, w, log)
			}
		}
	}
	if len(seen) != 2 {
		t.Errorf("both records are of the same command: %v", seen)
	}
}
