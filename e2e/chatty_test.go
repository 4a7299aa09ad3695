package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// chattyLimit bounds each fleet invocation on a chatty host: a hang (a
// reader that waits for a newline or a marker that never comes) is killed
// then and fails the test.
const chattyLimit = 60 * time.Second

// startFaults starts a fleet with these fault hosts, stopped when the test
// ends.
func startFaults(t *testing.T, faults ...harness.Fault) *harness.Fleet {
	t.Helper()
	parent(t)
	return startFleet(t, harness.Options{Faults: faults})
}

// fleetOn runs fleet SUB on f's hosts, bounded by chattyLimit.
func fleetOn(u *user, f *harness.Fleet, sub string, args ...string) result {
	u.t.Helper()
	return u.startOn(f.SSHConfig, chattyLimit, sub, "", args...).wait(chattyLimit + 5*time.Second)
}

// TestChatty: a host whose login shell prints text without a trailing
// newline on stdout and stderr before every command and the sftp
// subsystem (harness.FaultChatty). Before the fix copy failed with "are
// stat and sha256sum installed?" and slurp hung; now every command works
// there as on a healthy host, and fleet run shows the text as ssh does.
func TestChatty(t *testing.T) {
	f := startFaults(t, harness.FaultNone, harness.FaultChatty)
	healthy, chatty := f.Hosts[0], f.Hosts[1]
	np := f.Users.NoPass
	hosts := hostArg(np, healthy, chatty)
	labels := []string{label(np, healthy), label(np, chatty)}
	t.Run("ssh shows the text", func(t *testing.T) {
		var out bytes.Buffer
		err := sshTo(f, chatty, "echo mine", &out, 30*time.Second)
		if err != nil || !strings.HasSuffix(out.String(), harness.ChattyBanner+"mine\n") {
			t.Fatalf("ssh: %q %v; want the welcome text, no newline, then the output", out.String(), err)
		}
	})
	t.Run("run", func(t *testing.T) {
		u := setup(t)
		for _, sudo := range []string{"", "--sudo"} {
			args := []string{"-H", hosts, "-i", "-t", "30"}
			if sudo != "" {
				args = append(args, sudo)
			}
			r := fleetOn(u, f, "run", append(args, "echo mine; echo err >&2")...)
			mustExit(t, r, 0, "%s", sudo)
			// As ssh: the login shell's text is the command's output, on
			// the stream it came on.
			b := inlineBlocks(r.stdout)
			if got := b[label(np, chatty)]; !strings.Contains(got, harness.ChattyBanner+"mine\n") ||
				!strings.Contains(got, harness.ChattyBannerStderr+"err\n") {
				t.Errorf("%s: the chatty host's output is %q, want the text as ssh shows it", sudo, got)
			}
			if got := b[label(np, healthy)]; strings.Contains(got, "Welcome") {
				t.Errorf("%s: the healthy host's output is %q", sudo, got)
			}
		}
		// fleet's PID marker is found after the text: -t kills the command.
		start := time.Now()
		r := fleetOn(u, f, "run", "-H", hostArg(np, chatty), "-t", "2", uniqueSleep(40))
		if r.status == 0 || time.Since(start) > 20*time.Second {
			t.Errorf("a command past -t on the chatty host: status %d after %v\n%s", r.status, time.Since(start), r)
		}
	})
	t.Run("copy", func(t *testing.T) {
		u := setup(t)
		dir := t.TempDir()
		for _, c := range []struct {
			name string
			size int
			sudo bool
		}{{"small", 100, false}, {"big", 3 << 20, false}, {"small", 100, true}, {"big", 3 << 20, true}} {
			src := randomFile(t, filepath.Join(dir, fmt.Sprintf("%s-%v", c.name, c.sudo)), c.size, 0o644)
			dst := "/var/tmp/fleet-chatty-" + filepath.Base(src)
			args := []string{"-H", hosts, "-t", "40"}
			if c.sudo {
				dst = "/etc/fleet-chatty-" + filepath.Base(src)
				args = append(args, "--sudo")
			}
			args = append(args, src, dst)
			for i, want := range []string{"changed", "unchanged"} {
				r := fleetOn(u, f, "copy", args...)
				mustExit(t, r, 0, "copy %s (sudo %v) #%d", c.name, c.sudo, i)
				checkStates(t, r, labels, want)
			}
			for _, h := range f.Hosts {
				checkSame(t, h.Path(dst), src)
			}
		}
	})
	t.Run("slurp", func(t *testing.T) {
		u := setup(t)
		r := fleetOn(u, f, "run", "-H", hosts, "-t", "30",
			"mkdir -p /var/tmp/fleet-chatty-tree/d && echo a > /var/tmp/fleet-chatty-tree/d/a && echo top > /var/tmp/fleet-chatty-tree/top")
		if r.status != 0 {
			t.Fatalf("set-up: %s", r)
		}
		local := t.TempDir()
		r = fleetOn(u, f, "slurp", "-H", hosts, "-t", "30", "-L", local, "/var/tmp/fleet-chatty-tree/top", "top")
		mustExit(t, r, 0, "slurp")
		r = fleetOn(u, f, "slurp", "-H", hosts, "-t", "30", "-r", "-L", local, "/var/tmp/fleet-chatty-tree", "tree")
		mustExit(t, r, 0, "slurp -r")
		for _, l := range labels {
			for p, want := range map[string]string{"top": "top\n", "tree/top": "top\n", "tree/d/a": "a\n"} {
				if got := readString(t, filepath.Join(local, l, p)); got != want {
					t.Errorf("%s: %s has %q, want %q", l, p, got, want)
				}
			}
		}
	})
	t.Run("provision", func(t *testing.T) {
		u := setup(t)
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "small.txt"), "small\n", 0o644)
		recipe := writeFile(t, filepath.Join(dir, "chatty.yaml"), `name: chatty
description: a command, a small file and a guard on a chatty host
files:
  small:
    path: small.txt
steps:
  - name: say
    run: echo said > /var/tmp/fleet-chatty-said
    unless: grep -qx said /var/tmp/fleet-chatty-said
  - name: small
    put: /etc/fleet-chatty-small
    file: small
    mode: "0644"
`, 0o644)
		for i := range 2 {
			r := fleetOn(u, f, "provision", "-H", hosts, "-t", "40", "--recipe", recipe)
			mustExit(t, r, 0, "provision #%d", i)
			want := []string{"changed debian 12: 2 changed, 0 unchanged", "unchanged debian 12: 0 changed, 2 unchanged"}[i]
			for _, l := range labels {
				if s := statuses(t, r.stdout)[l]; !s.ok || s.reason != want {
					t.Errorf("provision #%d: %s ended %+v, want %q (the facts read right)\n%s", i, l, s, want, r)
				}
			}
		}
		for _, h := range f.Hosts {
			if got := readString(t, h.Path("/etc/fleet-chatty-small")); got != "small\n" {
				t.Errorf("%s: the recipe's file has %q", h.Addr, got)
			}
		}
	})
}

