package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 15, point by point: what pssh, pscp and pslurp users write, run
// through the rename-only wrappers (see pssh_suite_test.go) on the shared
// fleet. Each of these failed before (exit 2, or another name, status or
// file).

// shared is a pssh user of the shared fleet.
func shared(t *testing.T) *psshUser {
	t.Helper()
	setup(t)
	return newPsshUser(t, testFleet)
}

// Point 1 (and 8's -e files): pscp and pslurp take -o/-e; every host gets
// both files, and the -e file of a host that could not be reached, or whose
// transfer failed, says why, where pssh's holds ssh's or scp's message.
func TestPsshOutErrFiles(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), "x\n", 0o644)
	dst := filepath.Join(userDir(t, np), "f")
	out, errs := t.TempDir(), t.TempDir()
	hosts := hostArg(np, h, testFleet.Unreachable)
	r := u.sh(fmt.Sprintf("pscp -o %s -e %s -H '%s' %s %s", out, errs, hosts, src, dst))
	mustExit(t, r, 4, "one host unreachable")
	for _, l := range []string{label(np, h), np + "@" + testFleet.Unreachable} {
		if _, err := os.Stat(filepath.Join(out, l)); err != nil {
			t.Errorf("no -o file for %s: %v", l, err)
		}
	}
	if s := readString(t, filepath.Join(errs, np+"@"+testFleet.Unreachable)); !strings.Contains(s, "connection refused") {
		t.Errorf("-e file of the unreachable host: %q, want its reason\n%s", s, r)
	}
	if s := readString(t, filepath.Join(errs, label(np, h))); s != "" {
		t.Errorf("-e file of the host that succeeded: %q, want empty", s)
	}

	local := t.TempDir()
	r = u.sh(fmt.Sprintf("pslurp -L %s -o %s -e %s -H '%s' /nonexistent/f f", local, out, errs, label(np, h)))
	mustExit(t, r, 5, "the transfer failed")
	if s := readString(t, filepath.Join(errs, label(np, h))); !strings.Contains(s, "/nonexistent/f") {
		t.Errorf("pslurp's -e file: %q, want the failure\n%s", s, r)
	}
}

// Point 2: pscp's and pslurp's -x are scp's options: -P is the port, -l a
// bandwidth limit in Kbit/s (not a login), -p keeps the times; the rest is
// refused by name.
func TestPsshSCPOptions(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	dir := userDir(t, np)
	src := randomFile(t, filepath.Join(t.TempDir(), "blob"), 128<<10, 0o640)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	host := np + "@" + h.Addr // the port comes from -x -P
	start := time.Now()
	r := u.sh(fmt.Sprintf("pscp -x '-l 256' -x -p -X -P -X %d -H %s %s %s/blob", h.Port, host, src, dir))
	took := time.Since(start)
	mustExit(t, r, 0)
	// 128 KiB at 256 Kbit/s (32 KiB/s) is 4 s, less the bucket's first
	// 8 KiB.
	if took < 3*time.Second {
		t.Errorf("128 KiB at -l 256 took %v, want about 4 s", took)
	}
	st, err := os.Stat(filepath.Join(dir, "blob"))
	if err != nil || !st.ModTime().Equal(old) || st.Mode().Perm() != 0o640 {
		t.Errorf("-x -p: remote file %v, want mtime %v and mode 0640 (%v)", st.ModTime(), old, err)
	}

	remote := writeFile(t, filepath.Join(dir, "back"), "back\n", 0o604)
	if err := os.Chtimes(remote, old, old); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	r = u.sh(fmt.Sprintf("pslurp -x -p -L %s -H %s %s back", local, label(np, h), remote))
	mustExit(t, r, 0)
	st, err = os.Stat(filepath.Join(local, label(np, h), "back"))
	if err != nil || !st.ModTime().Equal(old) || st.Mode().Perm() != 0o604 {
		t.Errorf("pslurp -x -p: local copy %v %v, want mtime %v and mode 0604 (%v)", st.ModTime(), st.Mode(), old, err)
	}

	r = u.sh(fmt.Sprintf("pscp -x -3 -H %s %s %s/blob2", label(np, h), src, dir))
	if r.status != 2 || !strings.Contains(r.stderr, "scp -3 is not supported") {
		t.Errorf("want -x -3 refused by name, exit 2\n%s", r)
	}
}

// Point 3: common, harmless ssh options pass (-x "-F file", -q, -4, -C,
// -O LogLevel, ControlMaster, KexAlgorithms), -v says which changed
// nothing, and PSSH_OPTIONS still counts when -O is given: here it is the
// only place the key is named.
func TestPsshSSHOptions(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	cfg := clientConfig(t, "", testFleet.KnownHosts)
	line := fmt.Sprintf("pssh -v -x '-F %s' -x -q -x -4 -x -C -O LogLevel=ERROR -O ControlMaster=auto "+
		"-O KexAlgorithms=curve25519-sha256 -i -H %s echo ok", cfg, label(np, h))
	r := u.sh(line, "PSSH_OPTIONS=IdentityFile "+testFleet.Key)
	if r.status != 0 || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("want exit 0 and the output\n%s", r)
	}
	if !strings.Contains(r.stderr, "fleet: note: ignored") || !strings.Contains(r.stderr, "LogLevel=ERROR") ||
		!strings.Contains(r.stderr, "ssh -q") {
		t.Errorf("-v: want one note naming what was ignored\n%s", r)
	}
	r = u.sh(fmt.Sprintf("pssh -x '-L 8080:localhost:80' -H %s true", label(np, h)))
	if r.status != 2 || !strings.Contains(r.stderr, "ssh -L is not supported") {
		t.Errorf("want -x -L refused by name, exit 2\n%s", r)
	}
}

