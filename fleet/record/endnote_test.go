package record

import (
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// A run that never wrote its end (killed) is read back from its hosts' end
// notes: outcome, exit status and kind, the kind even where the outcome
// does not tell it (an auth failure and a changed host key are both
// unreachable).
func TestEndNoteRoundTrip(t *testing.T) {
	start := time.Now()
	results := []fleet.Result{
		{Outcome: fleet.OK, ExitCode: 0},
		{Outcome: fleet.Failed, ExitCode: 3, Err: &fleet.ExitError{Status: 3}},
		{Outcome: fleet.Unreachable, ExitCode: -1, Err: &fleet.Error{Kind: fleet.ErrAuth, Reason: "no key was accepted"}},
		{Outcome: fleet.Unreachable, ExitCode: -1, Err: &fleet.Error{Kind: fleet.ErrHostKey, Reason: "host key CHANGED"}},
		{Outcome: fleet.Unreachable, ExitCode: -1, Err: &fleet.Error{Kind: fleet.ErrUnreachable, Reason: "connection refused"}},
		{Outcome: fleet.TimedOut, ExitCode: -1, Err: &fleet.Error{Kind: fleet.ErrTimeout, Reason: "deadline passed"}},
		{Outcome: fleet.Failed, ExitCode: -1, Err: errString("recipe does not support the host")},
	}
	names := make([]string, len(results))
	for i := range names {
		names[i] = "h" + string(rune('a'+i))
	}
	rec, hosts := newRecord(t, t.TempDir(), strings.Join(names, " "), Info{Command: "run"})
	for i := range results {
		r := &results[i]
		r.Index, r.Host, r.Start, r.End = i, hosts[i], start, start.Add(5*time.Millisecond)
		rec.HostLog(i).End(r)
	}
	rec.drain()
	run, err := Load(rec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range run.Info.Hosts {
		r := &results[i]
		if !h.Ended || h.Outcome != r.Outcome || h.ExitCode != r.ExitCode || h.Kind != r.Kind() {
			t.Errorf("%s: read back %v exit %d kind %q, want %v exit %d kind %q (note %q)",
				h.Host, h.Outcome, h.ExitCode, h.Kind, r.Outcome, r.ExitCode, r.Kind(), lastEndNote(run.LogPath(i)))
		}
	}
	if note := lastEndNote(run.LogPath(2)); note != "unreachable kind=auth: no key was accepted (5ms)" {
		t.Errorf("auth failure's note: %q", note)
	}
	if note := lastEndNote(run.LogPath(1)); note != "failed exit=3 (5ms)" {
		t.Errorf("exit failure's note: %q (the kind is implied)", note)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A version 1 run.json (an older fleet's: label and host) reads into
// today's fields: host is the label, target what v1 called host.
func TestLoadVersion1(t *testing.T) {
	dir := t.TempDir()
	v1 := `{"id":"20261127-120000-abcdef","command":"run","args":["run","-h","kube","true"],
"start":"2026-11-27T12:00:00Z","end":"2026-11-27T12:00:01Z","status":4,"pid":1,
"hosts":[{"label":"web1","host":"root@web1:2222","user":"root","outcome":"unreachable","exit_code":-1,
"error":"unreachable: connection refused","log":"hosts/web1.log"}]}`
	if err := (&Record{}).writeFile(dir+"/run.json", []byte(v1)); err != nil {
		t.Fatal(err)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Info.Hosts[0]
	if r.Info.Version != 0 || h.Host != "web1" || h.Target != "root@web1:2222" || h.Name != "web1" || h.Port != 2222 || h.Outcome != fleet.Unreachable || h.Log != "hosts/web1.log" {
		t.Errorf("v1 host read as %+v", h)
	}
	if i, err := r.HostIndex("root@web1:2222"); err != nil || i != 0 {
		t.Errorf("HostIndex by v1 target: %d, %v", i, err)
	}
}
