package fleet

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// TestVarsReachTheCommandOutsideItsLine: Command.Vars arrive in the
// command's environment exactly, through a Shell and through a session of
// their own (a line too long for a shell), and are gone for the next
// command of the shell.
func TestVarsReachTheCommandOutsideItsLine(t *testing.T) {
	s, _ := shellOn(t, sshtest.Config{})
	values := []string{"plain", "it's \"$(touch /tmp/x)\" `id` \\", "two\nlines\n", "", "tab\there"}
	long := "true " + strings.Repeat("x", maxShellLine) + "; "
	for _, prefix := range []string{"", long} {
		for _, v := range values {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			cmd := &Command{Line: prefix + `printf '%s|' "$_fleet_v1"; cat`, Vars: [][2]string{{"_fleet_v1", v}}, Stdout: &out}
			if prefix != "" {
				cmd.Stdin = strings.NewReader("stdin after the vars")
			}
			err := s.Exec(ctx, cmd)
			cancel()
			want := v + "|"
			if prefix != "" {
				want += "stdin after the vars"
			}
			if err != nil || out.String() != want {
				t.Errorf("long=%v value %q: got %q (%v), want %q", prefix != "", v, out.String(), err, want)
			}
		}
	}
	var out bytes.Buffer
	if err := s.Exec(context.Background(), &Command{Line: `printf '%s' "${_fleet_v1-unset}"`, Stdout: &out}); err != nil || out.String() != "unset" {
		t.Errorf("the next command sees %q (%v)", out.String(), err)
	}
}