// TestChattyHuge: a login shell that prints 192 MiB without a newline on
// stdout (and 12 MiB on stderr) before every command and the sftp
// subsystem (harness.FaultChattyHuge). copy, copy --sudo and slurp work,
// and fleet's peak memory stays far below the text: it keeps the first
// KiB for a hint and drops the rest as it streams (before the fix 300 MB
// of it made fleet grow to 700 MB).
func TestChattyHuge(t *testing.T) {
	f := startFaults(t, harness.FaultChattyHuge)
	t.Run("copy and slurp", func(t *testing.T) {
		if n := sshCount(t, f, f.Hosts[0], "true"); n != harness.ChattyHugeBytes {
			t.Fatalf("ssh host true printed %d bytes, want the login shell's %d", n, harness.ChattyHugeBytes)
		}
		h := f.Hosts[0]
		np := f.Users.NoPass
		u := setup(t)
		src := randomFile(t, filepath.Join(t.TempDir(), "f"), 1<<20, 0o644)
		const limit = 120 << 20
		// measured runs fleet SUB to its end and checks its peak memory.
		measured := func(what, sub string, args ...string) {
			run := u.startOn(f.SSHConfig, chattyLimit, sub, "", args...)
			peak := peakRSS(run)
			if r := run.wait(chattyLimit + 5*time.Second); r.status != 0 {
				t.Fatalf("%s: want exit status 0\n%.3000s", what, r)
			}
			t.Logf("%s: peak RSS %d MiB", what, peak>>20)
			if peak > limit {
				t.Errorf("%s: fleet's peak RSS was %d MiB, want under %d MiB", what, peak>>20, limit>>20)
			}
		}
		for _, sudo := range []bool{false, true} {
			dst := "/var/tmp/fleet-chattyhuge"
			args := []string{"-H", hostArg(np, h), "-t", "50"}
			if sudo {
				dst = "/etc/fleet-chattyhuge"
				args = append(args, "--sudo")
			}
			measured(fmt.Sprintf("copy (sudo %v)", sudo), "copy", append(args, src, dst)...)
			checkSame(t, h.Path(dst), src)
		}
		local := t.TempDir()
		measured("slurp", "slurp", "-H", hostArg(np, h), "-t", "50", "-L", local, "/var/tmp/fleet-chattyhuge", "back")
		checkSame(t, filepath.Join(local, label(np, h), "back"), src)
	})
}

// sshCount runs command on h with OpenSSH's ssh and counts the bytes of
// its standard output, without keeping them.
func sshCount(t *testing.T, f *harness.Fleet, h harness.Host, command string) int64 {
	t.Helper()
	var n counter
	if err := sshTo(f, h, command, &n, 60*time.Second); err != nil {
		t.Fatalf("ssh: %v", err)
	}
	return int64(n)
}

// sshTo runs command on h with OpenSSH's ssh, killed after limit, its
// standard output to stdout.
func sshTo(f *harness.Fleet, h harness.Host, command string, stdout io.Writer, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", f.SSHConfig, "-p", strconv.Itoa(h.Port), f.Users.NoPass+"@"+h.Addr, command)
	cmd.Stdout = stdout
	return cmd.Run()
}

// counter counts what is written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}
