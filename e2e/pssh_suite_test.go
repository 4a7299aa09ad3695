package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// pssh's own upstream test suite (pssh 2.3's test/test.py), case by case,
// run through wrappers that only rename the command, as a pssh user's
// scripts would call fleet: pssh -> fleet run, pscp -> fleet copy, pslurp
// -> fleet slurp. The command lines are upstream's; what each case asserts
// is upstream's (exit status, the -o/-e files, what landed), with one
// difference: upstream's stderr case expects exit 0 for a command that
// fails on every host, which every pssh since 2.0 answers with 5, as fleet
// does (the README's pssh table says so). The hosts file lists the hosts as
// upstream's does, without a user (addr:port, since the hosts listen on
// 2222), and the login comes from -l; the wrapper's user has the harness
// ssh_config as ~/.ssh/config, so that no fleet flag is added.

// psshWrappers writes the rename-only wrappers into a folder of their own
// and returns it.
func psshWrappers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, sub := range map[string]string{"pssh": "run", "pscp": "copy", "pslurp": "slurp"} {
		writeFile(t, filepath.Join(dir, name), fmt.Sprintf("#!/bin/sh\nexec %s %s \"$@\"\n", fleetBin, sub), 0o755)
	}
	return dir
}

// psshUser is a user whose ~/.ssh/config is the fleet's, with the wrappers
// first on PATH.
type psshUser struct {
	*user
	bin string
}

func newPsshUser(t *testing.T, f *harness.Fleet) *psshUser {
	t.Helper()
	u := newUser(t)
	if err := os.Mkdir(filepath.Join(u.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(u.home, ".ssh", "config"), readString(t, f.SSHConfig), 0o600)
	return &psshUser{user: u, bin: psshWrappers(t)}
}

// sh runs line with /bin/sh, as upstream's os.system does, with extra
// environment, and returns what it did.
func (u *psshUser) sh(line string, env ...string) result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Env = append([]string{"PATH=" + u.bin + ":" + os.Getenv("PATH"), "HOME=" + u.home,
		"FLEET_STATE_DIR=" + u.stateDir, "LANG=C.UTF-8"}, env...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: []string{"sh", "-c", line}, stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState == nil {
		u.t.Fatalf("%v\n%s", err, r)
	}
	r.status = cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		u.t.Fatalf("killed after %v\n%s", cmdTimeout, r)
	}
	return r
}

// startDistroFleet starts n hosts that each have their own /etc, /tmp and
// /home (pscp's cases write the same path on every host, which plain hosts
// would share), and stops them when the test ends.
func startDistroFleet(t *testing.T, n int) *harness.Fleet {
	t.Helper()
	distros := make([]string, n)
	for i := range distros {
		distros[i] = harness.Debian12
	}
	return startFleet(t, harness.Options{Distros: distros})
}

// lsR is upstream's `ls -R DIR | sed 1d | sort`.
func lsR(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", "ls -R "+dir+" | sed 1d | sort").Output()
	if err != nil {
		t.Fatalf("ls -R %s: %v", dir, err)
	}
	return strings.TrimSpace(string(out))
}

