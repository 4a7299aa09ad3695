package e2e

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRecord checks the run record after a run where one host fails: the
// files exist, only their owner can read them (output may be secret), the
// "failed" file lists exactly the failing host in pssh's host-file format,
// and `fleet run -h failed` reaches exactly that host again.
func TestRecord(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	labels := allLabels(np)
	r := u.run("-h", testFleet.HostsFile, `[ "$PSSH_NODENUM" = 2 ] && exit 3; echo fine`)
	mustExit(t, r, 5)
	latest := filepath.Join(u.stateDir, "runs", "latest")
	dir, err := filepath.EvalSymlinks(latest)
	if err != nil {
		t.Fatalf("runs/latest: %v", err)
	}

	want := []string{"run.json", "failed", "succeeded"}
	for _, l := range labels {
		want = append(want, filepath.Join("hosts", l+".log"))
	}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("run record: %v", err)
		}
	}
	checkModes(t, u.stateDir)

	failed := readString(t, filepath.Join(dir, "failed"))
	if failed != labels[2]+"\n" {
		t.Errorf("failed = %q, want exactly %q", failed, labels[2]+"\n")
	}
	succeeded := lines(readString(t, filepath.Join(dir, "succeeded")))
	if wantOK := slices.Delete(slices.Clone(labels), 2, 3); !slices.Equal(sorted(succeeded), sorted(wantOK)) {
		t.Errorf("succeeded = %q, want %q", succeeded, wantOK)
	}
	// The logs are written as output arrives: "TIME out | LINE".
	outLine := regexp.MustCompile(`(?m)^\S+ out \| fine$`)
	for i, l := range labels {
		log := readString(t, filepath.Join(dir, "hosts", l+".log"))
		if has := outLine.MatchString(log); has != (i != 2) {
			t.Errorf("log of %s: has the \"fine\" output line = %v, want %v:\n%s", l, has, i != 2, log)
		}
	}
	rec := u.latestRun()
	if rec.Status == nil || *rec.Status != 5 || rec.End == nil {
		t.Errorf("run.json: status %v, end %v; want 5 and a time", rec.Status, rec.End)
	}
	if got := rec.outcomes()[labels[2]]; got != "failed" {
		t.Errorf("run.json: outcome of %s is %q, want \"failed\"", labels[2], got)
	}

	// Run again on the failed hosts only. The failed file sits in the run
	// that the new run's record replaces as "latest", so use its real path.
	r = u.run("-i", "-h", filepath.Join(dir, "failed"), `echo "again $PSSH_HOST"`)
	mustExit(t, r, 0, "rerun")
	wantBlocks := map[string]string{labels[2]: "again " + testFleet.Hosts[2].Addr + "\n"}
	if got := inlineBlocks(r.stdout); !maps.Equal(got, wantBlocks) {
		t.Errorf("rerun on the failed file reached %q, want only %q\n%s", got, wantBlocks, r)
	}
}

// checkModes walks a state folder: folders must be 0700 and files 0600
// (symlinks such as runs/latest are skipped: their mode means nothing).
func checkModes(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch mode := info.Mode(); {
		case mode&fs.ModeSymlink != 0:
		case mode.IsDir() && mode.Perm() != 0o700:
			t.Errorf("folder %s has mode %04o, want 0700", rel, mode.Perm())
		case mode.IsRegular() && mode.Perm() != 0o600:
			t.Errorf("file %s has mode %04o, want 0600", rel, mode.Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
	}
	return string(b)
}

// TestFailedFileKeepsLoginUser: the "failed" file exists to be given back
// to -h, so it must name each host as it was reached, including a login
// user that came from -l rather than from the host list; otherwise the
// rerun logs in as someone else.
func TestFailedFileKeepsLoginUser(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	h0, h1 := testFleet.Hosts[0], testFleet.Hosts[1]
	r := u.run("-l", np, "-H", h0.HostPort()+" "+h1.HostPort(), `[ "$PSSH_NODENUM" = 1 ] && exit 3; true`)
	mustExit(t, r, 5)
	dir, err := filepath.EvalSymlinks(filepath.Join(u.stateDir, "runs", "latest"))
	if err != nil {
		t.Fatalf("runs/latest: %v", err)
	}
	failed := filepath.Join(dir, "failed")
	if got := readString(t, failed); got != label(np, h1)+"\n" {
		t.Errorf("failed = %q, want %q (the user given with -l)", got, label(np, h1)+"\n")
	}
	r = u.run("-i", "-h", failed, "id -un")
	if r.status != 0 || !strings.Contains(r.stdout, np+"\n") {
		t.Errorf("rerun with -h failed: want exit status 0 as %s\n%s", np, r)
	}
}

// runRecord is the part of run.json that tests check.
type runRecord struct {
	End    *time.Time `json:"end"`
	Status *int       `json:"status"`
	Hosts  []struct {
		Label    string `json:"host"`   // the label
		Target   string `json:"target"` // [user@]host[:port] as reached
		Outcome  string `json:"outcome"`
		Detail   string `json:"detail"`
		Changed  bool   `json:"changed"`
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
		Log      string `json:"log"`
	} `json:"hosts"`
}

// latestRun reads STATE/runs/latest/run.json.
func (u *user) latestRun() runRecord {
	u.t.Helper()
	b, err := os.ReadFile(filepath.Join(u.stateDir, "runs", "latest", "run.json"))
	if err != nil {
		u.t.Fatalf("run record: %v", err)
	}
	var rec runRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		u.t.Fatalf("run.json: %v\n%s", err, b)
	}
	return rec
}

// outcomes maps each host label of a record to its outcome.
func (r runRecord) outcomes() map[string]string {
	m := map[string]string{}
	for _, h := range r.Hosts {
		m[h.Label] = h.Outcome
	}
	return m
}

// outcomeCounts counts the hosts of a record by outcome.
func (r runRecord) outcomeCounts() map[string]int {
	m := map[string]int{}
	for _, h := range r.Hosts {
		m[h.Outcome]++
	}
	return m
}

// wantEvery fails the test for each host of the record whose outcome is
// not want.
func (r runRecord) wantEvery(t *testing.T, want string) {
	t.Helper()
	for _, h := range r.Hosts {
		if h.Outcome != want {
			t.Errorf("run.json: %s outcome %q (%s), want %q", h.Label, h.Outcome, strings.TrimSpace(h.Error), want)
		}
	}
}
