package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/e2e/ptytest"
)

// TestMatchExecStderrOnTerminal: what an ssh_config Match exec command
// prints on stderr reaches a terminal with its escapes shown, not obeyed,
// as the hosts' text does (it went to the process's stderr raw), in fleet
// hosts and in a run; a pipe keeps the bytes.
func TestMatchExecStderrOnTerminal(t *testing.T) {
	host := escapeHost(t)
	config := filepath.Join(t.TempDir(), "ssh_config")
	err := os.WriteFile(config, []byte(`Match exec "printf 'exec\033]0;pwned\007\n' >&2"`+"\n  ConnectTimeout 5\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	host[1] = config // -F none -> -F config
	const shown = "exec^[]0;pwned^G\n"

	for _, args := range [][]string{
		append([]string{"hosts"}, host...),
		append(append([]string{"run"}, host...), "true"),
	} {
		out, errp := ptytest.Open(t), ptytest.Open(t)
		if status := runFleet(out.Slave, errp.Slave, args...); status != 0 {
			t.Fatalf("%s: exit %d; stderr %q", args[0], status, errp.Output())
		}
		got := errp.Output()
		assertClean(t, args[0]+" stderr", got, false)
		if !strings.Contains(got, shown) {
			t.Errorf("%s: stderr %q lacks %q", args[0], got, shown)
		}
	}

	out := ptytest.Open(t)
	status, got := piped(t, func(w *os.File) int { return runFleet(out.Slave, w, append([]string{"hosts"}, host...)...) })
	if status != 0 || !strings.Contains(got, "exec\x1b]0;pwned\a\n") {
		t.Errorf("piped stderr: exit %d, %q; want the bytes as printed", status, got)
	}
}
