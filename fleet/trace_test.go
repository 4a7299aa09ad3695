package fleet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	p := filepath.Join(home, ".ssh", name)
	writePrivateKey(t, p, newEnv(t).priv)
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

// plainSigner is a key that signs only as Sign, with no algorithm choice.
type plainSigner struct{ ssh.Signer }

func (p plainSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	return p.Signer.Sign(r, data)
}

// The trace's key wrappers have each key's signing interfaces, no more and
// no fewer: x/crypto chooses a key's signature algorithms by them (an RSA
// key narrowed by PubkeyAcceptedAlgorithms to rsa-sha2-512 must not fall
// back to ssh-rsa under -v).
func TestTraceSignersKeepInterfaces(t *testing.T) {
	alg := rsaSigner(t, 2048)
	multi, err := ssh.NewSignerWithAlgorithms(alg.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSASHA512})
	if err != nil {
		t.Fatal(err)
	}
	tr := &dialTrace{keys: newKeyring(&Options{Home: t.TempDir()}, func(string) {}), say: func(string) {}}
	in := []ssh.Signer{multi, alg, plainSigner{alg}}
	out := tr.signers(in)
	kinds := func(s ssh.Signer) (a, m bool) {
		_, a = s.(ssh.AlgorithmSigner)
		_, m = s.(ssh.MultiAlgorithmSigner)
		return a, m
	}
	for i := range in {
		ia, im := kinds(in[i])
		oa, om := kinds(out[i])
		if ia != oa || im != om {
			t.Fatalf("signer %d: %T (algorithm %v, multi %v) came out as %T (%v, %v)", i, in[i], ia, im, out[i], oa, om)
		}
	}
	if m := out[0].(ssh.MultiAlgorithmSigner); !slices.Equal(m.Algorithms(), []string{ssh.KeyAlgoRSASHA512}) {
		t.Fatalf("algorithms %q, want only rsa-sha2-512", m.Algorithms())
	}
	if _, ok := out[2].(ssh.AlgorithmSigner); ok {
		t.Fatalf("a plain Signer came out as an AlgorithmSigner (%T)", out[2])
	}
	for i, s := range out {
		if !bytes.Equal(s.PublicKey().Marshal(), alg.PublicKey().Marshal()) {
			t.Fatalf("signer %d: another key", i)
		}
	}
	if tr := (*dialTrace)(nil); tr.signers([]ssh.Signer{alg})[0] != alg {
		t.Fatal("without a trace the keys must be left as they are")
	}
}
