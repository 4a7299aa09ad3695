package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/internal/leakcheck"
	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if proxyHelperDir != "" {
		os.RemoveAll(proxyHelperDir)
	}
	os.Exit(code)
}

// testEnv is a home folder with a client key, and test servers that accept
// that key.
type testEnv struct {
	t    *testing.T
	home string
	priv ed25519.PrivateKey
	key  ssh.Signer
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, home: home, priv: priv, key: key}
}

// writeKey saves the client key as the default identity ~/.ssh/id_ed25519.
func (e *testEnv) writeKey() string {
	e.t.Helper()
	path := filepath.Join(e.home, ".ssh", "id_ed25519")
	writePrivateKey(e.t, path, e.priv)
	return path
}

// writePrivateKey saves priv, unencrypted, in OpenSSH's format.
func writePrivateKey(t *testing.T, path string, priv ed25519.PrivateKey) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, pem.EncodeToMemory(block), 0o600)
}

// encryptedKeyPass is the passphrase of testdata/encrypted_ed25519.
const encryptedKeyPass = "open sesame"

// encryptedKey copies testdata/encrypted_ed25519 into the home as name and
// makes it the env's client key, so that its servers accept it. The file
// was made with ssh-keygen -a 1: the 16 bcrypt rounds of
// ssh.MarshalPrivateKeyWithPassphrase take seconds under the race detector.
func (e *testEnv) encryptedKey(name string) string {
	e.t.Helper()
	b, err := os.ReadFile("testdata/encrypted_ed25519")
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKeyWithPassphrase(b, []byte(encryptedKeyPass))
	if err != nil {
		e.t.Fatal(err)
	}
	e.priv = *raw.(*ed25519.PrivateKey)
	if e.key, err = ssh.NewSignerFromKey(e.priv); err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.home, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// server starts a test server that accepts the env's key.
func (e *testEnv) server(cfg sshtest.Config) *sshtest.Server {
	cfg.AuthorizedKeys = append(cfg.AuthorizedKeys, e.key.PublicKey())
	return sshtest.Start(e.t, cfg)
}

// knowHost records the server's key in ~/.ssh/known_hosts.
func (e *testEnv) knowHost(srv *sshtest.Server) {
	e.t.Helper()
	f, err := os.OpenFile(e.knownHosts(), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(srv.KnownHostsLine() + "\n"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) knownHosts() string { return filepath.Join(e.home, ".ssh", "known_hosts") }

// dialer builds a Dialer that uses only the env: no agent, no ssh_config,
// no system known_hosts.
func (e *testEnv) dialer(mutate ...func(*Options)) *Dialer {
	e.t.Helper()
	e.writeKey()
	return e.keylessDialer(mutate...)
}

// keylessDialer is dialer without the env's key as the default identity,
// for tests whose key is found elsewhere.
func (e *testEnv) keylessDialer(mutate ...func(*Options)) *Dialer {
	e.t.Helper()
	o := Options{Home: e.home, LocalUser: "tester", ConfigFile: "none", NoAgent: true,
		GlobalKnownHosts: []string{}, ConnectTimeout: 5 * time.Second}
	for _, m := range mutate {
		m(&o)
	}
	d, err := NewDialer(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	return d
}

func hostOf(srv *sshtest.Server) inventory.Host {
	h := inventory.Host{Name: srv.Host, Port: srv.Port}
	h.Label = h.String()
	return h
}

// hostsOf is n hosts that all are srv, labelled as a host list would be
// (node, node.1, ...).
func hostsOf(srv *sshtest.Server, n int) []inventory.Host {
	hosts := make([]inventory.Host, n)
	for i := range hosts {
		hosts[i] = hostOf(srv)
	}
	inventory.Label(hosts)
	return hosts
}

// connect starts a test server with cfg for a fresh env and dials it.
func connect(t *testing.T, cfg sshtest.Config) (*Conn, *sshtest.Server) {
	t.Helper()
	env := newEnv(t)
	srv := env.server(cfg)
	return dial(t, env.dialer(), srv), srv
}

// testContext is a context that ends after d or with the test.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dial connects to srv or fails the test.
func dial(t *testing.T, d *Dialer, srv *sshtest.Server) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, hostOf(srv))
	if err != nil {
		t.Fatalf("dial %s: %v", srv.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkGoroutines fails the test when goroutines started during it are
// still running shortly after it ends (bounded wait; go.uber.org/goleak).
func checkGoroutines(t *testing.T) {
	t.Helper()
	leakcheck.Goroutines(t)
}

// waitGone waits up to 3 s for pid to exit.
func waitGone(pid int) bool {
	return sshtest.Eventually(3*time.Second, func() bool { return sshtest.ProcessGone(pid) })
}

// watchHeapPeak samples the heap in use every interval until the returned
// function is called, which stops the sampling and gives the peak seen.
func watchHeapPeak(interval time.Duration) (peak func() uint64) {
	var max atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max.Load() {
				max.Store(ms.HeapInuse)
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-sampled
		return max.Load()
	}
}

// closedPort returns a loopback port where nothing listens (it did a
// moment ago, so the kernel will not hand it out again at once).
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// raisePeak sets peak to v if v is higher, for counters of hosts in flight
// updated by many goroutines.
func raisePeak(peak *atomic.Int32, v int32) {
	for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
	}
}

// withOverrides sets ssh_config options as -O does, from pairs of key
// and value.
func withOverrides(kv ...string) func(*Options) {
	return func(o *Options) {
		for i := 0; i+1 < len(kv); i += 2 {
			o.Overrides = append(o.Overrides, [2]string{kv[i], kv[i+1]})
		}
	}
}

// authorizedKey is k as authorized_keys and known_hosts write it.
func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// writeFile writes content to path with mode, or fails the test.
func writeFile[T string | []byte](t *testing.T, path string, content T, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
