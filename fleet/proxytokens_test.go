package fleet

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/inventory"
)

// TestProxyCommandTokensMatchSSH runs ssh itself with ProxyCommands that
// print their expanded tokens and exit (nothing is dialled), and checks
// that fleet expands each the same, and refuses, before connecting, each
// that ssh refuses (an unknown token, a % at the end).
func TestProxyCommandTokensMatchSSH(t *testing.T) {
	sshBin := sshClient(t)
	dir := t.TempDir()
	cases := []struct {
		command string
		args    []string // for both ssh and fleet
		refused string   // in fleet's error; "" when both expand it
	}{
		{command: "%h %n %p %r %k %%", args: []string{"-p", "2200", "-l", "bob"}},
		{command: "x%hx%%%n", args: []string{"-o", "HostKeyAlias=alias1", "-o", "HostName=real.example"}},
		{command: "%k", args: []string{"-o", "HostKeyAlias=alias1"}},
		{command: "echo %x", refused: "unknown token %x"},
		{command: "echo %C", refused: "unknown token %C"},
		{command: "echo %u", refused: "unknown token %u"},
		{command: "echo 100%", refused: "% at the end"},
	}
	for _, tc := range cases {
		name := tc.command + " " + strings.Join(tc.args, " ")
		// ssh: the command prints what it got between markers on its
		// stderr and exits, so ssh fails its handshake without touching
		// the network. Its stdout, the connection, stays open until it
		// has printed (a plain `printf >&2` closes it at once, and ssh
		// kills the proxy on that EOF).
		proxy := `sh -c 'printf "[[%%s]]" "$1" >&2' - "` + tc.command + `"`
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sshArgs := append([]string{"-F", "none", "-o", "BatchMode=yes", "-o", "ProxyCommand=" + proxy}, tc.args...)
		sshOut, _ := exec.CommandContext(ctx, sshBin, append(sshArgs, "myhost", "true")...).CombinedOutput()
		cancel()
		got, ran := between(string(sshOut), "[[", "]]")

		o := Options{Overrides: [][2]string{{"ProxyCommand", tc.command}}}
		for i := 0; i+1 < len(tc.args); i += 2 {
			switch tc.args[i] {
			case "-p":
				o.Port = 2200
			case "-l":
				o.User = tc.args[i+1]
			default:
				k, v, _ := strings.Cut(tc.args[i+1], "=")
				o.Overrides = append(o.Overrides, [2]string{k, v})
			}
		}
		c, err := loadSSHConfig("none", dir, o.Overrides, o.ExtraOverrides, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.resolve(inventory.Host{Name: "myhost"}, &o, dir, "tester")
		if tc.refused != "" {
			if ran || !strings.Contains(string(sshOut), "percent_expand") {
				t.Errorf("%s: ssh ran the command (%q) or did not say why: %s", name, got, sshOut)
			}
			if err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "ProxyCommand") {
				t.Errorf("%s: fleet's error is %v, want ProxyCommand and %q", name, err, tc.refused)
			}
			continue
		}
		if !ran {
			t.Fatalf("%s: ssh did not run the command:\n%s", name, sshOut)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fleet, _ := expandProxyCommand(e); fleet != got {
			t.Errorf("%s: fleet expands it to %q, ssh to %q", name, fleet, got)
		}
	}
}

// between is the text of s from the first open to the next close.
func between(s, open, close string) (string, bool) {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return "", false
	}
	in, _, ok := strings.Cut(rest, close)
	return in, ok
}
