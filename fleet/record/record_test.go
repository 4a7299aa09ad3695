package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

func TestRecordLayoutAndPermissions(t *testing.T) {
	state := t.TempDir()
	rec, hosts := newRecord(t, state, "root@a:2222 b b", Info{Command: "run", Args: []string{"run", "-h", "kube", "uptime"}})
	// While live, run.json has no end.
	var info Info
	readJSON(t, filepath.Join(rec.Dir, "run.json"), &info)
	if info.End != nil || len(info.Hosts) != 3 || info.Hosts[2].Host != "b.1" {
		t.Fatalf("live run.json: %+v", info)
	}
	log := rec.HostLog(0)
	fmt.Fprint(log.Stdout(), "line one\npartial")
	fmt.Fprint(log.Stderr(), "oops\n")
	fmt.Fprint(log.Stdout(), " end\n")
	fmt.Fprint(log.Stdout(), "no newline")
	log.Close()
	results := []fleet.Result{
		{Index: 0, Host: hosts[0], Outcome: fleet.OK, ExitCode: 0},
		{Index: 1, Host: hosts[1], Outcome: fleet.Failed, ExitCode: 5, Err: &fleet.ExitError{Status: 5}},
		{Index: 2, Host: hosts[2], Outcome: fleet.Unreachable, ExitCode: -1, Err: &fleet.Error{Kind: fleet.ErrAuth, Reason: "no key was accepted"}},
	}
	if err := rec.Finish(results, 4); err != nil {
		t.Fatal(err)
	}
	readJSON(t, filepath.Join(rec.Dir, "run.json"), &info)
	if info.End == nil || *info.Status != 4 || info.Hosts[1].Outcome != fleet.Failed || info.Hosts[2].Error != "authentication failed: no key was accepted" {
		t.Fatalf("final run.json: %+v", info)
	}
	// One schema: host is the label, target where fleet connected, port
	// the real port, kind the failure's kind.
	for i, want := range []Host{
		{Host: "root@a:2222", Target: "root@a:2222", Name: "a", Port: 2222, Kind: ""},
		{Host: "b", Target: "b", Name: "b", Port: 22, Kind: "exit"},
		{Host: "b.1", Target: "b", Name: "b", Port: 22, Kind: "auth"},
	} {
		h := info.Hosts[i]
		if h.Host != want.Host || h.Target != want.Target || h.Name != want.Name || h.Port != want.Port || h.Kind != want.Kind {
			t.Errorf("host %d: host %q target %q name %q port %d kind %q; want %+v", i, h.Host, h.Target, h.Name, h.Port, h.Kind, want)
		}
	}
	if got := sshtest.Lines(t, filepath.Join(rec.Dir, "failed")); strings.Join(got, ",") != "b,b" {
		t.Errorf("failed = %q", got)
	}
	if got := sshtest.Lines(t, filepath.Join(rec.Dir, "succeeded")); strings.Join(got, ",") != "root@a:2222" {
		t.Errorf("succeeded = %q", got)
	}
	logLines := sshtest.Lines(t, filepath.Join(rec.Dir, "hosts", "root@a:2222.log"))
	want := []string{"out | line one", "err | oops", "out | partial end", "out | no newline"}
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z `)
	if len(logLines) != len(want) {
		t.Fatalf("log: %q", logLines)
	}
	for i, l := range logLines {
		if !stamp.MatchString(l) || !strings.HasSuffix(l, want[i]) {
			t.Errorf("log line %d = %q, want a timestamp and %q", i, l, want[i])
		}
	}
	// Private: folders 0700, files 0600.
	filepath.Walk(state, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if p != state && fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	latest, err := os.Readlink(filepath.Join(state, "runs", "latest"))
	if err != nil || latest != rec.ID() {
		t.Errorf("latest -> %q (%v), want %s", latest, err, rec.ID())
	}
}

func TestRecordsOfConcurrentRunsDoNotMix(t *testing.T) {
	state := t.TempDir()
	hosts := labelled(t, "a b c")
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := New(state, Info{Command: "run", Args: []string{fmt.Sprint(i)}}, hosts)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = rec.ID()
			if err := rec.Finish(nil, 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("two runs share id %s", id)
		}
		seen[id] = true
		var info Info
		readJSON(t, filepath.Join(state, "runs", id, "run.json"), &info)
		if info.Args[0] != fmt.Sprint(i) {
			t.Fatalf("run %s holds the args of another run: %v", id, info.Args)
		}
	}
}

func TestStateDir(t *testing.T) {
	t.Setenv("FLEET_STATE_DIR", "/x/state")
	if d, _ := StateDir(); d != "/x/state" {
		t.Errorf("FLEET_STATE_DIR: %s", d)
	}
	t.Setenv("FLEET_STATE_DIR", "")
	t.Setenv("XDG_STATE_HOME", "/xdg")
	if d, _ := StateDir(); d != "/xdg/fleet" {
		t.Errorf("XDG_STATE_HOME: %s", d)
	}
}

// labelled parses a space-separated host list and labels it, as the CLI
// does with -H.
func labelled(t *testing.T, names string) []inventory.Host {
	t.Helper()
	hosts, err := inventory.ParseArgs(names, "test")
	if err != nil {
		t.Fatal(err)
	}
	inventory.Label(hosts)
	return hosts
}

// newRecord starts a run record in state for the hosts named in names.
func newRecord(t *testing.T, state, names string, info Info) (*Record, []inventory.Host) {
	t.Helper()
	hosts := labelled(t, names)
	rec, err := New(state, info, hosts)
	if err != nil {
		t.Fatal(err)
	}
	return rec, hosts
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, errors.Join(err))
	}
}

// A host that prints nothing gets its log from the background writer: the
// file exists, with fleet's notes, once Finish returns.
func TestRecordSilentHostLog(t *testing.T) {
	state := t.TempDir()
	rec, _ := newRecord(t, state, "quiet loud", Info{Command: "run"})
	quiet := rec.HostLog(0)
	quiet.Note("start quiet")
	quiet.Note("end ok")
	if _, err := os.Stat(filepath.Join(rec.Dir, "hosts", "quiet.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a silent host's log was created on its critical path: %v", err)
	}
	quiet.Close()
	loud := rec.HostLog(1)
	loud.Note("start loud")
	fmt.Fprintln(loud.Stdout(), "output")
	if got := sshtest.Lines(t, filepath.Join(rec.Dir, "hosts", "loud.log")); len(got) != 2 {
		t.Fatalf("output is not live: %q", got)
	}
	loud.Close()
	if err := rec.Finish(nil, 0); err != nil {
		t.Fatal(err)
	}
	got := sshtest.Lines(t, filepath.Join(rec.Dir, "hosts", "quiet.log"))
	if len(got) != 2 || !strings.HasSuffix(got[0], "--- | start quiet") || !strings.HasSuffix(got[1], "--- | end ok") {
		t.Fatalf("quiet.log: %q", got)
	}
}
