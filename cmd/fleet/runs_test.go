package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/e2e/ptytest"
)

// TestRunsShowStepsOnTerminal: a failed step's stderr, which the host
// wrote, reaches a terminal through fleet runs show with its escapes shown,
// not obeyed, as the rest of runs show does.
func TestRunsShowStepsOnTerminal(t *testing.T) {
	host := escapeHost(t)
	recipe := filepath.Join(t.TempDir(), "evil.yaml")
	err := os.WriteFile(recipe, []byte("name: evil\nsudo: false\nsteps:\n  - name: evil\n    run: |\n      "+
		`printf 'err\033]0;pwned\007\n' >&2; exit 3`+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	errp := ptytest.Open(t)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if status := runFleet(devnull, errp.Slave, append(append([]string{"provision"}, host...), "--recipe", recipe)...); status != exitRemote {
		t.Fatalf("provision: exit %d, want %d; stderr %q", status, exitRemote, errp.Output())
	}
	out := ptytest.Open(t)
	if status := runFleet(out.Slave, errp.Slave, "runs", "show", "latest"); status != 0 {
		t.Fatalf("runs show: exit %d; stderr %q", status, errp.Output())
	}
	got := out.Output()
	assertClean(t, "runs show", got, false)
	if !strings.Contains(got, "failed      evil (") || !strings.Contains(got, "| err^[]0;pwned^G") {
		t.Errorf("runs show at a terminal: %q", got)
	}
}