// Point 4: short options with their value attached, as optparse takes
// them.
func TestPsshAttachedValues(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	hosts := writeFile(t, filepath.Join(t.TempDir(), "hosts"), h.HostPort()+"\n", 0o644)
	out := t.TempDir()
	r := u.sh(fmt.Sprintf("pssh -t0 -p4 -l%s -h%s -o%s uptime", np, hosts, out))
	mustExit(t, r, 0)
	if s := readString(t, filepath.Join(out, h.HostPort())); !strings.Contains(s, "load average") {
		t.Errorf("-o file: %q", s)
	}
}

// Point 5: PSSH_INLINE, PSSH_PRINT and PSSH_VERBOSE take any value as on;
// -I without a command runs the script on standard input.
func TestPsshEnvAndStdinScript(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	l := label(np, h)
	r := u.sh(fmt.Sprintf("pssh -H %s echo hi", l), "PSSH_INLINE=yes", "PSSH_PRINT=yes", "PSSH_VERBOSE=yes")
	mustExit(t, r, 0)
	if b := inlineBlocks(r.stdout)[l]; !strings.Contains(b, "hi") {
		t.Errorf("PSSH_INLINE=yes: no inline output\n%s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, l+": hi") {
		t.Errorf("PSSH_PRINT=yes: no printed line\n%s", r)
	}
	r = u.sh(fmt.Sprintf("printf 'echo from-stdin\\necho $((6*7))\\n' | pssh -I -i -H %s", l))
	if r.status != 0 || !strings.Contains(r.stdout, "from-stdin\n42\n") {
		t.Errorf("-I without a command: want the script's output\n%s", r)
	}
}

// Point 6: with -l equal to the host line's user, pssh names the host
// without it, in the status line and the -o file; a port written stays.
func TestPsshLabels(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	hosts := writeFile(t, filepath.Join(t.TempDir(), "hosts"), label(np, h)+"\n", 0o644)
	out := t.TempDir()
	r := u.sh(fmt.Sprintf("pssh -h %s -l %s -o %s true", hosts, np, out))
	mustExit(t, r, 0)
	if _, ok := statuses(t, r.stdout)[h.HostPort()]; !ok {
		t.Errorf("want the status line to name %s\n%s", h.HostPort(), r)
	}
	if _, err := os.Stat(filepath.Join(out, h.HostPort())); err != nil {
		t.Errorf("want %s/%s, as pssh names it: %v", out, h.HostPort(), err)
	}
	out = t.TempDir()
	if r = u.sh(fmt.Sprintf("pssh -h %s -o %s true", hosts, out)); r.status != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(out, label(np, h))); err != nil {
		t.Errorf("without -l: want %s/%s: %v", out, label(np, h), err)
	}
}

// Point 8: exit statuses. A host that accepts the connection and never
// answers fails within -t 2 (pssh: 3 after 2 s; fleet: 4, unreachable,
// after 2 s, and says why in the -e file); an empty host list is 0, a host
// file that cannot be opened 1; a failed pscp transfer is 5 (pscp: 4).
func TestPsshExitStatuses(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	errs := t.TempDir()
	start := time.Now()
	r := u.sh(fmt.Sprintf("pssh -t 2 -e %s -H %s@%s true", errs, np, ln.Addr()))
	took := time.Since(start)
	if r.status != 4 || took > 6*time.Second {
		t.Errorf("silent host with -t 2: exit %d after %v, want 4 within about 2 s\n%s", r.status, took, r)
	}
	if s := readString(t, filepath.Join(errs, np+"@"+ln.Addr().String())); !strings.Contains(s, "fleet: ") {
		t.Errorf("-e file of the silent host: %q, want its reason", s)
	}

	empty := writeFile(t, filepath.Join(t.TempDir(), "empty"), "# none yet\n", 0o644)
	if r = u.sh("pssh -h " + empty + " true"); r.status != 0 {
		t.Errorf("empty host list: want exit 0, as pssh\n%s", r)
	}
	if r = u.sh("pssh -h /nonexistent/hosts true"); r.status != 1 {
		t.Errorf("missing host file: want exit 1, as pssh\n%s", r)
	}
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), "x\n", 0o644)
	if r = u.sh(fmt.Sprintf("pscp -H %s %s /proc/fleet-no-such/f", label(np, h), src)); r.status != 5 {
		t.Errorf("failed transfer: want exit 5 (see the README's pssh table)\n%s", r)
	}
}

// Point 10: quoted ~/ paths mean the login user's home, as with scp.
func TestPsshTildePaths(t *testing.T) {
	u := shared(t)
	np, h := testFleet.Users.NoPass, testFleet.Hosts[0]
	_, _, home := account(t, np)
	name := fmt.Sprintf("fleet-tilde-%d", time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(filepath.Join(home, name)) })
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), "tilde\n", 0o644)
	r := u.sh(fmt.Sprintf("pscp -H %s %s '~/%s'", label(np, h), src, name))
	mustExit(t, r, 0)
	if s := readString(t, filepath.Join(home, name)); s != "tilde\n" {
		t.Errorf("~/%s in %s's home: %q", name, np, s)
	}
	local := t.TempDir()
	r = u.sh(fmt.Sprintf("pslurp -L %s -H %s '~/%s' back", local, label(np, h), name))
	mustExit(t, r, 0)
	if s := readString(t, filepath.Join(local, label(np, h), "back")); s != "tilde\n" {
		t.Errorf("slurped ~/%s: %q", name, s)
	}
}
