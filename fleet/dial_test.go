package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

func dialErr(t *testing.T, d *Dialer, h inventory.Host) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, h)
	if err == nil {
		c.Close()
		return nil
	}
	return Classify(ctx, err)
}

func TestDialAuthFailure(t *testing.T) {
	env := newEnv(t)
	srv := sshtest.Start(t, sshtest.Config{AuthorizedKeys: nil}) // accepts nobody
	err := dialErr(t, env.dialer(), hostOf(srv))
	if !errors.Is(err, ErrAuth) || OutcomeOf(err) != Unreachable {
		t.Fatalf("got %v, want an authentication failure", err)
	}
	if srv.Accepted() != 1 {
		t.Errorf("auth failure was retried: %d connections", srv.Accepted())
	}
	if Hint(err) == "" {
		t.Error("no hint for an auth failure")
	}
}

func TestDialPassword(t *testing.T) {
	env := newEnv(t)
	srv := sshtest.Start(t, sshtest.Config{Password: "s3cret"})
	asked := 0
	d := env.dialer(func(o *Options) {
		o.Password = func() ([]byte, error) { asked++; return []byte("s3cret"), nil }
	})
	for i := 0; i < 2; i++ {
		if err := dialErr(t, d, hostOf(srv)); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Errorf("password asked %d times, want once", asked)
	}
}

func TestDialRefused(t *testing.T) {
	env := newEnv(t)
	err := dialErr(t, env.dialer(), inventory.Host{Name: "127.0.0.1", Port: closedPort(t)})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v", err)
	}
}

// A host whose inventory fleet refuses (ansible_connection=local) is never
// reached by ssh, even by a caller that did not check inventory.CheckRefused.
func TestDialRefusedInventoryHost(t *testing.T) {
	env := newEnv(t)
	srv := sshtest.Start(t, sshtest.Config{})
	h := hostOf(srv)
	h.Refused = &inventory.Refusal{Where: "inv:1", Key: "ansible_connection", Reason: "ansible_connection=local: fleet reaches hosts with ssh only"}
	d := env.dialer()
	err := dialErr(t, d, h)
	if err == nil || !strings.Contains(err.Error(), "inv:1: ansible_connection=local") {
		t.Fatalf("Dial = %v, want the refusal", err)
	}
	if got := OutcomeOf(classifyDial(context.Background(), err)); got != Unreachable { // as Run classifies it
		t.Errorf("outcome %v, want unreachable", got)
	}
	if _, err := d.Describe(h); !errors.Is(err, h.Refused) {
		t.Errorf("Describe = %v, want the refusal", err)
	}
	if srv.Accepted() != 0 {
		t.Errorf("%d connections to a refused host", srv.Accepted())
	}
}

// A listener that accepts TCP and never speaks must not hang the run:
// ClientConfig.Timeout alone covers only the TCP connect.
func TestDialSilentHostTimesOut(t *testing.T) {
	env := newEnv(t)
	srv := sshtest.Start(t, sshtest.Config{Silent: true})
	d := env.dialer(func(o *Options) { o.ConnectTimeout = 300 * time.Millisecond })
	start := time.Now()
	err := dialErr(t, d, hostOf(srv))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("connect timeout of 300ms took %s", el)
	}
}

func TestHostKeyAcceptNewRecordsOnce(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	d := env.dialer()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = dialErr(t, d, hostOf(srv)) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := sshtest.Lines(t, env.knownHosts())
	if len(got) != 1 || !strings.HasPrefix(got[0], "[127.0.0.1]:") {
		t.Fatalf("known_hosts after 20 parallel first dials: %q", got)
	}
	st, _ := os.Stat(env.knownHosts())
	if st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %o", st.Mode().Perm())
	}
	// A new dialer reads the recorded key and connects without adding it again.
	if err := dialErr(t, env.dialer(), hostOf(srv)); err != nil {
		t.Fatal(err)
	}
	if n := len(sshtest.Lines(t, env.knownHosts())); n != 1 {
		t.Fatalf("known_hosts has %d lines after a second run", n)
	}
}

func TestHostKeyStrictYesRefusesUnknown(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	d := env.dialer(withOverrides("StrictHostKeyChecking", "yes"))
	err := dialErr(t, d, hostOf(srv))
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "SHA256:") || Hint(err) == "" {
		t.Fatalf("got %v (hint %q)", err, Hint(err))
	}
	if _, err := os.Stat(env.knownHosts()); !errors.Is(err, os.ErrNotExist) {
		t.Error("strict mode wrote known_hosts")
	}
}

