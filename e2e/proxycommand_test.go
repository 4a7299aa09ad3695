package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proxySetup writes, in the user's home, a copy of the harness ssh_config
// (which its own `ssh -W` reads: the path in the proxies' command lines is
// then this test's alone) and returns the ProxyCommand that reaches %h:%p
// through the fleet's first host, as a bastion, the way users write it.
func proxySetup(t *testing.T, u *user) (innerCfg, viaJump string) {
	t.Helper()
	innerCfg = writeFile(t, filepath.Join(u.home, "inner_ssh_config"), readString(t, testFleet.SSHConfig), 0o600)
	j := testFleet.Hosts[0]
	viaJump = fmt.Sprintf("ssh -F %s -W %%h:%%p -p %d %s@%s", innerCfg, j.Port, testFleet.Users.NoPass, j.Addr)
	return innerCfg, viaJump
}

// proxyConfig writes an ssh_config: blocks, then the harness's own
// settings (key, known_hosts) for every host.
func proxyConfig(t *testing.T, u *user, blocks string) string {
	t.Helper()
	return writeFile(t, filepath.Join(u.home, "ssh_config"), blocks+"\n"+readString(t, testFleet.SSHConfig), 0o600)
}

// hostLogs returns the text of every host log of the user's runs.
func hostLogs(t *testing.T, u *user) string {
	t.Helper()
	var all strings.Builder
	_ = filepath.WalkDir(filepath.Join(u.stateDir, "runs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "hosts" {
			b, _ := os.ReadFile(p)
			all.Write(b)
		}
		return nil
	})
	return all.String()
}

// noProxyLeft checks that no process whose command line has needle is
// left once fleet has exited.
func noProxyLeft(t *testing.T, needle string) {
	t.Helper()
	if !eventually(3*time.Second, func() bool { return len(procsMatching(needle)) == 0 }) {
		t.Errorf("proxy processes left after fleet exited: %v", procsMatching(needle))
	}
}

// TestProxyCommandSSHW is the issue's own example: hosts reached only
// through `ssh -W` on a bastion, by alias, with a log file proving that
// the command ran once per host and its stderr in each host's log. The
// aliases do not resolve: a direct dial could not reach them.
func TestProxyCommandSSHW(t *testing.T) {
	u := setup(t)
	innerCfg, viaJump := proxySetup(t, u)
	pcLog := filepath.Join(u.home, "pc.log")
	var blocks strings.Builder
	var names []string
	for i, h := range testFleet.Hosts[1:3] {
		name := fmt.Sprintf("viaproxy%d.invalid", i)
		names = append(names, name)
		fmt.Fprintf(&blocks, "Host %s\n  HostName %s\n  Port %d\n", name, h.Addr, h.Port)
	}
	fmt.Fprintf(&blocks, "Host viaproxy*\n  User %s\n  ProxyCommand sh -c \"echo used %%n >> %s; echo proxy-note-%%n >&2; exec %s\"\n",
		testFleet.Users.NoPass, pcLog, viaJump)
	cfg := proxyConfig(t, u, blocks.String())
	r := u.run("-F", cfg, "-H", strings.Join(names, " "), "-i", "echo reached")
	if r.status != 0 || strings.Count(r.stdout, "reached") != 2 {
		t.Fatalf("through ProxyCommand:\n%s", r)
	}
	got, err := os.ReadFile(pcLog)
	if err != nil {
		t.Fatalf("the ProxyCommand never ran: %v\n%s", err, r)
	}
	for _, n := range names {
		if strings.Count(string(got), "used "+n+"\n") != 1 {
			t.Errorf("pc.log has %q, want the proxy of %s to have run once", got, n)
		}
	}
	logs := hostLogs(t, u)
	for _, n := range names {
		if !strings.Contains(logs, "--- | proxy: proxy-note-"+n) {
			t.Errorf("the proxy's stderr for %s is not in its host log:\n%s", n, logs)
		}
	}
	noProxyLeft(t, innerCfg)
}

