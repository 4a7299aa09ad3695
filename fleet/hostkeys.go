package fleet

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	xkh "golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys verifies host keys against known_hosts files, loaded once per set
// of files, and records new keys under accept-new. Keys accepted during the
// run are remembered, because the loaded database is not re-read: a second
// connection to the same host must match the key the first one recorded.
type hostKeys struct {
	warn func(string)

	mu       sync.Mutex
	dbs      map[string]*keyDB        // by the joined file list
	accepted map[string]ssh.PublicKey // host:port -> key accepted this run
	recorded map[string]int           // known_hosts file -> keys this run wrote into it
	warned   bool
}

func newHostKeys(warn func(string)) *hostKeys {
	return &hostKeys{warn: warn, dbs: map[string]*keyDB{}, accepted: map[string]ssh.PublicKey{}, recorded: map[string]int{}}
}

// RecordedHostKeys returns how many new host keys the dialer wrote into
// each known_hosts file (accept-new, or StrictHostKeyChecking=no), so that
// the run can say so once, as ssh's "Permanently added" does per host. A
// key another process wrote first is not counted.
func (d *Dialer) RecordedHostKeys() map[string]int {
	d.hostKeys.mu.Lock()
	defer d.hostKeys.mu.Unlock()
	return maps.Clone(d.hostKeys.recorded)
}

// db returns the database for e's files, loading it on first use. Files that
// do not exist are skipped; a file that exists but cannot be parsed is an
// error, never silently ignored.
func (h *hostKeys) db(e *endpoint) (*keyDB, error) {
	files := slices.Concat(e.knownHosts, e.globalKnown)
	key := strings.Join(files, "\x00")
	h.mu.Lock()
	defer h.mu.Unlock()
	if db, ok := h.dbs[key]; ok {
		return db, nil
	}
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	if len(existing) == 0 {
		h.dbs[key] = nil
		return nil, nil
	}
	db, err := loadKeyDB(existing)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	h.dbs[key] = db
	return db, nil
}

// algorithms returns the host-key algorithms to ask e for: those of the keys
// already known, so that a host known by its ed25519 key is not asked for its
// ECDSA key and wrongly reported as changed (golang/go#29286).
func (h *hostKeys) algorithms(e *endpoint) []string {
	db, err := h.db(e)
	name := e.keyName()
	h.mu.Lock()
	acc := h.accepted[name]
	h.mu.Unlock()
	var algos []string
	if err == nil && db != nil {
		algos = db.algorithms(name)
	}
	if acc != nil && len(algos) == 0 {
		algos = algorithmsFor(acc.Type())
	}
	if e.hostKeyAlgos != nil {
		// HostKeyAlgorithms: the known types it allows, in known_hosts'
		// order; none of them (a known key of an excluded type) asks for
		// what it allows, so the host fails as with ssh ("no matching
		// host key type") or offers a key of another type, which is
		// then checked against the known one.
		algos = slices.DeleteFunc(slices.Clone(algos), func(a string) bool { return !slices.Contains(e.hostKeyAlgos, a) })
		if len(algos) == 0 {
			return e.hostKeyAlgos
		}
		if onlyCerts(algos) {
			for _, a := range e.hostKeyAlgos {
				if !slices.Contains(algos, a) {
					algos = append(algos, a)
				}
			}
		}
		return algos
	}
	if len(algos) == 0 {
		algos = opensshOrder
	} else if onlyCerts(algos) {
		// Only @cert-authority lines match: a host without a certificate
		// then offers its plain key, which is unknown (as with ssh), instead
		// of failing with "no common algorithm for host key".
		algos = append(slices.Clone(algos), opensshOrder...)
	}
	return algos
}

// onlyCerts reports whether every algorithm is a certificate's.
func onlyCerts(algos []string) bool {
	return !slices.ContainsFunc(algos, func(a string) bool { return !strings.Contains(a, "-cert-v01@openssh.com") })
}

// opensshOrder is OpenSSH's preference for a host with no known key. x/crypto
// would ask for ECDSA first; asking as ssh does records the key ssh would
// record, so fleet and ssh agree on known_hosts.
var opensshOrder = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// algorithmsFor lists the signature algorithms a key type can answer with.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// callback returns the HostKeyCallback for e. onChanged is called when a
// changed key is accepted anyway (StrictHostKeyChecking=no), before
// authentication starts: the dial then offers no secret to that host.
func (h *hostKeys) callback(e *endpoint, onChanged func()) ssh.HostKeyCallback {
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		name := e.keyName()
		if err := checkHostKeyAlgos(e, name, key); err != nil {
			return err
		}
		db, err := h.db(e)
		if err != nil {
			return &Error{Kind: ErrHostKey, Reason: err.Error(), Err: err}
		}
		if db != nil {
			err = db.check(name, remote, key)
			if err == nil {
				return nil
			}
			var ke *xkh.KeyError
			var re *xkh.RevokedError
			switch {
			case errors.As(err, &re):
				what := "host key"
				if _, ok := key.(*ssh.Certificate); ok {
					what = "host certificate (its key or its CA)"
				}
				return &Error{Kind: ErrHostKey, Reason: fmt.Sprintf("%s %s of %s is marked @revoked in %s:%d",
					what, ssh.FingerprintSHA256(plainKey(key)), name, re.Revoked.Filename, re.Revoked.Line), Err: err,
					Hint: "a revoked key is refused whatever StrictHostKeyChecking says; ask the host's owner for its new key"}
			case errors.As(err, &ke) && len(ke.Want) > 0:
				return h.changed(e, name, key, ke.Want, err, onChanged)
			case !errors.As(err, &ke):
				if cert, ok := key.(*ssh.Certificate); ok {
					return &Error{Kind: ErrHostKey, Err: err,
						Reason: fmt.Sprintf("host certificate of %s (CA %s) is not trusted: %v", name, ssh.FingerprintSHA256(cert.SignatureKey), err),
						Hint:   "known_hosts needs a @cert-authority line for that CA whose pattern matches " + xkh.Normalize(name)}
				}
				return &Error{Kind: ErrHostKey, Reason: err.Error(), Err: err}
			}
		}
		return h.unknown(e, name, key)
	}
}

