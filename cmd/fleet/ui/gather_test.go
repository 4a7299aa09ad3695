package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// gatherRun is a run where most hosts agree. Results are given out of
// index order to show that groups follow the index, not the slice.
func gatherRun() []fleet.Result {
	dns := &fleet.Error{Kind: fleet.ErrUnreachable, Reason: "host name not found"}
	return []fleet.Result{
		res(5, "web1", nil, "up\n", "", at(1)),
		res(0, "node01", nil, "up\n", "", at(1)),
		res(1, "node02", nil, "up\n", "", at(1)),
		res(2, "node03", nil, "up\n", "", at(1)),
		res(3, "node04", &fleet.ExitError{Status: 1}, "err", "bad\n", at(1)),
		res(4, "node05", nil, "up\n", "", at(1)),
		res(6, "db1", errRefused(), "", "", at(1)),
		res(7, "db2", errRefused(), "", "", at(1)),
		res(8, "db3", dns, "", "", at(1)),
		res(9, "node06", nil, "up\n", "other stderr\n", at(1)),
		res(10, "node07", &fleet.ExitError{Status: 2}, "up\n", "", at(1)),
		notStarted(11, "node08"),
	}
}

const gatherWant = `----------------
node[01-03,05],web1 (exit 0)
----------------
up
----------------
node04 (exit 1)
----------------
err
Stderr:
bad
----------------
db[1-2] (unreachable: connection refused)
----------------
----------------
db3 (unreachable: host name not found)
----------------
----------------
node06 (exit 0)
----------------
up
Stderr:
other stderr
----------------
node07 (exit 2)
----------------
up
----------------
node08 (not started)
----------------
`

func TestGather(t *testing.T) {
	if got := string(appendGather(nil, gatherRun(), Raw)); got != gatherWant {
		t.Errorf("got:\n%s\nwant:\n%s", got, gatherWant)
	}
}

// TestGatherAfterStatusLines: not on a terminal the status lines come as
// hosts finish, then the gathered output, and the summary on stderr.
func TestGatherAfterStatusLines(t *testing.T) {
	rs := gatherRun()
	p, out, errb := newTest(Options{Gather: true, Total: len(rs)})
	play(p, rs, nil, 3*time.Second)
	s := out.String()
	i := strings.Index(s, gatherRule)
	if i < 0 {
		t.Fatalf("no gathered output:\n%s", s)
	}
	if got := s[i:]; got != gatherWant {
		t.Errorf("gathered:\n%s\nwant:\n%s", got, gatherWant)
	}
	if n := strings.Count(s[:i], "\n"); n != len(rs) || !strings.HasPrefix(s, "[1] 10:11:01 [SUCCESS] web1\n") {
		t.Errorf("want %d status lines before the gathered output:\n%s", len(rs), s[:i])
	}
	if want := "fleet: hint: is sshd running on that port? (db[1-2])\n12 hosts: 6 ok, 2 failed, 3 unreachable, 1 not started (3s)\n"; errb.String() != want {
		t.Errorf("stderr = %q, want %q", errb.String(), want)
	}
}
