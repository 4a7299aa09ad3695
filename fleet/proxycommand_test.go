package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/internal/leakcheck"
	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// proxyHelper returns testdata/proxyhelper, a ProxyCommand that dials
// HOST PORT and copies stdio (a hermetic `nc`), built once per test binary
// into proxyHelperDir: a go build takes seconds on a busy machine.
func proxyHelper(t *testing.T) string {
	t.Helper()
	bin, err := buildProxyHelper()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// proxyHelperDir is removed by TestMain.
var proxyHelperDir string

var buildProxyHelper = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "fleet-proxyhelper-")
	if err != nil {
		return "", err
	}
	proxyHelperDir = dir
	bin := filepath.Join(dir, "proxyhelper")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/proxyhelper").CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the proxy helper: %w\n%s", err, out)
	}
	return bin, nil
})

// childrenNamed lists this process's children (zombies included: a child
// not reaped is a leak too) whose command name is name.
func childrenNamed(t *testing.T, name string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:]) // state ppid ...
		if len(fields) < 2 || s[open+1:end] != name {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// noChildrenLeft waits up to 3 s for every child named name to be reaped.
func noChildrenLeft(t *testing.T, name string) {
	t.Helper()
	var left []int
	if sshtest.Eventually(3*time.Second, func() bool { left = childrenNamed(t, name); return len(left) == 0 }) {
		return
	}
	t.Errorf("%d %s processes left (not killed or not reaped): %v", len(left), name, left)
}

// TestProxyCommand200Hosts runs a command on 200 hosts at -p 200, each
// reached only through its own ProxyCommand: the names do not resolve, so
// a direct dial would fail. Each host's log gets its proxy's stderr line,
// with %h %p %n %r %% expanded; afterwards no proxy process is left, and
// goroutines and file descriptors come back to their counts.
func TestProxyCommand200Hosts(t *testing.T) {
	const hostCount = 200
	helper := proxyHelper(t)
	env := newEnv(t)
	hostKey := sshtest.NewClientKey(t)
	var hosts []inventory.Host
	for i := range hostCount {
		srv := env.server(sshtest.Config{HostKey: hostKey, Home: t.TempDir()})
		h := inventory.Host{Name: fmt.Sprintf("pc%03d.invalid", i), Port: srv.Port}
		h.Label = h.Name
		hosts = append(hosts, h)
	}
	cfg := filepath.Join(env.home, ".ssh", "config")
	writeFile(t, cfg, "Host *.invalid\n  ProxyCommand "+helper+" 127.0.0.1 %p %n %h %r 100%%\n", 0o600)
	runtime.GC()
	before, err := leakcheck.Take()
	if err != nil {
		t.Fatal(err)
	}

	d := env.dialer(func(o *Options) { o.ConfigFile = cfg; o.ConnectTimeout = 2 * time.Minute })
	var mu sync.Mutex
	notes := make([][]string, len(hosts))
	results := Run(context.Background(), d, hosts, RunOptions{Parallel: hostCount,
		DialNote: func(i int, line string) { mu.Lock(); notes[i] = append(notes[i], line); mu.Unlock() }},
		func(ctx context.Context, c *Conn, r *Result) error {
			var out strings.Builder
			if err := c.Exec(ctx, &Command{Line: "echo ok", Stdout: &out}); err != nil {
				return err
			}
			if out.String() != "ok\n" {
				return fmt.Errorf("printed %q", out.String())
			}
			return nil
		})
	if s := Summarize(results); s[OK] != hostCount {
		for _, r := range results {
			if r.Outcome != OK {
				t.Fatalf("summary %v; first failure %s: %v", s, r.Host.Label, r.Err)
			}
		}
	}
	mu.Lock()
	for i, h := range hosts {
		want := fmt.Sprintf("args 127.0.0.1 %d %s %s tester 100%%", h.Port, h.Name, h.Name)
		if len(notes[i]) == 0 || !strings.HasPrefix(notes[i][0], "proxy: proxyhelper pid ") || !strings.HasSuffix(notes[i][0], want) {
			t.Fatalf("%s: proxy notes %q, want one ending in %q", h.Name, notes[i], want)
		}
	}
	mu.Unlock()
	d.Close()
	noChildrenLeft(t, "proxyhelper")
	if err := before.Check(10 * time.Second); err != nil {
		t.Error(err)
	}
}

// proxyTestDialer returns a dialer whose every host goes through command.
func proxyTestDialer(env *testEnv, command string, timeout time.Duration) *Dialer {
	return env.dialer(withOverrides("ProxyCommand", command), func(o *Options) { o.ConnectTimeout = timeout })
}

// TestProxyCommandExitsEarly: a proxy that fails is reported as
// unreachable with its exit status and its last stderr line, not as a
// bare EOF, and is not retried.
func TestProxyCommandExitsEarly(t *testing.T) {
	env := newEnv(t)
	count := filepath.Join(t.TempDir(), "count")
	d := proxyTestDialer(env, `sh -c 'echo ran >> `+count+`; echo "bastion: no route to %h" >&2; exit 3'`, 5*time.Second)
	err := dialErr(t, d, inventory.Host{Name: "target.invalid", Port: 22})
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want unreachable", err)
	}
	if want := "proxy command exited with status 3: bastion: no route to target.invalid"; fe.Reason != want {
		t.Errorf("reason %q, want %q", fe.Reason, want)
	}
	if fe.Hint == "" {
		t.Error("no hint")
	}
	if got := sshtest.Lines(t, count); len(got) != 1 {
		t.Errorf("proxy ran %d times, want once (a proxy that exits is not retried)", len(got))
	}
	noChildrenLeft(t, "sh")
}

