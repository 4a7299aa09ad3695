package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyring holds every credential of the run, loaded once: the keys of each
// agent socket in use (listed once, signed through a small pool of agent
// connections, since one agent connection serialises hundreds of
// signatures), parsed key files (each asked for its passphrase at most
// once) and certificates.
type keyring struct {
	opts *Options
	warn func(string)

	mu     sync.Mutex
	agents map[string]*agentPool // by socket path
	files  map[string]*keyFile
	certs  map[string]*certFile

	skipped map[string]bool // keys said to be skipped (acceptedSigner), once each

	pwOnce sync.Once
	pw     []byte
	pwErr  error
}

// agentPool is the connections to one agent socket, all listing the same
// keys.
type agentPool struct {
	signers [][]ssh.Signer // per pooled connection
	conns   []net.Conn
}

type keyFile struct {
	path    string
	pem     []byte     // kept while the key is encrypted and not yet decrypted
	once    sync.Once  // the passphrase is asked at most once per file
	signer  ssh.Signer // nil until decrypted, or when unusable
	pub     ssh.PublicKey
	missing bool // the file does not exist or cannot be read
}

// agentPoolSize balances the agent's signing throughput against its file
// descriptors; herd found one connection too few at a few hundred hosts.
const agentPoolSize = 8

func newKeyring(o *Options, warn func(string)) *keyring {
	return &keyring{opts: o, warn: warn, agents: map[string]*agentPool{},
		files: map[string]*keyFile{}, certs: map[string]*certFile{}, skipped: map[string]bool{}}
}

// skip says once per run that the key id (its wire form) is not offered.
func (k *keyring) skip(id, why string) {
	k.mu.Lock()
	done := k.skipped[id+why]
	k.skipped[id+why] = true
	k.mu.Unlock()
	if done {
		return
	}
	pub, err := ssh.ParsePublicKey([]byte(id))
	if err != nil {
		return
	}
	k.warn(fmt.Sprintf("key %s %s not offered: %s", pub.Type(), ssh.FingerprintSHA256(pub), why))
}

// agentSocket is the agent e uses: IdentityAgent when set ("none" = no
// agent, "SSH_AUTH_SOCK" or "$VAR" = that variable's socket), else
// $SSH_AUTH_SOCK, as ssh.
func (k *keyring) agentSocket(e *endpoint) string {
	if k.opts.NoAgent {
		return ""
	}
	switch e.identityAgent {
	case "", "SSH_AUTH_SOCK":
		return os.Getenv("SSH_AUTH_SOCK")
	case "none":
		return ""
	}
	if strings.HasPrefix(e.identityAgent, "$") {
		return os.Getenv(e.identityAgent[1:]) // ssh reads "$VAR" as that variable
	}
	return e.identityAgent
}

// agent returns the pool for sock, connecting on first use; nil when there
// is no agent or it cannot be reached (said once).
func (k *keyring) agent(sock string) *agentPool {
	if sock == "" {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.agents[sock]; ok {
		return p
	}
	p := &agentPool{}
	for i := 0; i < agentPoolSize; i++ {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			if i == 0 {
				k.warn(fmt.Sprintf("ssh-agent at %s not usable: %v", sock, err))
			}
			break
		}
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			conn.Close()
			break
		}
		p.conns = append(p.conns, conn)
		p.signers = append(p.signers, signers)
	}
	if len(p.conns) == 0 {
		p = nil
	}
	k.agents[sock] = p
	return p
}

// keys returns the pool's signers for one connection slot.
func (p *agentPool) keys(slot int) []ssh.Signer {
	if p == nil || len(p.signers) == 0 {
		return nil
	}
	return p.signers[slot%len(p.signers)]
}

func (k *keyring) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.agents {
		if p == nil {
			continue
		}
		for _, c := range p.conns {
			c.Close()
		}
	}
}

