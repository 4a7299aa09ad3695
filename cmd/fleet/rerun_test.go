package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

// recorded is a run of three hosts: one ok, one failed, one unreachable.
func recorded(dir string, inputs ...record.Input) *record.Run {
	return &record.Run{Info: record.Info{ID: "ID", Args: []string{"copy", "-h", "kube", "f", "/tmp/f"}, Dir: dir, Inputs: inputs,
		Hosts: []record.Host{
			{Host: "web1", Target: "root@web1", Groups: []string{"prod", "web"}, Outcome: fleet.OK},
			{Host: "web2", Target: "root@web2:2222", Groups: []string{"web"}, Outcome: fleet.Failed},
			{Host: "db1", Target: "admin@db1", Groups: []string{"db", "prod"}, Outcome: fleet.Unreachable},
		}}}
}

func TestRerunPicksHosts(t *testing.T) {
	tests := []struct {
		all  bool
		sel  selection
		want string
	}{
		{false, selection{}, "web2=root@web2:2222 db1=admin@db1"},
		{true, selection{}, "web1=root@web1 web2=root@web2:2222 db1=admin@db1"},
		{false, selection{globs: []string{"db*"}}, "db1=admin@db1"},
		// Several -g keep the hosts matching any; [!x] negates.
		{true, selection{globs: []string{"web[!1]", "db*"}}, "web2=root@web2:2222 db1=admin@db1"},
		// --limit and --exclude know the groups the run recorded.
		{true, selection{limit: []string{"web"}}, "web1=root@web1 web2=root@web2:2222"},
		{true, selection{limit: []string{"prod"}, exclude: []string{"web2"}}, "web1=root@web1 db1=admin@db1"},
		{false, selection{exclude: []string{"db"}}, "web2=root@web2:2222"},
	}
	for _, tt := range tests {
		s, err := newRerun(recorded("/x"), tt.all, tt.sel)
		if err != nil {
			t.Fatalf("all=%v %+v: %v", tt.all, tt.sel, err)
		}
		var got []string
		for _, h := range s.hosts {
			// The labels stay the run's; the address is the one reached.
			got = append(got, h.Label+"="+h.String())
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("all=%v %+v: hosts %q, want %q", tt.all, tt.sel, got, tt.want)
		}
	}
	var se *statusError
	if _, err := newRerun(recorded("/x"), false, selection{globs: []string{"web1"}}); !errors.As(err, &se) || se.status != exitUsage ||
		!strings.Contains(err.Error(), "left none of the 2 hosts") || !strings.Contains(se.hint, "fleet runs show ID") {
		t.Errorf("a -g that leaves none of the picked hosts: %v (%+v)", err, se)
	}
	if _, err := newRerun(recorded("/x"), true, selection{limit: []string{"wbe"}}); !errors.As(err, &se) || se.status != exitUsage ||
		!strings.Contains(err.Error(), `"wbe" matches no group and no host`) {
		t.Errorf("a --limit naming nothing: %v", err)
	}
	if _, err := newRerun(recorded("/x"), false, selection{globs: []string{"nothing*"}}); err == nil {
		t.Error("a glob matching no host was accepted")
	}
	ok := recorded("/x")
	ok.Info.Hosts = ok.Info.Hosts[:1]
	if s, err := newRerun(ok, false, selection{}); s != nil || err != nil {
		t.Errorf("a run with nothing to rerun: %v, %v", s, err)
	}
	runs := recorded("/x")
	runs.Info.Args = []string{"runs"}
	if _, err := newRerun(runs, false, selection{}); err == nil {
		t.Error("rerun of a non-host command accepted")
	}
}

// A file the run sent that changed, went or was added since is refused,
// named; unchanged files pass.
func TestRerunChecksFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "relfile.txt")
	if err := os.WriteFile(f, []byte("v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(f)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newRerun(recorded(dir, record.Input{Path: f, SHA256: sum}), false, selection{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.checkFiles(); err != nil {
		t.Fatalf("unchanged file refused: %v", err)
	}
	if err := s.checkInputs([]record.Input{{Path: f, SHA256: sum}}); err != nil {
		t.Fatalf("unchanged inputs refused: %v", err)
	}
	if err := s.checkInputs([]record.Input{{Path: f, SHA256: sum}, {Path: "/new", SHA256: "00"}}); err == nil ||
		!strings.Contains(err.Error(), "/new is new: run ID did not send it") {
		t.Errorf("an added file: %v", err)
	}
	os.WriteFile(f, []byte("v2\n"), 0o600)
	var se *statusError
	if err := s.checkFiles(); !errors.As(err, &se) || se.status != exitError || !strings.Contains(err.Error(), f+" has changed since run ID") {
		t.Errorf("changed file: %v", err)
	}
	os.Remove(f)
	if err := s.checkFiles(); err == nil || !strings.Contains(err.Error(), f+" was removed since run ID") {
		t.Errorf("removed file: %v", err)
	}
}

// A run.json whose host label is no single file name (edited by hand, or
// written by something else) is refused: the label names the host's -o/-e
// files and its log in the new run's record, which must stay in their
// folders.
func TestRerunRefusesUnsafeLabels(t *testing.T) {
	for _, label := range []string{"../../x", "a/b", "..", ".", ""} {
		r := recorded("/x")
		r.Info.Hosts[1].Host = label
		if s, err := newRerun(r, false, selection{}); err == nil || !strings.Contains(err.Error(), "label") {
			t.Errorf("label %q: %v, %v", label, s, err)
		}
	}
}
