package fleet

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fleet-sh/fleet/inventory"
)

// TestMatchExecStderrLines: what a Match exec command writes on stderr
// reaches Options.ExecStderr a line at a time, escapes and all (the
// caller cleans them for a terminal), the last unterminated line too; it
// no longer goes straight to the process's stderr.
func TestMatchExecStderrLines(t *testing.T) {
	var mu sync.Mutex
	var got []string
	o := Options{ExecStderr: func(line string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, line)
	}}
	config := `Match exec "printf 'one\033]0;pwned\007\r\ntwo\nthree' >&2"` + "\n  User matched\n"
	e, err := resolveWith(t, config, o, inventory.Host{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if e.user != "matched" {
		t.Errorf("user %q: the Match exec did not match", e.user)
	}
	want := []string{"one\x1b]0;pwned\a", "two", "three"}
	if !slices.Equal(got, want) {
		t.Errorf("stderr lines %q, want %q", got, want)
	}
}

// TestLineSplitterLongLine: a line longer than maxExecLine is passed on in
// pieces, so a command that never writes a newline holds nothing unbounded.
func TestLineSplitterLongLine(t *testing.T) {
	var got []string
	l := &lineSplitter{line: func(s string) { got = append(got, s) }}
	long := strings.Repeat("x", 2*maxExecLine+10)
	for i := 0; i < len(long); i += 1000 {
		_, _ = l.Write([]byte(long[i:min(i+1000, len(long))]))
	}
	_, _ = l.Write([]byte("\nend\n"))
	l.flush()
	if len(got) != 4 || len(got[0]) != maxExecLine || len(got[1]) != maxExecLine || got[2] != strings.Repeat("x", 10) || got[3] != "end" {
		t.Errorf("pieces of %d lines: %d, ..., last %q", len(got), len(got[0]), got[len(got)-1])
	}
}
