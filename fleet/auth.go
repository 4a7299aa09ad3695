package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyring holds every credential of the run, loaded once: the agent's keys
// (listed once, signed through a small pool of agent connections, since one
// agent connection serialises hundreds of signatures) and parsed key files
// (each asked for its passphrase at most once).
type keyring struct {
	opts *Options
	warn func(string)

	agentSigners [][]ssh.Signer // per pooled agent connection, the same keys
	agentConns   []net.Conn

	mu    sync.Mutex
	files map[string]*keyFile

	pwOnce sync.Once
	pw     []byte
	pwErr  error
}

type keyFile struct {
	signer ssh.Signer // nil when the file is covered by the agent or unusable
	pub    ssh.PublicKey
}

// agentPoolSize balances the agent's signing throughput against its file
// descriptors; herd found one connection too few at a few hundred hosts.
const agentPoolSize = 8

func newKeyring(o *Options, warn func(string)) *keyring {
	k := &keyring{opts: o, warn: warn, files: map[string]*keyFile{}}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if o.NoAgent || sock == "" {
		return k
	}
	for i := 0; i < agentPoolSize; i++ {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			if i == 0 {
				warn(fmt.Sprintf("ssh-agent at SSH_AUTH_SOCK not usable: %v", err))
			}
			break
		}
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			conn.Close()
			break
		}
		k.agentConns = append(k.agentConns, conn)
		k.agentSigners = append(k.agentSigners, signers)
	}
	return k
}

func (k *keyring) close() {
	for _, c := range k.agentConns {
		c.Close()
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

// inAgent reports whether the agent holds pub.
func (k *keyring) inAgent(pub ssh.PublicKey) bool {
	if len(k.agentSigners) == 0 || pub == nil {
		return false
	}
	for _, s := range k.agentSigners[0] {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return true
		}
	}
	return false
}

// load parses a key file once. A missing default key is not an error; an
// encrypted key the agent already holds is left to the agent, as ssh does.
func (k *keyring) load(path string, explicit bool) *keyFile {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kf, ok := k.files[path]; ok {
		return kf
	}
	kf := &keyFile{}
	k.files[path] = kf
	pem, err := os.ReadFile(path)
	if err != nil {
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
	case errors.As(err, &missing):
		kf.pub = missing.PublicKey
		if k.inAgent(kf.pub) {
			return kf
		}
		kf.signer = k.decrypt(path, pem)
	default:
		k.warn(fmt.Sprintf("identity %s: %v", path, err))
	}
	return kf
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
		k.warn(fmt.Sprintf("identity %s is encrypted and no passphrase can be asked; load it into ssh-agent or use -A", path))
		return nil
	}
	pass, err := k.opts.Passphrase(path)
	if err != nil {
		k.warn(fmt.Sprintf("identity %s: %v", path, err))
		return nil
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	if err != nil {
		k.warn(fmt.Sprintf("identity %s: %v", path, err))
		return nil
	}
	return s
}

// defaultKeys are OpenSSH's default identity files, in its order.
var defaultKeys = []string{"id_rsa", "id_ecdsa", "id_ed25519"}

// signers lists the keys to offer e, in order, at most maxKeysOffered so that
// sshd's MaxAuthTries is never exceeded: explicit identities (through the
// agent when it holds them), then the agent's other keys unless
// IdentitiesOnly, then the default key files when nothing was named.
func (k *keyring) signers(e *endpoint, slot int) []ssh.Signer {
	var agentKeys []ssh.Signer
	if len(k.agentSigners) > 0 {
		agentKeys = k.agentSigners[slot%len(k.agentSigners)]
	}
	var out []ssh.Signer
	seen := map[string]bool{}
	add := func(s ssh.Signer) {
		if s == nil || len(out) >= maxKeysOffered {
			return
		}
		id := string(s.PublicKey().Marshal())
		if !seen[id] {
			seen[id] = true
			out = append(out, s)
		}
	}
	fromAgent := func(pub ssh.PublicKey) ssh.Signer {
		for _, s := range agentKeys {
			if pub != nil && bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return s
			}
		}
		return nil
	}
	for _, f := range e.identityFiles {
		kf := k.load(f, true)
		if s := fromAgent(kf.pub); s != nil {
			add(s)
		} else {
			add(kf.signer)
		}
	}
	if !e.identitiesOnly {
		for _, s := range agentKeys {
			add(s)
		}
	}
	if len(e.identityFiles) == 0 {
		home := k.opts.Home
		for _, name := range defaultKeys {
			kf := k.load(filepath.Join(home, ".ssh", name), false)
			if s := fromAgent(kf.pub); s != nil {
				add(s)
			} else {
				add(kf.signer)
			}
		}
	}
	return out
}

// methods returns the auth methods for e: public keys, then the password.
func (k *keyring) methods(e *endpoint, slot int) []ssh.AuthMethod {
	var m []ssh.AuthMethod
	if s := k.signers(e, slot); len(s) > 0 {
		m = append(m, ssh.PublicKeys(s...))
	}
	if e.password {
		pw := func() (string, error) {
			p, err := k.password()
			return string(p), err
		}
		m = append(m, ssh.PasswordCallback(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
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
