package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"

	"github.com/fleet-sh/fleet/inventory"
)

// Dialer opens SSH connections. It is built once per run: ssh_config,
// known_hosts and keys are read once and shared by every host.
type Dialer struct {
	opts      Options
	cfg       *sshConfig
	keys      *keyring
	hostKeys  *hostKeys
	slots     chan struct{} // handshakes in flight
	localUser string
	env       *tokenEnv
	warnMu    sync.Mutex

	mu        sync.Mutex
	endpoints map[string]*endpoint
	jumps     map[string]*jumpConn
	live      map[*Conn]struct{}
	closed    bool
	dials     atomic.Int64
	// running counts remote commands that run and whose kill, if they
	// got one, has not reached the host yet (see Conn.track).
	running inFlight
}

// NewDialer reads the user's SSH configuration once. It fails when an
// ssh_config file cannot be read or an -O option is not understood.
func NewDialer(o Options) (*Dialer, error) {
	if o.Home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("dialer: %w", err)
		}
		o.Home = h
	}
	d := &Dialer{opts: o, endpoints: map[string]*endpoint{}, jumps: map[string]*jumpConn{}, live: map[*Conn]struct{}{}}
	d.localUser = o.LocalUser
	if d.localUser == "" {
		if u, err := user.Current(); err == nil {
			d.localUser = u.Username
		}
	}
	cfg, err := loadSSHConfig(o.ConfigFile, o.Home, o.Overrides, o.ExtraOverrides, d.warn)
	if err != nil {
		return nil, err
	}
	d.cfg = cfg
	d.env = newTokenEnv(o.Home, d.localUser)
	n := o.MaxHandshakes
	if n <= 0 {
		n = 128
	}
	d.slots = make(chan struct{}, n)
	d.keys = newKeyring(&d.opts, d.warn)
	d.hostKeys = newHostKeys(d.warn)
	return d, nil
}

func (d *Dialer) warn(msg string) {
	if d.opts.Warn == nil {
		return
	}
	d.warnMu.Lock()
	defer d.warnMu.Unlock()
	fmt.Fprintf(d.opts.Warn, "fleet: warning: %s\n", msg)
}

// Prepare resolves every host's settings and loads every key before the run
// starts, so that configuration errors stop the run early and passphrases
// are asked before any progress is drawn: once per encrypted key file, for
// all hosts.
func (d *Dialer) Prepare(hosts []inventory.Host) error {
	n := d.opts.Parallel
	if n <= 0 {
		n = 32
	}
	if err := d.resolveAll(hosts, n); err != nil {
		return err
	}
	type creds struct {
		files, certs, agent string
		only                bool
	}
	listed := map[creds]bool{}
	noAgentSaid := false
	for _, h := range hosts {
		e, err := d.endpoint(h)
		if err != nil {
			return err
		}
		if _, err := d.hostKeys.db(e); err != nil {
			return err
		}
		// Listing the signers loads (and decrypts) the keys; hosts with
		// the same credentials share the answer, so 5,000 hosts cost one.
		// The jump hosts' keys too: their passphrases must not be asked
		// under the progress bar either.
		eps := []*endpoint{e}
		if e.proxyJump != "" {
			for _, hop := range strings.Split(e.proxyJump, ",") {
				hh, err := jumpHost(hop)
				if err != nil {
					continue // dialChain reports it for the hosts behind it
				}
				if je, err := d.endpoint(hh); err == nil {
					eps = append(eps, je)
				}
			}
		}
		for _, e := range eps {
			k := creds{strings.Join(e.identityFiles, "\x00"), strings.Join(e.certificateFiles, "\x00"), d.keys.agentSocket(e), e.identitiesOnly}
			if !listed[k] {
				listed[k] = true
				d.keys.signers(e, 0)
			}
		}
		if e.forwardAgent != "" && d.forwardSocket(e) == "" && !noAgentSaid {
			noAgentSaid = true
			d.warn(fmt.Sprintf("ForwardAgent is on for %s, but there is no agent to forward (IdentityAgent none, or SSH_AUTH_SOCK unset)", e.alias))
		}
	}
	return nil
}

// User returns the user that h logs in as, after ssh_config.
func (d *Dialer) User(h inventory.Host) string {
	if e, err := d.endpoint(h); err == nil {
		return e.user
	}
	return h.User
}

