package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHConfigMatchExec: Match exec chooses the login user, as ssh does:
// with the flag file present the first block applies (fleet-np), without
// it the Host block's user (fleet-plain); a Match whose exec fails is not
// taken as true (the example), and fleet agrees with ssh -G each
// time. A key fleet cannot honour stops the run before anything connects.
func TestSSHConfigMatchExec(t *testing.T) {
	u := setup(t)
	f := testFleet
	h := f.Hosts[0]
	flag := filepath.Join(t.TempDir(), "flag")
	cfg := writeFile(t, filepath.Join(u.home, "match_config"), fmt.Sprintf(`Match originalhost mx1 exec "test -e %s"
  User %s
Match host mx2,mx3 exec "test -e /nonexistent-flag"
  User %s
Host mx1 mx2
  HostName %s
  Port %d
  User %s
Host refusing
  HostName %s
  Port %d
  RemoteCommand uptime
`, flag, f.Users.NoPass, f.Users.Pass, h.Addr, h.Port, f.Users.Plain, h.Addr, h.Port)+readString(t, f.SSHConfig), 0o600)
	check := func(want map[string]string) {
		t.Helper()
		r := u.startOn(cfg, cmdTimeout, "run", "", "-H", "mx1 mx2", "-i", "id -un").wait(cmdTimeout)
		if r.status != 0 {
			t.Fatalf("run:\n%s", r)
		}
		blocks := inlineBlocks(r.stdout)
		for alias, user := range want {
			if got := strings.TrimSpace(blocks[alias]); got != user {
				t.Errorf("%s logged in as %q, want %q:\n%s", alias, got, user, r)
			}
			if ssh, err := exec.LookPath("ssh"); err == nil {
				out, err := exec.Command(ssh, "-G", "-F", cfg, alias).Output()
				if err != nil || !strings.Contains(string(out), "\nuser "+user+"\n") {
					t.Errorf("ssh -G %s does not say user %s (%v):\n%s", alias, user, err, out)
				}
			}
		}
	}
	check(map[string]string{"mx1": f.Users.Plain, "mx2": f.Users.Plain})
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	check(map[string]string{"mx1": f.Users.NoPass, "mx2": f.Users.Plain})

	r := u.startOn(cfg, cmdTimeout, "run", "", "-H", "mx1 refusing", "-i", "echo ran").wait(cmdTimeout)
	if r.status == 0 || strings.Contains(r.stdout, "ran") || !strings.Contains(r.stderr, "match_config:12: RemoteCommand is not supported by fleet") {
		t.Fatalf("a RemoteCommand for a host in the run must stop the run before connecting, naming file:line:\n%s", r)
	}
}
