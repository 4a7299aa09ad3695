package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
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
		if r.status != 0 {
			t.Fatalf("accept-new: want exit status 0\n%s", r)
		}
		got := lines(readString(t, kh))
		if !slices.Equal(sorted(got), sorted(known)) {
			t.Fatalf("known_hosts after accept-new:\n%s\nwant one line per host:\n%s",
				strings.Join(got, "\n"), strings.Join(known, "\n"))
		}
		r = u.run(append(keyOpts(kh, "yes"), "-h", testFleet.HostsFile, "true")...)
		if r.status != 0 {
			t.Errorf("second run with StrictHostKeyChecking=yes: want exit status 0\n%s", r)
		}
		if again := lines(readString(t, kh)); !slices.Equal(again, got) {
			t.Errorf("the second run changed known_hosts:\n%s", strings.Join(again, "\n"))
		}
	})

	t.Run("yes refuses unknown hosts", func(t *testing.T) {
		u := setup(t)
		kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), "", 0o600)
		r := u.run(append(keyOpts(kh, "yes"), "-h", testFleet.HostsFile, "true")...)
		if r.status != 4 {
			t.Errorf("want exit status 4\n%s", r)
		}
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

	t.Run("a changed key fails that host only", func(t *testing.T) {
		// Host 0's line carries host 1's key, as after a reinstall.
		lines0 := slices.Clone(known)
		name0, _, _ := strings.Cut(lines0[0], " ")
		_, key1, _ := strings.Cut(lines0[1], " ")
		lines0[0] = name0 + " " + key1
		content := strings.Join(lines0, "\n") + "\n"
		for _, strict := range []string{"yes", "accept-new"} {
			t.Run(strict, func(t *testing.T) {
				u := setup(t)
				kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), content, 0o600)
				r := u.run(append(keyOpts(kh, strict), "-h", testFleet.HostsFile, "true")...)
				if r.status != 4 {
					t.Errorf("want exit status 4\n%s", r)
				}
				got := statuses(t, r.stdout)
				for i, l := range allLabels(np) {
					s := got[l]
					if i == 0 && (s.ok || !strings.Contains(s.reason, "CHANGED")) {
						t.Errorf("%s: want [FAILURE] ... CHANGED, got %+v\n%s", l, s, r)
					}
					if i != 0 && !s.ok {
						t.Errorf("%s: want [SUCCESS], got %+v\n%s", l, s, r)
					}
				}
				if b := readString(t, kh); b != content {
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
		if r.status != 0 {
			t.Errorf("want exit status 0: fleet must ask for the key type it knows\n%s", r)
		}
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
