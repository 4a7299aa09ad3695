package fleet

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/inventory"
)

// dialTrace tells Options.Trace what one Dial does, as ssh -v does: how
// the host resolved, the TCP connection, the host key, each key and
// password tried, and how it ended, with timings. A nil *dialTrace (no
// Trace set) does nothing and wraps nothing, so the untraced dial path is
// the one it always was.
type dialTrace struct {
	say  func(msg string)
	keys *keyring

	mu      sync.Mutex
	start   time.Time // of the dial
	mark    time.Time // the host key was checked: authentication starts
	pending string    // the key offered last, not yet accepted or refused
	method  string    // the authentication method tried last
	noTCP   bool      // the TCP connect failed, and said so
}

// newTrace starts tracing a dial of h, or returns nil when tracing is off.
func (d *Dialer) newTrace(h inventory.Host, e *endpoint) *dialTrace {
	if d.opts.Trace == nil {
		return nil
	}
	label := traceLabel(h)
	t := &dialTrace{keys: d.keys, start: time.Now(), say: func(msg string) { d.opts.Trace(label, msg) }}
	switch {
	case e.proxyJump != "":
		t.sayf("through ProxyJump %s", e.proxyJump)
	case e.proxyCommand != "":
		t.sayf("through ProxyCommand %s", e.proxyCommand)
	}
	return t
}

// traceResolved says where ssh_config sends h, with the file and line of
// each value it set. Run says it before it fills in the host's user and
// port (Effective), which would hide where they came from.
func (d *Dialer) traceResolved(h inventory.Host) {
	if d.opts.Trace == nil {
		return
	}
	e, err := d.endpoint(h)
	if err != nil {
		return // the dial fails with that error and the trace says so
	}
	var from []string
	for _, k := range []string{"hostname", "port", "user"} {
		if v := e.settings.vals[k]; len(v) > 0 {
			from = append(from, fmt.Sprintf("%s from %s", k, v[0].pos))
		}
	}
	how := ""
	if len(from) > 0 {
		how = " (" + strings.Join(from, ", ") + ")"
	}
	d.opts.Trace(traceLabel(h), fmt.Sprintf("resolved %s as user %s%s", e.addr(), e.user, how))
}

func traceLabel(h inventory.Host) string {
	if h.Label != "" {
		return h.Label
	}
	return h.String()
}

// traceDone says how a host's work ended, once Run has its result.
func (d *Dialer) traceDone(r *Result) {
	if d.opts.Trace == nil {
		return
	}
	label := traceLabel(r.Host)
	took := ms(r.End.Sub(r.Start))
	switch {
	case r.Outcome == OK || r.Outcome == Failed && r.ExitCode >= 0:
		d.opts.Trace(label, fmt.Sprintf("ran in %s, exit %d", took, r.ExitCode))
	default:
		d.opts.Trace(label, fmt.Sprintf("%s after %s: %s", r.Outcome, took, r.Reason()))
	}
}

func (t *dialTrace) sayf(format string, args ...any) { t.say(fmt.Sprintf(format, args...)) }

// ms rounds a duration for the trace: 0.3ms, 12ms, 1.2s.
func ms(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// dialer wraps via to time the TCP connection. A ProxyCommand is left as
// it is: handshake asks it for its stderr on failure, and its "connection"
// is a process starting, not a TCP connect.
func (t *dialTrace) dialer(via ctxDialer) ctxDialer {
	if _, proxy := via.(*proxyDialer); t == nil || proxy {
		return via
	}
	return &tracedDialer{via: via, t: t}
}

type tracedDialer struct {
	via ctxDialer
	t   *dialTrace
}

func (td *tracedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	start := time.Now()
	c, err := td.via.DialContext(ctx, network, addr)
	if err != nil {
		td.t.sayf("connect to %s failed after %s: %v", addr, ms(time.Since(start)), err)
		td.t.mu.Lock()
		td.t.noTCP = true
		td.t.mu.Unlock()
		return nil, err
	}
	peer := ""
	if ra := c.RemoteAddr(); ra != nil && ra.String() != addr {
		peer = " (" + ra.String() + ")"
	}
	td.t.sayf("connected to %s%s in %s", addr, peer, ms(time.Since(start)))
	td.t.mu.Lock()
	td.t.start = time.Now() // the handshake is timed from here
	td.t.mu.Unlock()
	return c, nil
}

// hostKey wraps the host-key check to say the key and its verdict.
func (t *dialTrace) hostKey(check ssh.HostKeyCallback) ssh.HostKeyCallback {
	if t == nil {
		return check
	}
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := check(host, remote, key)
		t.mu.Lock()
		took := time.Since(t.start)
		t.mark = time.Now()
		t.mu.Unlock()
		verdict := "accepted"
		if err != nil {
			verdict = "refused: " + err.Error()
		}
		t.sayf("host key %s %s %s (key exchange %s)", key.Type(), ssh.FingerprintSHA256(key), verdict, ms(took))
		return err
	}
}