// Effective returns h with the user and port it is reached with filled in
// (from -l, -O, ssh_config), so that a host file written from it reaches the
// same account again. The name and the label stay as written: ssh_config
// maps the name again next time.
func (d *Dialer) Effective(h inventory.Host) inventory.Host {
	e, err := d.endpoint(h)
	if err != nil {
		return h
	}
	h.User = e.user
	if h.Port != 0 || e.port != 22 { // -O Port beats the host list's
		h.Port = e.port
	}
	return h
}

func hostKey(h inventory.Host) string { return h.User + "@" + h.Name + ":" + fmt.Sprint(h.Port) }

func (d *Dialer) endpoint(h inventory.Host) (*endpoint, error) {
	if h.Refused != nil {
		// Its inventory asks for a way of reaching it that fleet does not
		// have (ansible_connection=local, ...): never reach it by ssh.
		return nil, h.Refused
	}
	k := hostKey(h)
	d.mu.Lock()
	e, ok := d.endpoints[k]
	d.mu.Unlock()
	if ok {
		return e, nil
	}
	// Resolved outside the lock: a Match exec runs a command, and hosts
	// resolve in parallel (Prepare). Two racing resolutions of one host
	// give the same answer; the first stored is kept.
	e, err := d.cfg.resolveCtx(context.Background(), h, &d.opts, d.env)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.endpoints[k]; ok {
		return old, nil
	}
	d.endpoints[k] = e
	return e, nil
}

// resolveAll resolves the distinct hosts with at most n at once, when
// resolving runs commands (Match exec); otherwise it is cheap and Prepare
// does it in order.
func (d *Dialer) resolveAll(hosts []inventory.Host, n int) error {
	if !d.cfg.hasExec || n <= 1 {
		return nil
	}
	seen := map[string]bool{}
	var g errgroup.Group
	g.SetLimit(n)
	for _, h := range hosts {
		if k := hostKey(h); !seen[k] {
			seen[k] = true
			g.Go(func() error { _, err := d.endpoint(h); return err })
		}
	}
	return g.Wait()
}

// Dial connects to h and authenticates. The connect timeout bounds TCP,
// handshake and authentication together. A connection reset before
// authentication (sshd's MaxStartups) is retried with backoff; failures of
// authentication and host keys never are.
func (d *Dialer) Dial(ctx context.Context, h inventory.Host) (*Conn, error) {
	return d.dial(ctx, h, false)
}

