package harness

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testLog sends harness progress to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// sshRun runs the system ssh client against h as user, with the fleet's
// config only, and returns stdout and the exit error.
func sshRun(t *testing.T, config string, h Host, user, script string) (string, error) {
	t.Helper()
	return sshRunInput(t, config, h, user, script, "")
}

// sshRunInput is sshRun with standard input: how a password reaches sudo -S
// without ever being in a command line (other tests scan every argv for it).
func sshRunInput(t *testing.T, config string, h Host, user, script, input string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", config, "-p", strconv.Itoa(h.Port), user+"@"+h.Addr, script)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = errors.Join(err, errors.New(strings.TrimSpace(stderr.String())))
	}
	return stdout.String(), err
}

// startFleet starts a fleet for one test, or skips the test where it
// cannot run: every fleet needs root, distro and fault hosts overlayfs too.
// stop stops the fleet it is given (f, or f as Load returns it) the first
// time only, and the test's cleanup calls stop(f): a second Stop would take
// the authorized keys of whatever fleet has since picked the same block.
func startFleet(t *testing.T, opts Options) (f *Fleet, stop func(*Fleet) error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("harness tests need root (useradd, /etc/sudoers.d, sshd, mount namespaces); run as root, e.g. in CI")
	}
	if len(opts.Distros)+len(opts.Faults) > 0 {
		if err := OverlayAvailable(); err != nil {
			t.Skipf("distro and fault hosts need overlayfs: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	opts.Log = testLog{t}
	f, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func(g *Fleet) (err error) {
		once.Do(func() { err = g.Stop() })
		return err
	}
	t.Cleanup(func() { _ = stop(f) })
	return f, stop
}

// stopAndCheck stops f through stop and checks that none of its sshds, nor
// the Dir that Start made for it, outlives Stop.
func stopAndCheck(t *testing.T, f *Fleet, stop func(*Fleet) error) {
	t.Helper()
	var pids []int
	for _, h := range f.Hosts {
		if h.PID > 0 {
			pids = append(pids, h.PID)
		}
	}
	dir := f.Dir
	if err := stop(f); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		// Any live process with that PID counts: a recycled PID within
		// a second is unlikely, a survivor that the matcher misses is not.
		if alive(pid) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			t.Errorf("process %d still running after Stop: %q", pid, b)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left %s behind (err %v)", dir, err)
	}
}

// concurrently returns a t.Run that runs each subtest at once in a
// goroutine of its own, and the wait for all of them: t.Parallel would
// queue them GOMAXPROCS (2 on CI) at a time, although they mostly wait for
// ssh logins and the faults' timers.
func concurrently(t *testing.T) (run func(string, func(*testing.T)), wait func()) {
	var wg sync.WaitGroup
	return func(name string, fn func(*testing.T)) { wg.Go(func() { t.Run(name, fn) }) }, wg.Wait
}

func TestFleet(t *testing.T) {
	t.Parallel()
	f, stop := startFleet(t, Options{Hosts: 3})
	if up := f.Running(); len(up) != len(f.Hosts) {
		t.Errorf("Running() = %v, want all of %v", up, f.Hosts)
	}

	checkFiles(t, f)

	// Every user on every host, in parallel: the point is also that sshd
	// takes concurrent logins, and a refused sudo -S costs the 2 s PAM
	// failure delay, which should not add up.
	const probe = "id -un; sudo -n true 2>/dev/null && echo sudo-ok"
	h := f.Hosts[0]
	const pwSudo = "sudo -S -p '' true && echo sudo-ok"
	var wg sync.WaitGroup
	for _, h := range f.Hosts {
		for _, u := range []string{f.Users.NoPass, f.Users.Pass, f.Users.Plain} {
			wg.Go(func() {
				out, err := sshRun(t, f.SSHConfig, h, u, probe)
				lines := strings.Fields(out)
				if len(lines) == 0 || lines[0] != u {
					t.Errorf("%s@%s: id -un printed %q (err %v), want %s", u, h.Addr, out, err, u)
					return
				}
				gotSudo := strings.Contains(out, "sudo-ok")
				if want := u == f.Users.NoPass; gotSudo != want {
					t.Errorf("%s@%s: sudo -n true worked=%v, want %v", u, h.Addr, gotSudo, want)
				}
			})
		}
	}
	wg.Go(func() {
		if out, err := sshRunInput(t, f.SSHConfig, h, f.Users.Pass, pwSudo, f.Users.PassPassword+"\n"); err != nil || !strings.Contains(out, "sudo-ok") {
			t.Errorf("%s: sudo -S with the password: out %q, err %v", f.Users.Pass, out, err)
		}
	})
	wg.Go(func() {
		if out, err := sshRunInput(t, f.SSHConfig, h, f.Users.Plain, pwSudo, f.Users.PassPassword+"\n"); err == nil || strings.Contains(out, "sudo-ok") {
			t.Errorf("%s: sudo -S unexpectedly worked: out %q", f.Users.Plain, out)
		}
	})
	wg.Wait()

	// StrictHostKeyChecking must really be in force: the same config with
	// an empty known_hosts has to fail.
	if _, err := sshRun(t, configKnowing(t, f, nil), h, f.Users.NoPass, "true"); err == nil || !strings.Contains(err.Error(), "verification failed") {
		t.Errorf("login with an empty known_hosts: err %v, want host key verification failure", err)
	}

	if c, err := net.DialTimeout("tcp", f.Unreachable, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s accepted a connection", f.Unreachable)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%s: %v, want connection refused", f.Unreachable, err)
	}

	// A command left behind on purpose: Stop must take it down too, even
	// though it outlives its session.
	if _, err := sshRun(t, f.SSHConfig, h, f.Users.Plain, "nohup sleep 1234 >/dev/null 2>&1 </dev/null &"); err != nil {
		t.Fatal(err)
	}
	if !waitProcess(t, f.Users.Plain, "sleep 1234", true) {
		t.Errorf("Processes(%s) does not list the backgrounded sleep", f.Users.Plain)
	}

	loaded, err := Load(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Hosts) != 3 || loaded.Hosts[2] != f.Hosts[2] || loaded.Key != f.Key || loaded.Users != f.Users {
		t.Errorf("Load returned %+v, want %+v", loaded, f)
	}

	stopAndCheck(t, f, stop)
	if waitProcess(t, f.Users.Plain, "sleep 1234", false) {
		t.Errorf("the backgrounded sleep survived Stop")
	}
}