// password returns the -A password, asked once.
func (k *keyring) password() ([]byte, error) {
	k.pwOnce.Do(func() {
		if k.opts.Password != nil {
			k.pw, k.pwErr = k.opts.Password()
		}
	})
	return k.pw, k.pwErr
}

// holds returns the agent's signer for pub, nil when the agent lacks it.
func holds(agentKeys []ssh.Signer, pub ssh.PublicKey) ssh.Signer {
	if pub == nil {
		return nil
	}
	for _, s := range agentKeys {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s
		}
	}
	return nil
}

// load parses a key file once. A missing default key is not an error. An
// encrypted key is only remembered here; unlock decrypts it when no agent
// holds it, as ssh does.
func (k *keyring) load(path string, explicit bool) *keyFile {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kf, ok := k.files[path]; ok {
		return kf
	}
	kf := &keyFile{path: path}
	k.files[path] = kf
	pem, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// Only the public half (the private key lives in the agent or a
		// token): ssh reads <key>.pub to pick the agent's key, and the
		// certificate beside it.
		if b, perr := os.ReadFile(path + ".pub"); perr == nil {
			if pub, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
				kf.pub = pub
				kf.once.Do(func() {})
				return kf
			}
		}
	}
	if err != nil {
		kf.missing = true
		if explicit || !errors.Is(err, os.ErrNotExist) {
			k.warn(fmt.Sprintf("identity %s: %v", path, err))
		}
		return kf
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		kf.signer, kf.pub = signer, signer.PublicKey()
		kf.once.Do(func() {})
	case errors.As(err, &missing):
		kf.pub, kf.pem = missing.PublicKey, pem
	default:
		k.warn(fmt.Sprintf("identity %s: %v", path, err))
		kf.once.Do(func() {})
	}
	return kf
}

// unlock returns the file's signer, decrypting an encrypted key on first
// need: the passphrase is asked once per file for the whole run.
func (k *keyring) unlock(kf *keyFile) ssh.Signer {
	kf.once.Do(func() {
		kf.signer = k.decrypt(kf.path, kf.pem)
		kf.pem = nil
	})
	return kf.signer
}

