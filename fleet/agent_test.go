package fleet

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	xkh "golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// serveAgent runs an in-memory ssh-agent holding priv on a fresh socket.
func serveAgent(t *testing.T, priv any) string {
	t.Helper()
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	return sock
}

// IdentityAgent picks the agent: a socket path, none, or SSH_AUTH_SOCK (the
// variable's socket), which is also the default.
func TestIdentityAgent(t *testing.T) {
	env := newEnv(t)
	agentKey := newEnv(t) // the agent's key, the only one the server takes
	srv := sshtest.Start(t, sshtest.Config{AuthorizedKeys: []ssh.PublicKey{agentKey.key.PublicKey()}})
	sock := serveAgent(t, agentKey.priv)
	cases := []struct {
		env, option string
		ok          bool
	}{
		{env: sock, ok: true},
		{env: sock, option: "SSH_AUTH_SOCK", ok: true},
		{env: sock, option: "none"},
		{env: "/nonexistent/agent", option: sock, ok: true},
		{env: "/nonexistent/agent", option: "SSH_AUTH_SOCK"},
		{env: "/nonexistent/agent", option: "$FLEET_TEST_AGENT", ok: true},
	}
	t.Setenv("FLEET_TEST_AGENT", sock)
	for _, c := range cases {
		t.Setenv("SSH_AUTH_SOCK", c.env)
		d := env.dialer(func(o *Options) {
			o.NoAgent = false
			if c.option != "" {
				o.Overrides = [][2]string{{"IdentityAgent", c.option}}
			}
		})
		err := dialErr(t, d, hostOf(srv))
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrAuth) {
			t.Errorf("SSH_AUTH_SOCK=%s IdentityAgent=%q: got %v, want ok=%v", c.env, c.option, err, c.ok)
		}
	}
}

// ForwardAgent yes asks for forwarding on each session, except on a host
// whose key CHANGED (accepted under StrictHostKeyChecking=no).
func TestForwardAgentNotAfterChangedKey(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	sock := serveAgent(t, env.priv)
	t.Setenv("SSH_AUTH_SOCK", sock)
	env.knowHost(srv)
	opts := func(extra ...[2]string) func(*Options) {
		return func(o *Options) {
			o.NoAgent = false
			o.Overrides = append([][2]string{{"ForwardAgent", "yes"}}, extra...)
		}
	}
	c := dial(t, env.dialer(opts()), srv)
	if !c.agentFwd {
		t.Fatal("ForwardAgent yes: no forwarding")
	}
	other := sshtest.NewClientKey(t)
	writeFile(t, env.knownHosts(), xkh.Line([]string{xkh.Normalize(srv.Addr)}, other.PublicKey())+"\n", 0o600)
	var warn strings.Builder
	d := env.dialer(opts([2]string{"StrictHostKeyChecking", "no"}), func(o *Options) { o.Warn = &warn })
	c = dial(t, d, srv)
	if c.agentFwd {
		t.Error("the agent is forwarded to a host whose key changed")
	}
	if !strings.Contains(warn.String(), "agent forwarding are disabled") {
		t.Errorf("no warning: %q", warn.String())
	}
}

// ForwardAgent and IdentityAgent values read as ssh reads them.
func TestAgentSettings(t *testing.T) {
	t.Setenv("FLEET_TEST_SOCK", "/run/a.sock")
	expand := func(s string) string { return strings.ReplaceAll(s, "%h", "web1") }
	for v, want := range map[string]string{"yes": "yes", "true": "yes", "no": "", "": "", "$FLEET_TEST_SOCK": "/run/a.sock",
		"/tmp/%h.sock": "/tmp/web1.sock"} {
		if got := forwardAgentSetting(v, expand); got != want {
			t.Errorf("ForwardAgent %q: %q, want %q", v, got, want)
		}
	}
	for v, want := range map[string]string{"none": "none", "SSH_AUTH_SOCK": "SSH_AUTH_SOCK", "$X": "$X", "/tmp/%h": "/tmp/web1"} {
		if got := identityAgentSetting(v, expand); got != want {
			t.Errorf("IdentityAgent %q: %q, want %q", v, got, want)
		}
	}
}

// An IdentityFile whose private half is only in the agent: its .pub picks
// the agent's key, and the -cert.pub beside it is used with that key.
func TestAgentKeyWithPublicFileAndCertificate(t *testing.T) {
	env := newEnv(t)
	ca := sshtest.NewClientKey(t)
	srv := sshtest.Start(t, sshtest.Config{UserCAs: []ssh.PublicKey{ca.PublicKey()}})
	sock := serveAgent(t, env.priv)
	t.Setenv("SSH_AUTH_SOCK", sock)
	key := filepath.Join(t.TempDir(), "id_token") // no private key file
	writeFile(t, key+".pub", ssh.MarshalAuthorizedKey(env.key.PublicKey()), 0o644)
	writeCert(t, key+"-cert.pub", signCert(t, ca, env.key.PublicKey(), ssh.UserCert, []string{"tester"}, time.Hour))
	d := env.dialer(func(o *Options) {
		o.NoAgent = false
		o.IdentityFiles = []string{key}
		o.Overrides = [][2]string{{"IdentitiesOnly", "yes"}}
	})
	if err := dialErr(t, d, hostOf(srv)); err != nil {
		t.Fatalf("agent key with a certificate beside its .pub: %v", err)
	}
}