// TestProxyCommandManyHostsNoLeak runs 24 hosts (aliases of the fleet's
// hosts) through `ssh -W` proxies at -p 24: every host answers, and once
// fleet has exited no proxy is left.
func TestProxyCommandManyHostsNoLeak(t *testing.T) {
	u := setup(t)
	innerCfg, viaJump := proxySetup(t, u)
	var blocks strings.Builder
	var names []string
	for i := range 24 {
		h := testFleet.Hosts[1+i%(len(testFleet.Hosts)-1)]
		name := fmt.Sprintf("pc%02d.invalid", i)
		names = append(names, name)
		fmt.Fprintf(&blocks, "Host %s\n  HostName %s\n  Port %d\n", name, h.Addr, h.Port)
	}
	fmt.Fprintf(&blocks, "Host pc*\n  User %s\n  ProxyCommand %s\n", testFleet.Users.NoPass, viaJump)
	cfg := proxyConfig(t, u, blocks.String())
	r := u.run("-F", cfg, "-p", "24", "-H", strings.Join(names, " "), "-i", "echo reached")
	if r.status != 0 || strings.Count(r.stdout, "reached") != 24 {
		t.Fatalf("24 hosts through ProxyCommand:\n%s", r)
	}
	noProxyLeft(t, innerCfg)
}

// TestProxyCommandFails: a proxy that exits early fails its host as
// unreachable with the status and the proxy's last words; one that hangs
// is bounded by the connect timeout, fleet exits promptly, and the proxy
// is killed.
func TestProxyCommandFails(t *testing.T) {
	u := setup(t)
	sleep := uniqueSleep(40)
	h := testFleet.Hosts[1]
	cfg := proxyConfig(t, u, fmt.Sprintf(`Host early
  HostName %s
  Port %d
  ProxyCommand sh -c "echo 'bastion: access denied for %%r' >&2; exit 3"
Host hangs
  HostName %s
  Port %d
  ProxyCommand %s
`, h.Addr, h.Port, h.Addr, h.Port, sleep))
	np := testFleet.Users.NoPass
	r := u.run("-F", cfg, "-H", np+"@early", "true")
	if r.status != 4 || !strings.Contains(r.stdout, "unreachable: proxy command exited with status 3: bastion: access denied for "+np) {
		t.Fatalf("a proxy that exits, want unreachable with its status and stderr (exit 4):\n%s", r)
	}
	start := time.Now()
	r = u.run("-F", cfg, "--connect-timeout", "2", "-H", np+"@hangs", "true")
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("fleet took %v with --connect-timeout 2 and a proxy that hangs", el)
	}
	if r.status != 4 || !strings.Contains(r.stdout, "no answer within 2s") {
		t.Fatalf("a proxy that hangs, want the connect timeout (exit 4):\n%s", r)
	}
	noProxyLeft(t, sleep)
}

// TestProxyCommandNoneAndOptions: `ProxyCommand none` in a first block
// disables a later one; -O ProxyCommand=... sets it (the example
// with -O) and -O ProxyCommand=none disables the file's; -J wins over the
// file's ProxyCommand, as with ssh.
func TestProxyCommandNoneAndOptions(t *testing.T) {
	u := setup(t)
	innerCfg, viaJump := proxySetup(t, u)
	h := testFleet.Hosts[2]
	np := testFleet.Users.NoPass
	broken := `sh -c "echo broken proxy ran >&2; exit 9"`
	cfg := proxyConfig(t, u, fmt.Sprintf("Host direct\n  HostName %s\n  Port %d\n  ProxyCommand none\nHost *\n  ProxyCommand %s\n", h.Addr, h.Port, broken))
	r := u.run("-F", cfg, "-H", np+"@direct", "-i", "echo reached")
	if r.status != 0 || !strings.Contains(r.stdout, "reached") {
		t.Fatalf("ProxyCommand none first, want a direct connection:\n%s", r)
	}
	target := np + "@" + h.HostPort()
	r = u.run("-F", cfg, "-H", target, "true")
	if r.status != 4 || !strings.Contains(r.stdout, "status 9: broken proxy ran") {
		t.Fatalf("the file's ProxyCommand, want it to run and fail (exit 4):\n%s", r)
	}
	r = u.run("-F", cfg, "-O", "ProxyCommand=none", "-H", target, "-i", "echo reached")
	if r.status != 0 || !strings.Contains(r.stdout, "reached") {
		t.Fatalf("-O ProxyCommand=none, want a direct connection:\n%s", r)
	}
	pcLog := filepath.Join(u.home, "pc.log")
	r = u.run("-F", cfg, "-O", `ProxyCommand=sh -c "echo used >> `+pcLog+`; exec `+viaJump+`"`, "-H", target, "-i", "echo reached")
	if got, _ := os.ReadFile(pcLog); r.status != 0 || !strings.Contains(r.stdout, "reached") || string(got) != "used\n" {
		t.Fatalf("-O ProxyCommand=..., want the host reached through it once (pc.log %q):\n%s", got, r)
	}
	r = u.run("-F", cfg, "-J", label(np, testFleet.Hosts[0]), "-H", target, "-i", "echo reached")
	if r.status != 0 || !strings.Contains(r.stdout, "reached") {
		t.Fatalf("-J with a ProxyCommand in the file, want -J to win:\n%s", r)
	}
	r = u.run("-F", cfg, "-J", label(np, testFleet.Hosts[0]), "-O", "ProxyCommand="+viaJump, "-H", target, "true")
	if r.status == 0 || !strings.Contains(r.stderr, "-J and -O ProxyCommand") {
		t.Fatalf("-J with -O ProxyCommand, want a refusal as ssh's:\n%s", r)
	}
	noProxyLeft(t, innerCfg)
}