// TestPsshSuite is upstream's nine cases.
func TestPsshSuite(t *testing.T) {
	parent(t)
	f := startDistroFleet(t, 2)
	u := newPsshUser(t, f)
	user := f.Users.NoPass
	var lines []string
	for _, h := range f.Hosts {
		lines = append(lines, h.HostPort())
	}
	hostsFile := writeFile(t, filepath.Join(t.TempDir(), "hosts"), strings.Join(lines, "\n")+"\n", 0o644)
	dirs := func(t *testing.T) (out, errs string) { return t.TempDir(), t.TempDir() }
	// Upstream's setUp/tearDown (whose misspelt tearDown never ran): the
	// remote path starts absent on every host.
	clean := func(t *testing.T) {
		for _, h := range f.Hosts {
			if err := os.RemoveAll(h.Path("/tmp/pssh.test")); err != nil {
				t.Fatal(err)
			}
		}
	}
	passed := 0
	run := func(name string, fn func(t *testing.T)) {
		if t.Run(name, fn) {
			passed++
		}
	}

	psshCase := func(long bool) func(t *testing.T) {
		return func(t *testing.T) {
			out, errs := dirs(t)
			line := fmt.Sprintf("pssh -h %s -l %s -p 64 -o %s -e %s -t 60 -v -P -i uptime < /dev/null", hostsFile, user, out, errs)
			if long {
				line = fmt.Sprintf("pssh --hosts=%s --user=%s --par=64 --outdir=%s --errdir=%s --timeout=60 --verbose --print --inline uptime < /dev/null",
					hostsFile, user, out, errs)
			}
			r := u.sh(line)
			mustExit(t, r, 0)
			for _, host := range lines {
				if s := readString(t, filepath.Join(out, host)); !strings.Contains(s, "load average") {
					t.Errorf("%s/%s: %q lacks \"load average\"\n%s", out, host, s, r)
				}
			}
		}
	}
	run("pssh/short", psshCase(false))
	run("pssh/long", psshCase(true))
	run("pssh/stderr", func(t *testing.T) {
		out, errs := dirs(t)
		r := u.sh(fmt.Sprintf("pssh -h %s -l %s -p 64 -o %s -e %s -t 60 -v -P -i ls /foobarbaz < /dev/null", hostsFile, user, out, errs))
		// Upstream asserts 0 here; pssh >= 2.0 itself exits 5.
		if r.status != 5 {
			t.Errorf("want exit 5, as pssh >= 2.0 (upstream's test says 0)\n%s", r)
		}
		for _, host := range lines {
			if s := readString(t, filepath.Join(out, host)); s != "" {
				t.Errorf("%s/%s: %q, want empty", out, host, s)
			}
			if s := readString(t, filepath.Join(errs, host)); !strings.Contains(s, "No such file or directory") {
				t.Errorf("%s/%s: %q lacks the error\n%s", errs, host, s, r)
			}
		}
	})

	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	pscpCase := func(long bool) func(t *testing.T) {
		return func(t *testing.T) {
			clean(t)
			out, errs := dirs(t)
			line := fmt.Sprintf("pscp -h %s -l %s -p 64 -o %s -e %s -t 60 /etc/hosts /tmp/pssh.test < /dev/null", hostsFile, user, out, errs)
			if long {
				line = fmt.Sprintf("pscp --hosts=%s --user=%s --par=64 --outdir=%s --errdir=%s --timeout=60 /etc/hosts /tmp/pssh.test < /dev/null",
					hostsFile, user, out, errs)
			}
			r := u.sh(line)
			mustExit(t, r, 0)
			for _, h := range f.Hosts {
				if got := readString(t, h.Path("/tmp/pssh.test")); got != string(hosts) {
					t.Errorf("%s: /tmp/pssh.test is %q, want /etc/hosts\n%s", h.Addr, got, r)
				}
			}
		}
	}
	run("pscp/short", pscpCase(false))
	run("pscp/long", pscpCase(true))
	run("pscp/recursive", func(t *testing.T) {
		clean(t)
		out, errs := dirs(t)
		r := u.sh(fmt.Sprintf("pscp -r -h %s -l %s -p 64 -o %s -e %s -t 60 /etc/init.d /tmp/pssh.test < /dev/null", hostsFile, user, out, errs))
		mustExit(t, r, 0)
		want := lsR(t, "/etc/init.d")
		for _, h := range f.Hosts {
			if got := lsR(t, h.Path("/tmp/pssh.test")); got != want {
				t.Errorf("%s: ls -R /tmp/pssh.test:\n%s\nwant\n%s", h.Addr, got, want)
			}
		}
	})

	pslurpCase := func(long bool) func(t *testing.T) {
		return func(t *testing.T) {
			out, errs := dirs(t)
			local := filepath.Join(t.TempDir(), "slurp")
			line := fmt.Sprintf("pslurp -L %s -h %s -l %s -p 64 -o %s -e %s -t 60 /etc/hosts hosts < /dev/null", local, hostsFile, user, out, errs)
			if long {
				line = fmt.Sprintf("pslurp --localdir=%s --hosts=%s --user=%s --par=64 --outdir=%s --errdir=%s --timeout=60 /etc/hosts hosts < /dev/null",
					local, hostsFile, user, out, errs)
			}
			r := u.sh(line)
			mustExit(t, r, 0)
			for i, h := range f.Hosts {
				want := readString(t, h.Path("/etc/hosts"))
				if got := readString(t, filepath.Join(local, lines[i], "hosts")); got != want {
					t.Errorf("%s/%s/hosts is %q, want %q\n%s", local, lines[i], got, want, r)
				}
			}
		}
	}
	run("pslurp/short", pslurpCase(false))
	run("pslurp/long", pslurpCase(true))
	run("pslurp/recursive", func(t *testing.T) {
		out, errs := dirs(t)
		local := filepath.Join(t.TempDir(), "slurp")
		r := u.sh(fmt.Sprintf("pslurp -r -L %s -h %s -l %s -p 64 -o %s -e %s -t 60 /etc/init.d init.d < /dev/null", local, hostsFile, user, out, errs))
		mustExit(t, r, 0)
		want := lsR(t, "/etc/init.d")
		for _, host := range lines {
			if got := lsR(t, filepath.Join(local, host, "init.d")); got != want {
				t.Errorf("ls -R %s/%s/init.d:\n%s\nwant\n%s", local, host, got, want)
			}
		}
	})
	t.Logf("pssh's upstream suite: %d of 9 cases pass", passed)
}
