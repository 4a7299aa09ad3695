package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostKeys checks host-key verification against a known_hosts file of
// the test's own (-O UserKnownHostsFile overrides the harness's).
func TestHostKeys(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	known := lines(readString(t, testFleet.KnownHosts)) // one correct line per host
	keyOpts := func(file, strict string) []string {
		return []string{"-O", "UserKnownHostsFile=" + file, "-O", "StrictHostKeyChecking=" + strict}
	}

	t.Run("accept-new records every host, then yes trusts them", func(t *testing.T) {
		u := setup(t)
		kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), "", 0o600)
		r := u.run(append(keyOpts(kh, "accept-new"), "-h", testFleet.HostsFile, "true")...)
		mustExit(t, r, 0, "accept-new")
		got := lines(readString(t, kh))
		if !slices.Equal(sorted(got), sorted(known)) {
			t.Fatalf("known_hosts after accept-new:\n%s\nwant one line per host:\n%s",
				strings.Join(got, "\n"), strings.Join(known, "\n"))
		}
		r = u.run(append(keyOpts(kh, "yes"), "-h", testFleet.HostsFile, "true")...)
		wantExit(t, r, 0, "second run with StrictHostKeyChecking=yes")
		if again := lines(readString(t, kh)); !slices.Equal(again, got) {
			t.Errorf("the second run changed known_hosts:\n%s", strings.Join(again, "\n"))
		}
	})

	t.Run("yes refuses unknown hosts", func(t *testing.T) {
		u := setup(t)
		kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), "", 0o600)
		r := u.run(append(keyOpts(kh, "yes"), "-h", testFleet.HostsFile, "true")...)
		wantExit(t, r, 4)
		got := statuses(t, r.stdout)
		if len(got) != numHosts {
			t.Errorf("%d status lines, want %d\n%s", len(got), numHosts, r)
		}
		for l, s := range got {
			if s.ok || !strings.Contains(s.reason, "not known") {
				t.Errorf("%s: want [FAILURE] ... not known, got %+v\n%s", l, s, r)
			}
		}
		if b := readString(t, kh); b != "" {
			t.Errorf("StrictHostKeyChecking=yes wrote known_hosts:\n%s", b)
		}
	})

	t.Run("a changed key fails that host only, whatever the options but no", func(t *testing.T) {
		// Host 0's line carries host 1's key, as after a reinstall.
		lines0 := slices.Clone(known)
		name0, _, _ := strings.Cut(lines0[0], " ")
		_, key1, _ := strings.Cut(lines0[1], " ")
		lines0[0] = name0 + " " + key1
		content := strings.Join(lines0, "\n") + "\n"
		// The harness's ssh_config without its StrictHostKeyChecking line,
		// for fleet's default.
		unset := writeFile(t, filepath.Join(t.TempDir(), "ssh_config"),
			regexp.MustCompile(`(?m)^\s*StrictHostKeyChecking.*\n`).ReplaceAllString(readString(t, testFleet.SSHConfig), ""), 0o600)
		cases := []struct {
			name   string
			config string // -F; "" = the harness's
			args   func(kh string) []string
			hashed bool // known_hosts hashed (ssh-keygen -H)
			accept bool // connects anyway, with a warning
		}{
			{name: "yes", args: func(kh string) []string { return keyOpts(kh, "yes") }},
			{name: "accept-new", args: func(kh string) []string { return keyOpts(kh, "accept-new") }},
			{name: "ask", args: func(kh string) []string { return keyOpts(kh, "ask") }},
			{name: "default", config: unset, args: func(kh string) []string { return []string{"-O", "UserKnownHostsFile=" + kh} }},
			{name: "pssh -x", args: func(kh string) []string {
				return []string{"-x", "-o UserKnownHostsFile=" + kh + " -o StrictHostKeyChecking=accept-new"}
			}},
			{name: "hashed known_hosts", hashed: true, args: func(kh string) []string { return keyOpts(kh, "accept-new") }},
			{name: "no", accept: true, args: func(kh string) []string { return keyOpts(kh, "no") }},
			{name: "off", accept: true, args: func(kh string) []string { return keyOpts(kh, "off") }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u := setup(t)
				kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), content, 0o600)
				if c.hashed {
					hashKnownHosts(t, kh)
				}
				before := readString(t, kh)
				config := c.config
				if config == "" {
					config = testFleet.SSHConfig
				}
				r := u.startOn(config, cmdTimeout, "run", "", append(c.args(kh), "-h", testFleet.HostsFile, "true")...).
					wait(cmdTimeout + 5*time.Second)
				got := statuses(t, r.stdout)
				for i, l := range allLabels(np) {
					s := got[l]
					if i == 0 && !c.accept && (s.ok || !strings.Contains(s.reason, "CHANGED")) {
						t.Errorf("%s: want [FAILURE] ... CHANGED, got %+v\n%s", l, s, r)
					}
					if (i != 0 || c.accept) && !s.ok {
						t.Errorf("%s: want [SUCCESS], got %+v\n%s", l, s, r)
					}
				}
				switch {
				case c.accept && (r.status != 0 || !strings.Contains(r.stderr, "WARNING: host key of") ||
					!strings.Contains(r.stderr, "CHANGED")):
					t.Errorf("want exit status 0 and a warning that the key CHANGED\n%s", r)
				case !c.accept && r.status != 4:
					t.Errorf("want exit status 4\n%s", r)
				}
				if b := readString(t, kh); b != before {
					t.Errorf("known_hosts was changed:\n%s", b)
				}
			})
		}
	})

	// golang/go#29286: x/crypto asks for ECDSA, then RSA, then Ed25519 host
	// keys, so a host known only by its ed25519 key but also offering ECDSA
	// is wrongly "changed" unless the client asks for the known type.
	t.Run("only the ed25519 key is known", func(t *testing.T) {
		u := setup(t)
		var only []string
		multi := false
		for _, h := range testFleet.Hosts {
			offered := keyscan(t, h.Addr, h.Port)
			if len(offered) > 1 {
				multi = true
			}
			line, ok := offered["ssh-ed25519"]
			if !ok {
				t.Fatalf("%s offers no ssh-ed25519 host key: %v", h.HostPort(), offered)
			}
			only = append(only, line)
		}
		if !multi {
			t.Skip("the harness hosts offer only ssh-ed25519 host keys (ssh-keyscan), so the host-key " +
				"algorithm pitfall cannot show; it needs hosts that also offer ecdsa or rsa keys")
		}
		kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), strings.Join(only, "\n")+"\n", 0o600)
		r := u.run(append(keyOpts(kh, "yes"), "-h", testFleet.HostsFile, "true")...)
		wantExit(t, r, 0, "fleet must ask for the key type it knows")
	})
}