// changed handles a key that differs from the recorded one: fatal unless the
// user explicitly chose StrictHostKeyChecking=no.
//
// Even then, as OpenSSH does, the connection gets no secret that a man in
// the middle could take: password and keyboard-interactive authentication
// and agent forwarding are turned off for it (onChanged).
func (h *hostKeys) changed(e *endpoint, name string, key ssh.PublicKey, want []xkh.KnownKey, err error, onChanged func()) error {
	w := want[0]
	reason := fmt.Sprintf("host key of %s has CHANGED: it offered %s %s; %s:%d has %s %s",
		name, key.Type(), ssh.FingerprintSHA256(key), w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key))
	if e.strict == "no" {
		h.warn("WARNING: " + reason + "; connecting anyway because StrictHostKeyChecking=no. " +
			"Password and keyboard-interactive authentication and agent forwarding are disabled for it to avoid man-in-the-middle attacks.")
		if onChanged != nil {
			onChanged()
		}
		return nil
	}
	return &Error{Kind: ErrHostKey, Reason: reason, Err: err,
		Hint: fmt.Sprintf("if %s was reinstalled, check the new key out of band, then remove the old one: ssh-keygen -R '%s' -f %s",
			name, xkh.Normalize(name), w.Filename)}
}

// unknown handles a key that no file lists.
func (h *hostKeys) unknown(e *endpoint, name string, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.accepted[name]; ok {
		if bytes.Equal(prev.Marshal(), key.Marshal()) {
			return nil
		}
		return &Error{Kind: ErrHostKey, Reason: fmt.Sprintf("host key of %s has CHANGED during this run: it offered %s, earlier %s",
			name, ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(prev))}
	}
	switch e.strict {
	case "yes":
		return &Error{Kind: ErrHostKey,
			Reason: fmt.Sprintf("host key of %s is not known: %s %s", name, key.Type(), ssh.FingerprintSHA256(key)),
			Hint:   "check the fingerprint, then add it (ssh-keyscan, or run once with -O StrictHostKeyChecking=accept-new)"}
	case "no":
		if !h.warned {
			h.warned = true
			h.warn("WARNING: StrictHostKeyChecking=no: host keys are not verified; anyone between you and the hosts can read and change this session")
		}
	}
	if len(e.knownHosts) == 0 {
		// UserKnownHostsFile none: accepted for this run only, as ssh does.
	} else if wrote, err := appendKnownHost(e.knownHosts[0], name, key, e.hashKnownHosts); err != nil {
		return &Error{Kind: ErrHostKey, Reason: fmt.Sprintf("recording the new host key of %s: %v", name, err), Err: err}
	} else if wrote {
		h.recorded[e.knownHosts[0]]++
	}
	h.accepted[name] = key
	return nil
}

// appendKnownHost adds one line for name to file, under an exclusive lock so
// that concurrent fleet processes never interleave or duplicate lines. It
// reports whether it wrote the line (not when the file had it already).
func appendKnownHost(file, name string, key ssh.PublicKey, hash bool) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	norm := xkh.Normalize(name)
	if present, err := listsKey(f, norm, key); err != nil || present {
		return false, err
	}
	host := norm
	if hash {
		host = xkh.HashHostname(norm)
	}
	if _, err = f.WriteString(xkh.Line([]string{host}, key) + "\n"); err != nil {
		return false, err
	}
	return true, nil
}

// listsKey reports whether the open known_hosts file already has key for
// host (another process may have written it since we loaded the file).
func listsKey(f *os.File, host string, key ssh.PublicKey) (bool, error) {
	if _, err := f.Seek(0, 0); err != nil {
		return false, err
	}
	want := string(key.Marshal())
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		_, hosts, pub, _, _, err := ssh.ParseKnownHosts(sc.Bytes())
		if err != nil || string(pub.Marshal()) != want {
			continue
		}
		if slices.ContainsFunc(hosts, func(h string) bool { return h == host || hashMatches(h, host) }) {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, fs.ErrClosed) {
		return false, err
	}
	return false, nil
}

// hashMatches checks a hashed known_hosts entry ("|1|salt|hash", both
// base64) against a host name: the hash is HMAC-SHA1 of the name keyed by the
// salt, as OpenSSH writes it.
func hashMatches(entry, host string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 || parts[1] != "1" {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	sum, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(host))
	return hmac.Equal(mac.Sum(nil), sum)
}
