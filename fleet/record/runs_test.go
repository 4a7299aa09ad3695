package record

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// newRuns records n finished runs, oldest first, a millisecond apart.
func newRuns(t *testing.T, state string, n int) []string {
	t.Helper()
	hosts := labelled(t, "a b")
	var ids []string
	for i := 0; i < n; i++ {
		rec, err := New(state, Info{Command: "run", Args: []string{"run", "true"},
			Start: time.Date(2026, 11, 27, 12, 0, i, 0, time.UTC)}, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Finish([]fleet.Result{{Index: 0, Host: hosts[0], Outcome: fleet.OK}, {Index: 1, Host: hosts[1], Outcome: fleet.Failed, Err: &fleet.ExitError{Status: 1}}}, 5); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID())
	}
	return ids
}

func TestFind(t *testing.T) {
	state := t.TempDir()
	ids := newRuns(t, state, 3)
	for ref, want := range map[string]string{"": ids[2], "latest": ids[2], "-0": ids[2], "-1": ids[1], "-2": ids[0],
		ids[0]: ids[0], ids[1][:len(ids[1])-2]: ids[1]} {
		r, err := Find(state, ref)
		if err != nil || r.Info.ID != want {
			t.Errorf("Find(%q) = %v, %v; want %s", ref, r, err, want)
		}
	}
	for ref, msg := range map[string]string{"-3": "only 3 runs", "nosuch": "no run", "2026": "ambiguous", "-x": "want an id"} {
		if _, err := Find(state, ref); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Find(%q): %v, want %q", ref, err, msg)
		}
	}
	if _, err := Find(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "no run recorded") {
		t.Errorf("empty state: %v", err)
	}
}

func TestBrokenAndKilledRecords(t *testing.T) {
	state := t.TempDir()
	ids := newRuns(t, state, 2)
	// A record whose run.json is garbage is skipped with an error naming it.
	bad := filepath.Join(state, "runs", ids[0], "run.json")
	os.WriteFile(bad, []byte(`{"id": "x", "hosts": [`), 0o600)
	runs, errs := List(state)
	if len(runs) != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), bad) {
		t.Fatalf("runs %d, errs %v", len(runs), errs)
	}
	// A run killed outright has no end and a dead process.
	rec, _ := newRecord(t, state, "a", Info{Command: "run"})
	r, _ := Load(rec.Dir)
	if r.State() != "live" {
		t.Fatalf("a run of this process is %s", r.State())
	}
	r.Info.PID = 1 << 30 // no such process
	if r.State() != "killed" {
		t.Fatalf("a run without end and process is %s", r.State())
	}
}

func TestPruneRunsKeepsNewestAndLive(t *testing.T) {
	state := t.TempDir()
	ids := newRuns(t, state, 4)
	// The oldest run is live (no end, this process): it is never pruned.
	live := filepath.Join(state, "runs", ids[0], "run.json")
	b, _ := os.ReadFile(live)
	b = []byte(strings.Replace(strings.Replace(string(b), `"status": 5`, `"status": null`, 1), `"end": "`, `"end_was": "`, 1))
	os.WriteFile(live, b, 0o600)
	if err := Prune(state, 2, 0); err != nil {
		t.Fatal(err)
	}
	runs, _ := List(state)
	var left []string
	for _, r := range runs {
		left = append(left, r.Info.ID)
	}
	if strings.Join(left, ",") != strings.Join([]string{ids[3], ids[2], ids[0]}, ",") {
		t.Fatalf("left %v of %v", left, ids)
	}
}

func TestHostIndex(t *testing.T) {
	state := t.TempDir()
	newRuns(t, state, 1)
	r, _ := Find(state, "")
	if i, err := r.HostIndex("b"); err != nil || i != 1 {
		t.Errorf("HostIndex(b) = %d, %v", i, err)
	}
	if _, err := r.HostIndex("zz"); err == nil {
		t.Error("unknown host found")
	}
}

// A killed run's hosts that ended have their outcome read from their logs'
// end notes, so fleet rerun repeats only the others.
func TestOutcomesOfAKilledRun(t *testing.T) {
	state := t.TempDir()
	rec, _ := newRecord(t, state, "done failed running", Info{Command: "run"})
	for i, note := range []string{"end ok exit=0 (5ms)", "end failed exit=3 (5ms)", ""} {
		l := rec.HostLog(i)
		l.Note("start")
		fmt := "out | --- | end ok exit=0 (a line of output that looks like a note)"
		l.Stdout().Write([]byte(fmt + "\n"))
		if note != "" {
			l.Note(note)
		}
		l.Close()
	}
	rec.drain()
	r, err := Load(rec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	got := []fleet.Outcome{r.Info.Hosts[0].Outcome, r.Info.Hosts[1].Outcome, r.Info.Hosts[2].Outcome}
	if got[0] != fleet.OK || got[1] != fleet.Failed || got[2] != fleet.NotStarted || r.Info.Hosts[1].ExitCode != 3 || r.Info.Hosts[2].Ended {
		t.Fatalf("outcomes %v, exit %d", got, r.Info.Hosts[1].ExitCode)
	}
}