// reserveSlot waits for a handshake slot on behalf of a Dial not started
// yet, which then takes it over (dial with reserved set). Run waits for
// the slot before it starts the host's goroutine at all: at -p 1000 most of
// the window would otherwise be goroutines parked in handshake, holding a
// stack and a prepared client configuration each, waiting for one of the
// MaxHandshakes slots.
func (d *Dialer) reserveSlot(ctx context.Context) error {
	select {
	case d.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// releaseSlot gives back a slot reserved and not used.
func (d *Dialer) releaseSlot() { <-d.slots }

// dial is Dial; with reserved, the caller holds a handshake slot (see
// reserveSlot), which the first attempt uses and which is given back in
// any case.
func (d *Dialer) dial(ctx context.Context, h inventory.Host, reserved bool) (*Conn, error) {
	defer func() {
		if reserved {
			d.releaseSlot()
		}
	}()
	e, err := d.endpoint(h)
	if err != nil {
		return nil, err
	}
	tr := d.newTrace(h, e) // nil unless Options.Trace (-v)
	slot := int(d.dials.Add(1))
	var via ctxDialer = &net.Dialer{}
	if e.proxyJump != "" {
		if via, err = d.jump(ctx, e.proxyJump); err != nil {
			return nil, err
		}
	} else if e.proxyCommand != "" {
		via = newProxyDialer(e, dialNote(ctx))
	}
	via = tr.dialer(via)
	cfg, changed := d.clientConfig(e, slot, tr)
	retries := d.opts.Retries
	if retries == 0 {
		retries = 2
	}
	var client *ssh.Client
	for attempt := 0; ; attempt++ {
		client, err = d.handshake(ctx, via, e, cfg, reserved)
		reserved = false // handshake gave it back
		if err == nil || attempt >= retries || !transient(err) || ctx.Err() != nil {
			break
		}
		backoff := time.Duration(100<<attempt)*time.Millisecond + rand.N(100*time.Millisecond)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	tr.done(err)
	if err != nil {
		return nil, err
	}
	c := newConn(client, h, e)
	c.dialer = d
	if sock := d.forwardSocket(e); sock != "" && !changed.Load() {
		if err := c.forwardAgent(sock); err != nil {
			client.Close()
			return nil, err
		}
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		client.Close()
		return nil, &Error{Kind: ErrCancelled, Reason: "interrupted"}
	}
	d.live[c] = struct{}{}
	d.mu.Unlock()
	c.onClose = func() { d.mu.Lock(); delete(d.live, c); d.mu.Unlock() }
	return c, nil
}

// clientConfig is the client configuration for e, with the agent
// connection of slot; tr, when not nil, is told of the host key and each
// credential tried. changed is set by the host-key check when a CHANGED key
// is accepted under StrictHostKeyChecking=no: no password, no agent for
// that host.
func (d *Dialer) clientConfig(e *endpoint, slot int, tr *dialTrace) (cfg *ssh.ClientConfig, changed *atomic.Bool) {
	changed = &atomic.Bool{}
	return &ssh.ClientConfig{
		User:              e.user,
		Auth:              d.keys.methods(e, slot, changed, tr),
		HostKeyCallback:   tr.hostKey(d.hostKeys.callback(e, func() { changed.Store(true) })),
		HostKeyAlgorithms: d.hostKeys.algorithms(e),
		ClientVersion:     "SSH-2.0-fleet",
		Config:            ssh.Config{KeyExchanges: e.kex, Ciphers: e.ciphers, MACs: e.macs},
	}, changed
}

// handshake runs one bounded connection attempt, waiting for a handshake slot
// first unless the caller reserved one: the wait does not count against the
// connect timeout. The slot is given back when the attempt ends.
func (d *Dialer) handshake(ctx context.Context, via ctxDialer, e *endpoint, cfg *ssh.ClientConfig, reserved bool) (*ssh.Client, error) {
	if !reserved {
		if err := d.reserveSlot(ctx); err != nil {
			return nil, err
		}
	}
	defer d.releaseSlot()
	client, err := dialSSH(ctx, via, e.addr(), cfg, e.connectTimeout)
	if errors.Is(err, errConnectTimeout) {
		return nil, &Error{Kind: ErrUnreachable, Reason: fmt.Sprintf("no answer within %s (--connect-timeout)", e.connectTimeout), Err: err}
	}
	if p, ok := via.(*proxyDialer); ok && err != nil && ctx.Err() == nil {
		err = p.failure(err)
	}
	return client, err
}

// transient reports whether a failed handshake is worth another try.
func transient(err error) bool {
	var fe *Error
	if errors.As(err, &fe) {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

var errConnectTimeout = errors.New("connect timeout")

// ctxDialer is a net.Dialer, for ProxyJump an *ssh.Client, for
// ProxyCommand a *proxyDialer.
type ctxDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialSSH bounds connect, version exchange, key exchange and authentication
// with one deadline. ssh.ClientConfig.Timeout covers only the TCP connect,
// and channel connections through a jump host reject deadlines, so the
// connection is closed when the time is up.
func dialSSH(ctx context.Context, via ctxDialer, addr string, cfg *ssh.ClientConfig, limit time.Duration) (*ssh.Client, error) {
	lctx, cancel := context.WithTimeoutCause(ctx, limit, errConnectTimeout)
	defer cancel()
	conn, err := via.DialContext(lctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil && lctx.Err() != nil {
			return nil, errConnectTimeout
		}
		return nil, err
	}
	stop := context.AfterFunc(lctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errConnectTimeout
	}
	if err != nil {
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// CloseAll closes every open connection at once; running commands then fail
// fast. It is the second Ctrl-C. It first waits, until ctx is done, for
// the running commands to end or their kills to reach the hosts: a second
// Ctrl-C right after the first must not cut the connections before the
// kills of the first reached the hosts, or the commands would run on.
// Later Dials fail as cancelled.
func (d *Dialer) CloseAll(ctx context.Context) {
	_ = d.running.wait(ctx)
	d.mu.Lock()
	d.closed = true
	conns := slices.Collect(maps.Keys(d.live))
	d.mu.Unlock()
	for _, c := range conns {
		c.client.Close()
	}
}

// Close releases what the dialer holds: jump-host connections and the
// agent connections.
func (d *Dialer) Close() error {
	d.mu.Lock()
	jumps := d.jumps
	d.jumps = map[string]*jumpConn{}
	d.mu.Unlock()
	for _, j := range jumps {
		if j.client != nil {
			j.client.Close()
		}
	}
	d.keys.close()
	return nil
}

// jumpConn is one connection to a jump host shared by every host behind it:
// a connection per target would trip the bastion's MaxStartups.
type jumpConn struct {
	once   sync.Once
	client *ssh.Client
	err    error
}

// jump returns the shared client for a ProxyJump spec ("a,b" chains hops).
func (d *Dialer) jump(ctx context.Context, spec string) (ctxDialer, error) {
	d.mu.Lock()
	j, ok := d.jumps[spec]
	if !ok {
		j = &jumpConn{}
		d.jumps[spec] = j
	}
	d.mu.Unlock()
	j.once.Do(func() { j.client, j.err = d.dialChain(context.WithoutCancel(ctx), spec) })
	if j.err != nil {
		return nil, j.err
	}
	return j.client, nil
}

// jumpError says which hop of a ProxyJump chain failed and how, once: the
// reason names the hop with the hop's own kind ("jump host bastion:22:
// authentication failed: refused publickey") and keeps its hint, but the
// target's kind is unreachable, whatever befell the hop. Underneath is the
// hop's raw error, not its classified one: errors.Is must not find the
// hop's kind (a timeout or an authentication failure at the bastion is not
// the target's).
func jumpError(hop string, err error) error {
	var fe *Error
	if !errors.As(err, &fe) {
		return &Error{Kind: ErrUnreachable, Reason: "jump host " + hop + ": " + err.Error(), Err: err}
	}
	what := fe.Error()
	if fe.Kind == ErrUnreachable && fe.Reason != "" {
		what = fe.Reason // "unreachable: jump host h: unreachable: ..." says it twice
	}
	return &Error{Kind: ErrUnreachable, Reason: "jump host " + hop + ": " + what, Hint: fe.Hint, Err: fe.Err}
}

// jumpHost reads one hop of a ProxyJump spec: [user@]host[:port], with
// an optional ssh:// in front.
func jumpHost(hop string) (inventory.Host, error) {
	hs, err := inventory.ParseArgs(strings.TrimPrefix(strings.TrimSpace(hop), "ssh://"), "ProxyJump")
	if err == nil && len(hs) != 1 {
		err = fmt.Errorf("%d hosts in one hop", len(hs))
	}
	if err != nil {
		return inventory.Host{}, err
	}
	return hs[0], nil
}

// dialChain dials each hop of a ProxyJump spec through the one before it.
// When a hop fails, the hops before it are closed: nothing else would ever
// close them, since the failed chain is never stored.
func (d *Dialer) dialChain(ctx context.Context, spec string) (_ *ssh.Client, err error) {
	var via ctxDialer = &net.Dialer{}
	var client *ssh.Client
	var prev string // the hop before, as named in errors
	defer func() {
		if err != nil && client != nil {
			client.Close()
		}
	}()
	for i, hop := range strings.Split(spec, ",") {
		hh, err := jumpHost(hop)
		if err != nil {
			return nil, &Error{Kind: ErrUnreachable, Reason: fmt.Sprintf("invalid ProxyJump %q", hop), Err: err}
		}
		e, err := d.endpoint(hh)
		if err != nil {
			return nil, jumpError(hop, err)
		}
		cfg, _ := d.clientConfig(e, 0, nil)
		// ssh runs the first hop as its own `ssh -W`, which honours that
		// hop's ProxyCommand; later hops are reached through the one
		// before, whatever their config says.
		if i == 0 && e.proxyCommand != "" {
			via = newProxyDialer(e, nil)
		}
		next, err := dialSSH(ctx, via, e.addr(), cfg, e.connectTimeout)
		if p, ok := via.(*proxyDialer); ok && err != nil && ctx.Err() == nil && !errors.Is(err, errConnectTimeout) {
			err = p.failure(err)
		}
		label := net.JoinHostPort(hh.Name, strconv.Itoa(e.port))
		var open *ssh.OpenChannelError
		if err != nil && i > 0 && errors.As(err, &open) {
			// The hop before refused the forwarding, not this hop its
			// login: say who refused.
			err = &Error{Kind: ErrUnreachable, Reason: fmt.Sprintf("%s refused to forward to it: %s", prev, open.Message), Err: err}
		}
		if err != nil {
			return nil, jumpError(label, classifyDial(ctx, err))
		}
		client, via, prev = next, next, label
	}
	return client, nil
}