// TestProxyJumpHopWithProxyCommand: a ProxyJump whose first hop has a
// ProxyCommand of its own reaches that hop through it, as ssh's own
// `ssh -W` for the hop does.
func TestProxyJumpHopWithProxyCommand(t *testing.T) {
	u := setup(t)
	innerCfg, _ := proxySetup(t, u)
	j, h := testFleet.Hosts[0], testFleet.Hosts[3]
	np := testFleet.Users.NoPass
	pcLog := filepath.Join(u.home, "hop.log")
	// The hop is reached by a proxy that dials it through the fleet's
	// second host: `ssh -W` through Hosts[1] to the bastion Hosts[0].
	b := testFleet.Hosts[1]
	hopProxy := fmt.Sprintf(`sh -c "echo hop %%h >> %s; exec ssh -F %s -W %%h:%%p -p %d %s@%s"`, pcLog, innerCfg, b.Port, np, b.Addr)
	cfg := proxyConfig(t, u, fmt.Sprintf("Host bastion\n  HostName %s\n  Port %d\n  User %s\n  ProxyCommand %s\nHost target\n  HostName %s\n  Port %d\n  ProxyJump bastion\n",
		j.Addr, j.Port, np, hopProxy, h.Addr, h.Port))
	r := u.run("-F", cfg, "-H", np+"@target", "-i", "echo reached")
	if r.status != 0 || !strings.Contains(r.stdout, "reached") {
		t.Fatalf("through a jump host reached by its ProxyCommand:\n%s", r)
	}
	if got, _ := os.ReadFile(pcLog); string(got) != "hop "+j.Addr+"\n" {
		t.Errorf("hop.log has %q, want the hop's ProxyCommand to have run once for %s", got, j.Addr)
	}
	noProxyLeft(t, innerCfg)
}

// TestProxyCommandInterrupt: Ctrl-C (SIGINT to fleet) in the middle of a
// run through ProxyCommand proxies. fleet still reaches the hosts through
// the proxies to kill the running commands, then ends the proxies: nothing
// is left on the hosts and no proxy on the client. (That a terminal's
// Ctrl-C, sent to the whole foreground group, does not reach the proxies
// is TestProxyCommandCloseKillsGroup's: they have their own group.)
func TestProxyCommandInterrupt(t *testing.T) {
	u := setup(t)
	innerCfg, viaJump := proxySetup(t, u)
	sleep := uniqueSleep(300)
	np := testFleet.Users.NoPass
	targets := hostArg(np, testFleet.Hosts[1], testFleet.Hosts[2])
	run := u.startSub("run", "", "-O", "ProxyCommand="+viaJump, "-H", targets, sleep)
	if !eventually(15*time.Second, func() bool { return len(procsMatching(sleep)) >= 2 || run.finished() }) || run.finished() {
		t.Fatalf("want the two sleeps running through the proxies, got %d\n%s", len(procsMatching(sleep)), run.result())
	}
	if err := run.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r := run.wait(15 * time.Second)
	if r.status != 130 || !strings.Contains(r.stderr+r.stdout, "2 hosts: 0 ok, 2 cancelled") {
		t.Errorf("want exit status 130 and both hosts cancelled\n%s", r)
	}
	if !eventually(5*time.Second, func() bool { return len(procsMatching(sleep)) == 0 }) {
		t.Errorf("commands left running on the hosts after Ctrl-C: %v", procsMatching(sleep))
	}
	noProxyLeft(t, innerCfg)
}