// keyscan returns the known_hosts line of every host key type that
// addr:port offers, by type.
func keyscan(t *testing.T, addr string, port int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh-keyscan", "-T", "5", "-p", strconv.Itoa(port),
		"-t", "rsa,ecdsa,ed25519", addr)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-keyscan %s: %v", addr, err)
	}
	keys := map[string]string{}
	for _, line := range lines(string(out)) {
		if f := strings.Fields(line); len(f) == 3 && !strings.HasPrefix(line, "#") {
			keys[f[1]] = line
		}
	}
	if len(keys) == 0 {
		t.Fatalf("ssh-keyscan %s found no host key", addr)
	}
	return keys
}

// hashKnownHosts hashes the host names of a known_hosts file in place, as
// HashKnownHosts does, with OpenSSH's own tool.
func hashKnownHosts(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-H", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H %s: %v\n%s", path, err, out)
	}
	if b := readString(t, path); !strings.HasPrefix(b, "|1|") {
		t.Fatalf("ssh-keygen -H left the names in clear:\n%s", b)
	}
}

// TestHostKeys200: accept-new with 200 hosts connecting at once, into an
// empty known_hosts, writes each host's key exactly once, and a second run
// adds nothing. Then a changed key is refused and never retried: its host
// sees exactly one connection.
func TestHostKeys200(t *testing.T) {
	parent(t)
	f := startOwnFleet(t, 200)
	u := newUser(t)
	np := f.Users.NoPass
	want := lines(readString(t, f.KnownHosts)) // one correct line per host
	kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), "", 0o600)
	// 200 handshakes at once on a busy two-core machine take a while.
	run := func(hosts string) result {
		t.Helper()
		return u.startOn(f.SSHConfig, 3*time.Minute, "run", "", "-O", "UserKnownHostsFile="+kh,
			"-O", "StrictHostKeyChecking=accept-new", "-p", "200", "--connect-timeout", "90", "-h", hosts,
			"true").wait(3*time.Minute + 5*time.Second)
	}

	r := run(f.HostsFile)
	if r.status != 0 || strings.Count(r.stdout, "[SUCCESS]") != len(f.Hosts) {
		t.Fatalf("accept-new on %d hosts: want exit status 0 and every host [SUCCESS]\n%s", len(f.Hosts), r)
	}
	first := readString(t, kh)
	got := lines(first)
	perHost := map[string]int{}
	keyOf := map[string]string{} // by known_hosts name
	for _, l := range got {
		name, key, _ := strings.Cut(l, " ")
		perHost[name]++
		keyOf[name] = key
	}
	for name, n := range perHost {
		if n != 1 {
			t.Errorf("known_hosts has %d lines for %s", n, name)
		}
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("known_hosts after accept-new has %d lines for %d hosts, want exactly the hosts' keys:\n%s",
			len(got), len(perHost), first)
	}

	r = run(f.HostsFile)
	wantExit(t, r, 0, "second run")
	if again := readString(t, kh); again != first {
		t.Errorf("the second run changed known_hosts: %d lines, was %d", len(lines(again)), len(got))
	}

	// Host 0 now offers a key other than the recorded one, as after a
	// reinstall: its line gets host 1's key.
	h0 := f.Hosts[0]
	name0 := khName(h0)
	if keyOf[name0] == "" {
		t.Fatalf("no line for %s", name0)
	}
	changed := strings.Replace(first, name0+" "+keyOf[name0], name0+" "+keyOf[khName(f.Hosts[1])], 1)
	writeFile(t, kh, changed, 0o600)
	// The refusal is the host's own: ten hosts show it as well as 200.
	some := f.Hosts[:10]
	conns := strings.Count(sshdLog(t, f, h0), "Connection from")
	r = run(hostsFile(t, np, some))
	wantExit(t, r, 4, "changed key")
	st := statuses(t, r.stdout)
	for i, h := range some {
		s := st[label(np, h)]
		if i == 0 && (s.ok || !strings.Contains(s.reason, "CHANGED")) {
			t.Errorf("%s: want [FAILURE] ... CHANGED, got %+v", s.label, s)
		}
		if i != 0 && !s.ok {
			t.Errorf("%s: want [SUCCESS], got %+v", label(np, h), s)
		}
	}
	if n := strings.Count(sshdLog(t, f, h0), "Connection from") - conns; n != 1 {
		t.Errorf("the host with a changed key saw %d connections in one run, want 1 (never retried)", n)
	}
	if b := readString(t, kh); b != changed {
		t.Errorf("known_hosts was changed by the run that met a changed key")
	}
}