// signers wraps each key so that the trace sees it offered (x/crypto asks
// its public key before each offer) and accepted (it signs only once the
// host accepted the key). Each wrapper has the same signing interfaces as
// the key it wraps, so x/crypto picks the same algorithms.
func (t *dialTrace) signers(in []ssh.Signer) []ssh.Signer {
	if t == nil {
		return in
	}
	out := make([]ssh.Signer, len(in))
	for i, s := range in {
		b := tracedSigner{Signer: s, t: t, name: t.keys.describe(s.PublicKey())}
		switch s := s.(type) {
		case ssh.MultiAlgorithmSigner:
			out[i] = &tracedMultiSigner{tracedAlgSigner{b, s}, s}
		case ssh.AlgorithmSigner:
			out[i] = &tracedAlgSigner{b, s}
		default:
			out[i] = &b
		}
	}
	return out
}

type tracedSigner struct {
	ssh.Signer
	t    *dialTrace
	name string
}

func (s *tracedSigner) PublicKey() ssh.PublicKey {
	s.t.offer(s.name)
	return s.Signer.PublicKey()
}

func (s *tracedSigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	s.t.accepted(s.name)
	return s.Signer.Sign(rand, data)
}

type tracedAlgSigner struct {
	tracedSigner
	as ssh.AlgorithmSigner
}

func (s *tracedAlgSigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s.t.accepted(s.name)
	return s.as.SignWithAlgorithm(rand, data, algorithm)
}

type tracedMultiSigner struct {
	tracedAlgSigner
	ms ssh.MultiAlgorithmSigner
}

func (s *tracedMultiSigner) Algorithms() []string { return s.ms.Algorithms() }

// offer notes that name is offered; the key offered before it, if the host
// did not accept it, was refused.
func (t *dialTrace) offer(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.method = "publickey"
	if t.pending == name {
		return
	}
	t.refusedLocked()
	t.pending = name
}

func (t *dialTrace) accepted(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == name {
		t.pending = ""
		t.sayf("auth publickey %s: accepted, signing", name)
	}
}

func (t *dialTrace) refusedLocked() {
	if t.pending != "" {
		t.sayf("auth publickey %s: refused", t.pending)
		t.pending = ""
	}
}

// tried notes a password or keyboard-interactive answer being sent.
func (t *dialTrace) tried(method string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refusedLocked()
	t.method = method
	t.sayf("auth %s: sending the password", method)
}

// done says how the handshake ended: its method and time, or its error.
func (t *dialTrace) done(err error) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	since := cmp.Or(t.mark, t.start)
	if err != nil {
		t.refusedLocked()
		if !t.noTCP {
			t.sayf("failed after %s: %v", ms(time.Since(since)), err)
		}
		return
	}
	t.sayf("auth ok (%s) in %s", cmp.Or(t.method, "none"), ms(time.Since(since)))
}

// describe names a key for the trace as ssh -v does: its file (~ for the
// home folder) when fleet read it from one, and its type and fingerprint.
func (k *keyring) describe(pub ssh.PublicKey) string {
	fp := pub.Type() + " " + ssh.FingerprintSHA256(pub)
	wire := pub.Marshal()
	k.mu.Lock()
	defer k.mu.Unlock()
	file := ""
	if c, ok := pub.(*ssh.Certificate); ok {
		for p, cf := range k.certs {
			if cf.cert != nil && bytes.Equal(cf.cert.Marshal(), c.Marshal()) {
				file = p
			}
		}
	}
	for p, kf := range k.files {
		if file == "" && kf.pub != nil && bytes.Equal(kf.pub.Marshal(), wire) {
			file = p
		}
	}
	if file == "" {
		return "agent key " + fp
	}
	if rel, err := filepath.Rel(k.opts.Home, file); err == nil && !strings.HasPrefix(rel, "..") {
		file = "~/" + filepath.ToSlash(rel)
	}
	return file + " (" + fp + ")"
}