// TestProxyCommandHangsTimesOut: a proxy that never answers is bounded by
// the connect timeout, reported as other timeouts are, and killed.
func TestProxyCommandHangsTimesOut(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	env := newEnv(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	d := proxyTestDialer(env, `sh -c 'echo $$ > `+pidFile+`; exec sleep 60'`, time.Second)
	start := time.Now()
	err := dialErr(t, d, inventory.Host{Name: "target.invalid", Port: 22})
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("dial took %v with a 1 s connect timeout", el)
	}
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, ErrUnreachable) || !strings.Contains(fe.Reason, "no answer within 1s") {
		t.Fatalf("got %v, want unreachable: no answer within 1s", err)
	}
	checkProxyGone(t, pidFile)
}

// checkProxyGone reads the pid a proxy wrote and checks it was reaped.
func checkProxyGone(t *testing.T, pidFile string) {
	t.Helper()
	pid := readPid(t, pidFile)
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("proxy %d still exists (running or not reaped)", pid)
	}
}

// TestProxyCommandCancelKillsIt: cancelling a dial that waits on its proxy
// ends the dial at once and kills and reaps the proxy.
func TestProxyCommandCancelKillsIt(t *testing.T) {
	checkGoroutines(t)
	env := newEnv(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	d := proxyTestDialer(env, `sh -c 'echo $$ > `+pidFile+`; exec sleep 60'`, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := d.Dial(ctx, inventory.Host{Name: "target.invalid", Port: 22})
		errc <- err
	}()
	sshtest.Eventually(5*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		return err == nil && len(b) > 0 && b[len(b)-1] == '\n'
	})
	cancel()
	select {
	case err := <-errc:
		if err == nil || !errors.Is(Classify(ctx, err), ErrCancelled) {
			t.Errorf("got %v, want cancelled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("dial still waiting 3 s after cancel")
	}
	checkProxyGone(t, pidFile)
}

// TestProxyCommandCloseKillsGroup: a ProxyCommand that keeps its shell
// (no exec) and starts a background child besides the proxy; closing the
// connection ends all three, not only the process fleet started.
func TestProxyCommandCloseKillsGroup(t *testing.T) {
	helper := proxyHelper(t)
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	env.knowHost(srv)
	var mu sync.Mutex
	var notes []string
	d := proxyTestDialer(env, `sh -c 'sleep 60 & echo "sleeper $!" >&2; `+helper+` %h %p'`, 10*time.Second)
	ctx := WithDialNote(context.Background(), func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() })
	c, err := d.Dial(ctx, hostOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	shells := childrenNamed(t, "sh")
	if len(shells) != 1 {
		t.Fatalf("%d sh children, want the one shell", len(shells))
	}
	// A group of its own: a terminal's Ctrl-C, sent to fleet's group, must
	// not end the connections before fleet has killed the remote commands.
	if pgid, err := syscall.Getpgid(shells[0]); err != nil || pgid != shells[0] || pgid == syscall.Getpgrp() {
		t.Errorf("the proxy's process group is %d (%v), want its own (%d), not fleet's (%d)", pgid, err, shells[0], syscall.Getpgrp())
	}
	c.Close()
	mu.Lock()
	var pid, sleeper int
	for _, n := range notes {
		fmt.Sscanf(n, "proxy: proxyhelper pid %d", &pid)
		fmt.Sscanf(n, "proxy: sleeper %d", &sleeper)
	}
	mu.Unlock()
	if pid == 0 || sleeper == 0 {
		t.Fatalf("no pids among the proxy's notes %q", notes)
	}
	if !waitGone(pid) {
		t.Errorf("the helper %d, a child of the proxy's shell, outlived the connection", pid)
	}
	if !waitGone(sleeper) {
		t.Errorf("the background child %d of the proxy's shell outlived the connection", sleeper)
	}
	noChildrenLeft(t, "sh")
}

// TestProxyCommandShell: the command runs as `$SHELL -c "exec COMMAND"`,
// as ssh runs it.
func TestProxyCommandShell(t *testing.T) {
	dir := t.TempDir()
	argv := filepath.Join(dir, "argv")
	shell := filepath.Join(dir, "myshell")
	script := "#!/bin/sh\nprintf '%s|' \"$0\" \"$@\" > " + argv + "\nexec /bin/sh \"$@\"\n"
	writeFile(t, shell, script, 0o755)
	t.Setenv("SHELL", shell)
	env := newEnv(t)
	d := proxyTestDialer(env, "sh -c 'exit 7' # %h:%p", 5*time.Second)
	err := dialErr(t, d, inventory.Host{Name: "target.invalid", Port: 2222})
	if !strings.Contains(fmt.Sprint(err), "proxy command exited with status 7") {
		t.Errorf("got %v, want the status of the shell", err)
	}
	b, err := os.ReadFile(argv)
	if err != nil {
		t.Fatal(err)
	}
	if want := shell + "|-c|exec sh -c 'exit 7' # target.invalid:2222|"; string(b) != want {
		t.Errorf("shell ran as %q, want %q", b, want)
	}
}

// TestProxyPrecedenceMatchesSSH compares the choice between ProxyJump and
// ProxyCommand with `ssh -G` of the installed OpenSSH: the first found
// wins, "none" included; -J wins over the files; -O counts as found first.
func TestProxyPrecedenceMatchesSSH(t *testing.T) {
	sshBin := sshClient(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	inc := filepath.Join(dir, "inc")
	writeFile(t, inc, "ProxyCommand from-include %h\n", 0o600)
	conf := `Host jc
  ProxyJump j1
  ProxyCommand pc1 %h
Host cj
  ProxyCommand pc2 %h %p
  ProxyJump j2
Host nonecmd
  ProxyCommand none
  ProxyJump j3
Host nonejump
  ProxyJump none
  ProxyCommand pc4
Host split
  HostName real.split
Host split
  ProxyCommand pc5 %n
Host *.wild
  ProxyJump j6
Host over.wild
  ProxyCommand pc6
Host inc
  Include ` + inc + `
Host inc
  ProxyJump j7
Host plain
  HostName 127.0.0.9
`
	writeFile(t, cfg, conf, 0o600)
	cases := []struct {
		host string
		args []string // ssh's flags; the same go to fleet
	}{
		{"jc", nil}, {"cj", nil}, {"nonecmd", nil}, {"nonejump", nil}, {"split", nil},
		{"over.wild", nil}, {"inc", nil}, {"plain", nil},
		{"cj", []string{"-J", "jflag"}},
		{"cj", []string{"-J", "none"}},
		{"jc", []string{"-o", "ProxyCommand=ocmd %h"}},
		{"cj", []string{"-o", "ProxyJump=ojump"}},
		{"cj", []string{"-o", "ProxyCommand=none"}},
		{"plain", []string{"-o", "ProxyCommand=ocmd", "-o", "ProxyJump=ojump"}},
	}
	for _, tc := range cases {
		name := tc.host + " " + strings.Join(tc.args, " ")
		ssh, err := sshDashG(sshBin, append(append([]string{"-F", cfg}, tc.args...), tc.host)...)
		if err != nil {
			t.Fatalf("%s: ssh -G: %v", name, err)
		}
		wantJump, wantCmd := ssh["proxyjump"], ssh["proxycommand"]
		o := Options{}
		for i := 0; i+1 < len(tc.args); i += 2 {
			if tc.args[i] == "-J" {
				o.ProxyJump = tc.args[i+1]
			} else {
				k, v, _ := strings.Cut(tc.args[i+1], "=")
				o.Overrides = append(o.Overrides, [2]string{k, v})
			}
		}
		c, err := loadSSHConfig(cfg, dir, o.Overrides, o.ExtraOverrides, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.resolve(inventory.Host{Name: tc.host}, &o, dir, "tester")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.proxyJump != wantJump || e.proxyCommand != wantCmd {
			t.Errorf("%s: fleet has ProxyJump %q ProxyCommand %q; ssh -G has %q and %q", name, e.proxyJump, e.proxyCommand, wantJump, wantCmd)
		}
	}
}

// TestProxyJumpFlagWithProxyCommandOption: ssh refuses -J with -o
// ProxyCommand; so does fleet, before anything connects.
func TestProxyJumpFlagWithProxyCommandOption(t *testing.T) {
	c, err := loadSSHConfig("none", t.TempDir(), [][2]string{{"ProxyCommand", "nc %h %p"}}, nil, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.resolve(inventory.Host{Name: "x"}, &Options{ProxyJump: "bastion"}, t.TempDir(), "tester")
	if err == nil || !strings.Contains(err.Error(), "-J and -O ProxyCommand") {
		t.Errorf("got %v, want -J and -O ProxyCommand refused", err)
	}
}