// configKnowing writes a copy of f's ssh_config that trusts the host keys
// in known instead of those in f.KnownHosts, and returns its path.
func configKnowing(t *testing.T, f *Fleet, known []byte) string {
	t.Helper()
	dir := t.TempDir()
	kh, cfg := filepath.Join(dir, "known_hosts"), filepath.Join(dir, "ssh_config")
	b, err := os.ReadFile(f.SSHConfig)
	if err == nil {
		err = os.WriteFile(kh, known, 0o600)
	}
	if err == nil {
		err = os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), f.KnownHosts, kh)), 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkFiles checks the client-side files list every host as promised.
func checkFiles(t *testing.T, f *Fleet) {
	t.Helper()
	if st, err := os.Stat(f.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key %s: %v %v, want mode 0600", f.Key, st, err)
	}
	hosts, err := os.ReadFile(f.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	known, err := os.ReadFile(f.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Hosts {
		if want := f.Users.NoPass + "@" + h.HostPort() + "\n"; !strings.Contains(string(hosts), want) {
			t.Errorf("hosts file %q lacks %q", hosts, want)
		}
		if want := "[" + h.Addr + "]:" + strconv.Itoa(h.Port) + " ssh-ed25519 "; !strings.Contains(string(known), want) {
			t.Errorf("known_hosts %q lacks %q", known, want)
		}
	}
	if !strings.HasSuffix(f.Unreachable, ".250:"+strconv.Itoa(f.Hosts[0].Port)) {
		t.Errorf("Unreachable = %q", f.Unreachable)
	}
}

// waitProcess reports whether user runs a process with exactly cmdline,
// polling for up to 2 s until the answer is want: the shell may not have
// exec'd the command yet, and a killed one may take a moment to go.
func waitProcess(t *testing.T, user, cmdline string, want bool) bool {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		procs, err := Processes(user)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range procs {
			found = found || p == cmdline
		}
		if found == want || time.Now().After(deadline) {
			return found
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuthorizeKey: after B.AuthorizeKey(A's key), A's ssh_config (A's key)
// logs in to B's hosts, and before it does not: how the bench reaches the
// hosts of several fleets with one key.
func TestAuthorizeKey(t *testing.T) {
	t.Parallel()
	a, _ := startFleet(t, Options{Hosts: 1})
	b, _ := startFleet(t, Options{Hosts: 1})
	// A's config with both fleets' host keys, so that only the client key
	// decides.
	ka, _ := os.ReadFile(a.KnownHosts)
	kb, _ := os.ReadFile(b.KnownHosts)
	cfg := configKnowing(t, a, append(ka, kb...))
	if out, err := sshRun(t, cfg, b.Hosts[0], b.Users.NoPass, "echo in"); err == nil {
		t.Fatalf("A's key logged in to B before AuthorizeKey: %q", out)
	}
	if err := b.AuthorizeKey(a.Key + ".pub"); err != nil {
		t.Fatal(err)
	}
	if out, err := sshRun(t, cfg, b.Hosts[0], b.Users.NoPass, "echo in"); err != nil || strings.TrimSpace(out) != "in" {
		t.Fatalf("A's key on B after AuthorizeKey: %q, %v", out, err)
	}
	if out, err := sshRun(t, b.SSHConfig, b.Hosts[0], b.Users.Plain, "echo in"); err != nil || strings.TrimSpace(out) != "in" {
		t.Fatalf("B's own key on B after AuthorizeKey: %q, %v", out, err)
	}
}