func TestHostKeyChangedIsFatalAndNotRetried(t *testing.T) {
	env := newEnv(t)
	old := env.server(sshtest.Config{})
	env.knowHost(old)
	line := old.KnownHostsLine()
	// The same address now presents another key: write the old key under
	// the new server's port.
	srv := env.server(sshtest.Config{})
	fields := strings.Fields(line)
	fields[0] = strings.Replace(fields[0], portOf(old), portOf(srv), 1)
	writeFile(t, env.knownHosts(), strings.Join(fields, " ")+"\n", 0o600)
	for _, strict := range []string{"accept-new", "yes"} {
		d := env.dialer(withOverrides("StrictHostKeyChecking", strict))
		err := dialErr(t, d, hostOf(srv))
		if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "CHANGED") ||
			!strings.Contains(err.Error(), env.knownHosts()+":1") {
			t.Fatalf("%s: got %v", strict, err)
		}
	}
	if srv.Accepted() != 2 {
		t.Errorf("changed key retried: %d connections for 2 dials", srv.Accepted())
	}
	// Only an explicit StrictHostKeyChecking=no connects, with a warning.
	var warn strings.Builder
	d := env.dialer(withOverrides("StrictHostKeyChecking", "no"), func(o *Options) { o.Warn = &warn })
	if err := dialErr(t, d, hostOf(srv)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn.String(), "CHANGED") {
		t.Errorf("no loud warning: %q", warn.String())
	}
}

func portOf(s *sshtest.Server) string { return ":" + strings.TrimPrefix(s.Addr, "127.0.0.1:") }

func TestHashedKnownHostsEntryIsFound(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	d := env.dialer(withOverrides("HashKnownHosts", "yes"))
	if err := dialErr(t, d, hostOf(srv)); err != nil {
		t.Fatal(err)
	}
	got := sshtest.Lines(t, env.knownHosts())
	if len(got) != 1 || !strings.HasPrefix(got[0], "|1|") {
		t.Fatalf("want one hashed line, got %q", got)
	}
	strict := env.dialer(withOverrides("StrictHostKeyChecking", "yes"))
	if err := dialErr(t, strict, hostOf(srv)); err != nil {
		t.Fatalf("hashed entry not matched: %v", err)
	}
	// appendKnownHost sees the hashed line and does not add another.
	if _, err := appendKnownHost(env.knownHosts(), srv.Addr, srv.HostKey, true); err != nil {
		t.Fatal(err)
	}
	if n := len(sshtest.Lines(t, env.knownHosts())); n != 1 {
		t.Fatalf("duplicate hashed line: %d lines", n)
	}
}

func TestIdentityFileFromConfig(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	writePrivateKey(t, filepath.Join(env.home, "deploy_key"), env.priv) // not at a default path
	cfg := filepath.Join(env.home, "ssh_config")
	writeFile(t, cfg, fmt.Sprintf("Host myhost\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile ~/deploy_key\n  User deployer\n", srv.Port), 0o600)
	d := env.keylessDialer(func(o *Options) { o.ConfigFile = cfg })
	h := inventory.Host{Name: "myhost"}
	if got := d.User(h); got != "deployer" {
		t.Errorf("user %q", got)
	}
	if err := dialErr(t, d, h); err != nil {
		t.Fatal(err)
	}
}

func TestEncryptedKeyPassphraseAskedOnce(t *testing.T) {
	env := newEnv(t)
	keyFile := env.encryptedKey("enc_key")
	srv := env.server(sshtest.Config{})
	asked := 0
	d := env.keylessDialer(func(o *Options) {
		o.IdentityFiles = []string{keyFile}
		o.Passphrase = func(file string) ([]byte, error) {
			asked++
			if file != keyFile {
				t.Errorf("asked for %s", file)
			}
			return []byte(encryptedKeyPass), nil
		}
	})
	if err := d.Prepare([]inventory.Host{hostOf(srv), hostOf(srv)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := dialErr(t, d, hostOf(srv)); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("passphrase asked %d times", asked)
	}
}

func TestDialRetriesConnectionReset(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	p := newCountingProxy(t, srv.Addr, true)
	if err := dialErr(t, env.dialer(), inventory.Host{Name: "127.0.0.1", Port: p.port()}); err != nil {
		t.Fatalf("a reset before auth was not retried: %v", err)
	}
	if n := p.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}
