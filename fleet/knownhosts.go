package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	skh "github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xkh "golang.org/x/crypto/ssh/knownhosts"
)

// keyDB answers host-key lookups for one set of known_hosts files.
//
// x/crypto's known_hosts database checks a host by matching it against
// every line, and fleet looks each host up twice (the algorithms to ask
// for, then the key): with 5,000 hosts in a 5,000-line file that is 50
// million pattern matches, a sixth of the CPU of `fleet run -p 1000 true`
// on 5,000 hosts. So when every line of the files is a plain entry (literal
// host names, no hashed names, wildcards, negations, @revoked or
// @cert-authority markers, as ssh-keyscan writes them), the lines are
// indexed by host once and each lookup is a map access, with the same
// answers x/crypto gives. Any other file is left to x/crypto (through
// skeema/knownhosts, which adds the algorithm lookup), whose semantics for
// those forms are the reference.
type keyDB struct {
	full    *skh.HostKeyDB            // set when the files are not all plain
	plain   map[string][]xkh.KnownKey // else: "host port" -> its keys, in file order
	revoked map[string]xkh.KnownKey   // @revoked lines by key, with full
	caLines map[string]bool           // "file:line" of @cert-authority lines, with full
}

// loadKeyDB reads files, which exist.
func loadKeyDB(files []string) (*keyDB, error) {
	if idx, ok := indexPlain(files); ok {
		return &keyDB{plain: idx}, nil
	}
	db, err := skh.NewDB(files...)
	if err != nil {
		return nil, err
	}
	revoked, cas := markedLines(files)
	return &keyDB{full: db, revoked: revoked, caLines: cas}, nil
}

// markedLines lists the @revoked lines of files by key, and where the
// @cert-authority lines are. x/crypto checks revocations too, but reports
// a revoked certificate without its file and line; fleet checks first, so
// that every refusal names the line that made it. And x/crypto counts a CA
// line as a key the host should have: a host without a certificate would
// be reported as CHANGED, where ssh sees an unknown key.
func markedLines(files []string) (map[string]xkh.KnownKey, map[string]bool) {
	out := map[string]xkh.KnownKey{}
	cas := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue // x/crypto has read it: it reports any error
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if !bytes.HasPrefix(line, []byte("@")) {
				continue
			}
			marker, _, key, _, _, err := ssh.ParseKnownHosts(line)
			if err == nil && marker == "cert-authority" {
				cas[fmt.Sprintf("%s:%d", file, n)] = true
			}
			if err != nil || marker != "revoked" {
				continue
			}
			if id := string(plainKey(key).Marshal()); out[id].Key == nil {
				out[id] = xkh.KnownKey{Key: key, Filename: file, Line: n}
			}
		}
	}
	return out, cas
}

// plainKey is a certificate's own key, or key itself.
func plainKey(key ssh.PublicKey) ssh.PublicKey {
	if c, ok := key.(*ssh.Certificate); ok {
		return c.Key
	}
	return key
}

// revokedFor finds the @revoked line of key: its own, or, for a
// certificate, that of the key it certifies or of the CA that signed it.
func (db *keyDB) revokedFor(key ssh.PublicKey) (xkh.KnownKey, bool) {
	if len(db.revoked) == 0 {
		return xkh.KnownKey{}, false
	}
	keys := []ssh.PublicKey{plainKey(key)}
	if c, ok := key.(*ssh.Certificate); ok {
		keys = append(keys, plainKey(c.SignatureKey))
	}
	for _, k := range keys {
		if r, ok := db.revoked[string(k.Marshal())]; ok {
			return r, true
		}
	}
	return xkh.KnownKey{}, false
}

// indexPlain indexes files by host, or reports false as soon as a line is
// not a plain entry (or cannot be read: x/crypto then decides what that
// means). Keys are shared between the lines that list the same one.
func indexPlain(files []string) (map[string][]xkh.KnownKey, bool) {
	idx := map[string][]xkh.KnownKey{}
	keys := map[string]ssh.PublicKey{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, false
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			marker, hosts, key, _, _, err := ssh.ParseKnownHosts(line)
			if err != nil || marker != "" {
				return nil, false
			}
			wire := string(key.Marshal())
			if k, ok := keys[wire]; ok {
				key = k
			} else {
				keys[wire] = key
			}
			for _, pattern := range hosts {
				host, port, ok := plainAddr(pattern)
				if !ok {
					return nil, false
				}
				idx[host+" "+port] = append(idx[host+" "+port], xkh.KnownKey{Key: key, Filename: file, Line: n})
			}
		}
		if sc.Err() != nil {
			return nil, false
		}
	}
	return idx, true
}

// plainAddr reads a literal host pattern as x/crypto does: "[host]:port" or
// "host" (port 22). Hashed names, wildcards and negations are not literal.
func plainAddr(pattern string) (host, port string, ok bool) {
	if pattern == "" || strings.ContainsAny(pattern, "*?!|") {
		return "", "", false
	}
	if pattern[0] != '[' {
		return pattern, "22", true
	}
	host, port, err := net.SplitHostPort(pattern)
	return host, port, err == nil
}

// check is the host-key callback's lookup: nil when name (host:port) is
// known with key, else x/crypto's errors: a *KeyError listing the keys
// known for name (none when it is unknown), or a *RevokedError.
func (db *keyDB) check(name string, remote net.Addr, key ssh.PublicKey) error {
	if db.full != nil {
		if r, ok := db.revokedFor(key); ok {
			return &xkh.RevokedError{Revoked: r}
		}
		err := db.full.HostKeyCallback()(name, remote, key)
		var ke *xkh.KeyError
		if _, cert := key.(*ssh.Certificate); !cert && len(db.caLines) > 0 && errors.As(err, &ke) {
			// A plain key is never checked against a CA line (ssh neither).
			ke.Want = slices.DeleteFunc(slices.Clone(ke.Want), func(k xkh.KnownKey) bool {
				return db.caLines[fmt.Sprintf("%s:%d", k.Filename, k.Line)]
			})
		}
		return err
	}
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		return fmt.Errorf("knownhosts: SplitHostPort(%s): %v", name, err)
	}
	want := db.plain[host+" "+port]
	wire := key.Marshal()
	if slices.ContainsFunc(want, func(k xkh.KnownKey) bool { return bytes.Equal(k.Key.Marshal(), wire) }) {
		return nil
	}
	return &xkh.KeyError{Want: slices.Clone(want)}
}

// algorithms lists the host-key algorithms of the keys known for name, in
// skeema/knownhosts' order (by file name, then line) and form (an RSA key
// offers rsa-sha2-512 and rsa-sha2-256 first).
func (db *keyDB) algorithms(name string) []string {
	if db.full != nil {
		return db.full.HostKeyAlgorithms(name)
	}
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		return nil
	}
	want := slices.Clone(db.plain[host+" "+port])
	slices.SortStableFunc(want, func(a, b xkh.KnownKey) int {
		if c := strings.Compare(a.Filename, b.Filename); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	var algos []string
	for _, k := range want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}