// decrypt tries the -A password first (pssh uses it for passphrases too),
// then asks for the key's own passphrase.
func (k *keyring) decrypt(path string, pem []byte) ssh.Signer {
	if pw, err := k.password(); err == nil && len(pw) > 0 {
		if s, err := ssh.ParsePrivateKeyWithPassphrase(pem, pw); err == nil {
			return s
		}
	}
	if k.opts.Passphrase == nil {
		k.warn(fmt.Sprintf("identity %s is encrypted and no passphrase can be asked (no terminal); load it into ssh-agent or use -A", path))
		return nil
	}
	pass, err := k.opts.Passphrase(path)
	if err != nil {
		k.warn(fmt.Sprintf("identity %s: %v", path, err))
		return nil
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	clear(pass)
	if err != nil {
		k.warn(fmt.Sprintf("identity %s skipped: %v", path, err))
		return nil
	}
	return s
}

// passwordGuarded ends authentication where the password would have been
// sent to a host whose key changed.
func passwordGuarded() error {
	return &Error{Kind: ErrAuth,
		Reason: "the host key CHANGED, so password and keyboard-interactive authentication are disabled (to avoid man-in-the-middle attacks) and no key was accepted",
		Hint:   "check the new host key out of band and fix known_hosts; StrictHostKeyChecking=no never sends a password to a changed key"}
}

// defaultKeys are OpenSSH's default identity files, in its order.
var defaultKeys = []string{"id_rsa", "id_ecdsa", "id_ed25519"}

// signers lists the keys to offer e, in OpenSSH's order, at most
// maxKeysOffered so that sshd's MaxAuthTries is never exceeded: the
// CertificateFile certificates (signed by the identity or agent key they
// certify), then the explicit identities (through the agent when it holds
// them), each followed by its <key>-cert.pub when no CertificateFile is set
// (ssh 9.2's `ssh -v` shows this order), then the agent's other keys
// unless IdentitiesOnly, then the default key files when nothing was named.
func (k *keyring) signers(e *endpoint, slot int) []ssh.Signer {
	agentKeys := k.agent(k.agentSocket(e)).keys(slot)
	var out []ssh.Signer
	seen := map[string]bool{}
	add := func(s ssh.Signer) {
		if s == nil || len(out) >= maxKeysOffered {
			return
		}
		id := string(s.PublicKey().Marshal())
		if seen[id] {
			return
		}
		s, why := acceptedSigner(e, s)
		if s == nil {
			k.skip(id, why)
			return
		}
		seen[id] = true
		out = append(out, s)
	}
	signerOf := func(kf *keyFile) ssh.Signer {
		if s := holds(agentKeys, kf.pub); s != nil {
			return s
		}
		if kf.pub == nil {
			return nil
		}
		return k.unlock(kf)
	}
	var files []*keyFile
	for _, f := range e.identityFiles {
		files = append(files, k.load(f, true))
	}
	if len(e.identityFiles) == 0 {
		for _, name := range defaultKeys {
			files = append(files, k.load(filepath.Join(k.opts.Home, ".ssh", name), false))
		}
	}
	// A certificate is signed by whichever key it certifies: a file's, or
	// the agent's (ssh uses CertificateFile with an agent key that way).
	keyFor := func(pub ssh.PublicKey) ssh.Signer {
		if s := holds(agentKeys, pub); s != nil {
			return s
		}
		for _, kf := range files {
			if kf.pub != nil && bytes.Equal(kf.pub.Marshal(), pub.Marshal()) {
				return signerOf(kf)
			}
		}
		return nil
	}
	for _, f := range e.certificateFiles {
		if c := k.cert(f, true); c != nil {
			if s := keyFor(c.cert.Key); s != nil {
				add(k.certSigner(c, s))
			} else {
				k.warnOnce(c, fmt.Sprintf("certificate %s skipped: no identity or agent key matches it", f))
			}
		}
	}
	plain := func(kf *keyFile) {
		if kf.missing {
			return
		}
		s := signerOf(kf)
		add(s)
		// ssh adds <key>-cert.pub only when no CertificateFile is set.
		if len(e.certificateFiles) > 0 || s == nil {
			return
		}
		if c := k.cert(kf.path+"-cert.pub", false); c != nil {
			add(k.certSigner(c, s))
		}
	}
	n := len(e.identityFiles)
	for _, kf := range files[:n] {
		plain(kf)
	}
	if !e.identitiesOnly {
		for _, s := range agentKeys {
			add(s)
		}
	}
	for _, kf := range files[n:] {
		plain(kf)
	}
	return out
}

// methods returns the auth methods for e: public keys, then the password.
// Once guard is set (the host key CHANGED and was accepted anyway, which
// happens before authentication starts), the password is never given: the
// attempt ends with an authentication error instead.
// tr, when not nil, is told of each key and password tried.
func (k *keyring) methods(e *endpoint, slot int, guard *atomic.Bool, tr *dialTrace) []ssh.AuthMethod {
	var m []ssh.AuthMethod
	if s := tr.signers(k.signers(e, slot)); len(s) > 0 {
		m = append(m, ssh.PublicKeys(s...))
	}
	if e.password {
		pw := func() (string, error) {
			if guard != nil && guard.Load() {
				return "", passwordGuarded()
			}
			p, err := k.password()
			return string(p), err
		}
		m = append(m, ssh.PasswordCallback(func() (string, error) { tr.tried("password"); return pw() }),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						tr.tried("keyboard-interactive")
						p, err := pw()
						if err != nil {
							return nil, err
						}
						answers[i] = p
					}
				}
				return answers, nil
			}))
	}
	return m
}
