package fleet

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// tokenEnv holds what ssh_config tokens expand to that does not depend on
// the host: the local user, home, uid and host name.
type tokenEnv struct {
	home, localUser string
	uid             string
	thisHost        string // %l: gethostname(), as ssh uses it
}

func newTokenEnv(home, localUser string) *tokenEnv {
	h, _ := os.Hostname()
	return &tokenEnv{home: home, localUser: localUser, uid: strconv.Itoa(os.Getuid()), thisHost: h}
}

// tokens is the full set ssh_config(5) TOKENS gives IdentityFile,
// UserKnownHostsFile, Match exec, CertificateFile, IdentityAgent...:
// %% %C %d %h %i %k %L %l %n %p %r %u.
func (t *tokenEnv) tokens(host, original, ruser string, port int, hostKeyAlias string) map[byte]string {
	p := strconv.Itoa(port)
	sum := sha1.Sum([]byte(t.thisHost + host + p + ruser))
	short, _, _ := strings.Cut(t.thisHost, ".")
	return map[byte]string{'%': "%", 'C': hex.EncodeToString(sum[:]), 'd': t.home, 'h': host, 'i': t.uid,
		'k': cmp.Or(hostKeyAlias, original), 'L': short, 'l': t.thisHost, 'n': original, 'p': p, 'r': ruser, 'u': t.localUser}
}

// expandPercent expands %x tokens from t; a token not in t is an error, as
// ssh's percent_expand makes it fatal. "%%" needs '%' in t.
func expandPercent(s string, t map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	if _, ok := t['%']; !ok {
		t['%'] = "%"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q: %% at the end", s)
		}
		i++
		v, ok := t[s[i]]
		if !ok {
			return "", fmt.Errorf("%q: unknown token %%%c", s, s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
