package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// traceLog collects Options.Trace's lines as "host: msg".
type traceLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *traceLog) trace(host, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, host+": "+msg)
}

// want checks that the lines match the patterns, in this order (other lines
// may come between).
func (l *traceLog) want(t *testing.T, patterns ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for _, line := range l.lines {
		if i < len(patterns) && regexp.MustCompile(patterns[i]).MatchString(line) {
			i++
		}
	}
	if i < len(patterns) {
		t.Fatalf("trace lacks %q (after the earlier patterns); it said:\n%s", patterns[i], strings.Join(l.lines, "\n"))
	}
}

func (l *traceLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// writeOtherKey saves a key that no test server accepts as ~/.ssh/NAME.
func writeOtherKey(t *testing.T, home, name string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(home, ".ssh", name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runOne(t *testing.T, d *Dialer, h inventory.Host) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := Run(ctx, d, []inventory.Host{h}, RunOptions{}, func(ctx context.Context, c *Conn, r *Result) error {
		return c.Exec(ctx, &Command{Line: "true"})
	})
	return res[0]
}

// -v's trace says, per host, where ssh_config sent it, the connection and
// host key, each key offered with the host's verdict, the method that
// worked, and how the work ended: what ssh -v says, shorter.
func TestTraceKeysTriedAndOutcome(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	env.knowHost(srv)
	other := writeOtherKey(t, env.home, "id_other")
	conf := filepath.Join(env.home, ".ssh", "config")
	os.WriteFile(conf, []byte(fmt.Sprintf("Host web1\n  HostName %s\n  Port %d\n", srv.Host, srv.Port)), 0o600)
	log := &traceLog{}
	d := env.dialer(func(o *Options) {
		o.ConfigFile = conf
		o.IdentityFiles = []string{other, filepath.Join(env.home, ".ssh", "id_ed25519")}
		o.Trace = log.trace
	})
	r := runOne(t, d, inventory.Host{Name: "web1", Label: "web1"})
	if r.Outcome != OK {
		t.Fatalf("outcome %v: %v", r.Outcome, r.Err)
	}
	addr := regexp.QuoteMeta(srv.Addr)
	log.want(t,
		`^web1: resolved `+addr+` as user tester \(hostname from `+regexp.QuoteMeta(conf)+`:2, port from `+regexp.QuoteMeta(conf)+`:3\)$`,
		`^web1: connected to `+addr+` in \d+(\.\d+)?[µm]?s$`,
		`^web1: host key ssh-ed25519 SHA256:\S+ accepted \(key exchange .*\)$`,
		`^web1: auth publickey ~/\.ssh/id_other \(ssh-ed25519 SHA256:\S+\): refused$`,
		`^web1: auth publickey ~/\.ssh/id_ed25519 \(ssh-ed25519 SHA256:\S+\): accepted, signing$`,
		`^web1: auth ok \(publickey\) in `,
		`^web1: ran in \S+, exit 0$`,
	)
}

// A password login is traced without the password; a failed login says
// why, and the host's end says it was unreachable.
func TestTracePasswordAndFailure(t *testing.T) {
	env := newEnv(t)
	srv := sshtest.Start(t, sshtest.Config{Password: "s3cret-pw"})
	env.knowHost(srv)
	log := &traceLog{}
	d := env.dialer(func(o *Options) {
		o.Password = func() ([]byte, error) { return []byte("s3cret-pw"), nil }
		o.Trace = log.trace
	})
	h := hostOf(srv)
	if r := runOne(t, d, h); r.Outcome != OK {
		t.Fatalf("outcome %v: %v", r.Outcome, r.Err)
	}
	lbl := regexp.QuoteMeta(h.Label)
	log.want(t,
		`^`+lbl+`: auth publickey ~/\.ssh/id_ed25519 .*: refused$`,
		`^`+lbl+`: auth (password|keyboard-interactive): sending the password$`,
		`^`+lbl+`: auth ok \((password|keyboard-interactive)\) in `,
	)
	if strings.Contains(log.text(), "s3cret") {
		t.Fatalf("the trace holds the password:\n%s", log.text())
	}

	log2 := &traceLog{}
	d2 := env.dialer(func(o *Options) { o.Trace = log2.trace })
	if r := runOne(t, d2, h); r.Outcome != Unreachable {
		t.Fatalf("without the password: outcome %v, want unreachable", r.Outcome)
	}
	log2.want(t,
		`^`+lbl+`: auth publickey ~/\.ssh/id_ed25519 .*: refused$`,
		`^`+lbl+`: failed after \S+: .*unable to authenticate`,
		`^`+lbl+`: unreachable after \S+: `,
	)
}
