package fleet

import (
	"crypto/rsa"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// This file honours ssh_config's algorithm keys (KexAlgorithms, Ciphers,
// MACs, HostKeyAlgorithms, PubkeyAcceptedAlgorithms, CASignatureAlgorithms)
// and RequiredRSASize the way OpenSSH 9.2 does: a list is checked when its
// line is read (readconf.c), then assembled against OpenSSH's default and
// supported lists (kex_assemble_names), and only then narrowed to what
// x/crypto implements, keeping the configuration's order. Red Hat's
// crypto-policies set all of them for every host (Match final all), so
// refusing them would refuse every Fedora/RHEL user, and ignoring them
// would negotiate weaker algorithms than the user's ssh does.

// algoKey describes one algorithm list key.
type algoKey struct {
	key  string   // lower case, as in hostSettings
	name string   // as ssh_config(5) spells it
	def  []string // OpenSSH 9.2's default (ssh -G -F /dev/null)
	all  []string // what OpenSSH 9.2 implements (ssh -Q), in its order
	// patterns says a plain, + or ^ list may hold wildcards (key type
	// lists); ssh rejects them in Ciphers, MACs and KexAlgorithms.
	patterns bool
	bad      string // ssh's message for a name it does not know
	what     string // one algorithm, for messages
	// field is the endpoint's list the key sets.
	field func(*endpoint) *[]string
}

var (
	opensshKeyAlgos = strings.Split("ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,"+
		"sk-ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,"+
		"ecdsa-sha2-nistp384,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521,"+
		"ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,"+
		"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,"+
		"ssh-dss-cert-v01@openssh.com,ssh-rsa,ssh-rsa-cert-v01@openssh.com,rsa-sha2-256,"+
		"rsa-sha2-256-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com", ",")
	opensshKeyDefault = strings.Split("ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"+
		"ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,"+
		"sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,"+
		"rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,"+
		"ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,"+
		"rsa-sha2-512,rsa-sha2-256", ",")
	opensshSigAlgos = strings.Split("ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"+
		"ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,"+
		"ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512", ",")
	opensshSigDefault = strings.Split("ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"+
		"sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256", ",")
)

var algoKeys = []algoKey{
	{key: "kexalgorithms", name: "KexAlgorithms", what: "key exchange method", bad: "Bad SSH2 KexAlgorithms",
		field: func(e *endpoint) *[]string { return &e.kex },
		all: strings.Split("diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,"+
			"diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha1,"+
			"diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"+
			"curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com", ","),
		def: strings.Split("sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,"+
			"curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"+
			"diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"+
			"diffie-hellman-group14-sha256", ",")},
	{key: "ciphers", name: "Ciphers", what: "cipher", bad: "Bad SSH2 cipher spec", field: func(e *endpoint) *[]string { return &e.ciphers },
		all: strings.Split("3des-cbc,aes128-cbc,aes192-cbc,aes256-cbc,aes128-ctr,aes192-ctr,aes256-ctr,"+
			"aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com", ","),
		def: strings.Split("chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"+
			"aes256-gcm@openssh.com", ",")},
	{key: "macs", name: "MACs", what: "MAC", bad: "Bad SSH2 MAC spec", field: func(e *endpoint) *[]string { return &e.macs },
		all: strings.Split("hmac-sha1,hmac-sha1-96,hmac-sha2-256,hmac-sha2-512,hmac-md5,hmac-md5-96,umac-64@openssh.com,"+
			"umac-128@openssh.com,hmac-sha1-etm@openssh.com,hmac-sha1-96-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"+
			"hmac-sha2-512-etm@openssh.com,hmac-md5-etm@openssh.com,hmac-md5-96-etm@openssh.com,umac-64-etm@openssh.com,"+
			"umac-128-etm@openssh.com", ","),
		def: strings.Split("umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"+
			"hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,"+
			"hmac-sha2-256,hmac-sha2-512,hmac-sha1", ",")},
	{key: "hostkeyalgorithms", name: "HostKeyAlgorithms", what: "host key type", bad: "Bad key types",
		patterns: true, all: opensshKeyAlgos, def: opensshKeyDefault, field: func(e *endpoint) *[]string { return &e.hostKeyAlgos }},
	{key: "pubkeyacceptedalgorithms", name: "PubkeyAcceptedAlgorithms", what: "public key algorithm", bad: "Bad key types",
		patterns: true, all: opensshKeyAlgos, def: opensshKeyDefault, field: func(e *endpoint) *[]string { return &e.pubkeyAlgos }},
	{key: "casignaturealgorithms", name: "CASignatureAlgorithms", what: "CA signature algorithm", bad: "Bad key types",
		patterns: true, all: opensshSigAlgos, def: opensshSigDefault, field: func(e *endpoint) *[]string { return &e.caSigAlgos }},
}

// keyAliases are the old names ssh still reads as another key: one slot,
// the first of either wins.
var keyAliases = map[string]string{"pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms"}

// defaultRequiredRSASize is OpenSSH 9.2's RequiredRSASize.
const defaultRequiredRSASize = 1024

// checkAlgoLine checks an algorithm or RequiredRSASize line as ssh does
// when it reads it, whether or not it applies to the host.
func checkAlgoLine(cl *confLine) error {
	if cl.key == "requiredrsasize" {
		if _, err := rsaSize(cl.args[0]); err != nil {
			return fmt.Errorf("ssh config %s: RequiredRSASize: %w", cl.pos, err)
		}
		return nil
	}
	i := slices.IndexFunc(algoKeys, func(a algoKey) bool { return a.key == cl.key })
	if i < 0 {
		return nil
	}
	a := algoKeys[i]
	if len(cl.args) > 1 {
		return fmt.Errorf("ssh config %s: keyword %s extra arguments at end of line", cl.pos, cl.key)
	}
	v := cl.args[0]
	if strings.HasPrefix(v, "-") {
		return nil // ssh does not check the names of a list to remove
	}
	list := v
	if strings.HasPrefix(v, "+") || strings.HasPrefix(v, "^") {
		list = v[1:]
	}
	// Like ssh's *_valid functions, the check stops at an empty name.
	for _, n := range strings.Split(list, ",") {
		if n == "" {
			break
		}
		if slices.Contains(a.all, n) {
			continue
		}
		if a.patterns && slices.ContainsFunc(opensshKeyAlgos, func(k string) bool { return matchPatternList(k, n) }) {
			continue
		}
		return fmt.Errorf("ssh config %s: %s '%s'", cl.pos, a.bad, v)
	}
	return nil
}

// rsaSize reads RequiredRSASize as ssh's atoi_err.
func rsaSize(v string) (int, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	switch {
	case err != nil:
		return 0, fmt.Errorf("integer value %q invalid", v)
	case n < 0:
		return 0, fmt.Errorf("integer value %q too small", v)
	}
	return int(n), nil
}

// assemble is OpenSSH's kex_assemble_names: "" is the default, "+list"
// appends to it, "-list" removes what matches the patterns from it, "^list"
// puts list first, a plain list replaces it; the names of a plain, + or ^
// list are expanded against what OpenSSH implements, duplicates dropped.
func assemble(a algoKey, v string) []string {
	var list []string
	switch {
	case v == "":
		return slices.Clone(a.def)
	case v[0] == '-':
		pat := v[1:]
		return slices.DeleteFunc(slices.Clone(a.def), func(n string) bool { return matchPatternList(n, pat) })
	case v[0] == '+':
		list = append(slices.Clone(a.def), strings.Split(v[1:], ",")...)
	case v[0] == '^':
		list = append(strings.Split(v[1:], ","), a.def...)
	default:
		list = strings.Split(v, ",")
	}
	var out []string
	for _, p := range list {
		for _, n := range a.all {
			if matchPatternList(n, p) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// opensshAlgos is what ssh 9.2 uses for s: each algorithm list assembled
// (ssh -G prints the same), by key.
func opensshAlgos(s *hostSettings) map[string][]string {
	out := map[string][]string{}
	for _, a := range algoKeys {
		out[a.key] = assemble(a, s.get(a.key))
	}
	return out
}

// xcryptoAlgos is what golang.org/x/crypto/ssh implements, by key. The
// insecure ones are there because a user who names one (Ciphers
// +aes128-cbc for an old switch) gets it from ssh too; OpenSSH's defaults
// hold none of them. x/crypto also verifies FIDO (sk-) host keys, which
// SupportedAlgorithms does not list.
func xcryptoAlgos() map[string][]string {
	s, i := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	sk := []string{ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256, ssh.CertAlgoSKED25519v01, ssh.CertAlgoSKECDSA256v01}
	keys := slices.Concat(s.HostKeys, i.HostKeys, sk)
	pub := slices.Concat(s.PublicKeyAuths, i.PublicKeyAuths, s.HostKeys, i.HostKeys, sk)
	return map[string][]string{
		"kexalgorithms":            slices.Concat(s.KeyExchanges, i.KeyExchanges),
		"ciphers":                  slices.Concat(s.Ciphers, i.Ciphers),
		"macs":                     slices.Concat(s.MACs, i.MACs),
		"hostkeyalgorithms":        keys,
		"pubkeyacceptedalgorithms": pub,
		"casignaturealgorithms":    pub,
	}
}

// aeadCiphers need no MAC.
var aeadCiphers = map[string]bool{"aes128-gcm@openssh.com": true, "aes256-gcm@openssh.com": true, "chacha20-poly1305@openssh.com": true}

// resolveAlgos fills e's algorithm fields from s. A list ssh_config does
// not set stays nil (x/crypto's defaults, which are a subset of OpenSSH's
// apart from newer key exchanges), except CASignatureAlgorithms, whose
// default already refuses SHA-1 CA signatures. A list that leaves nothing
// x/crypto implements is an error now, not a failed handshake later.
func resolveAlgos(s *hostSettings, e *endpoint) error {
	have := xcryptoAlgos()
	want := opensshAlgos(s)
	for _, a := range algoKeys {
		v, set := s.first(a.key)
		if !set && a.key != "casignaturealgorithms" {
			continue
		}
		got := slices.DeleteFunc(slices.Clone(want[a.key]), func(n string) bool { return !slices.Contains(have[a.key], n) })
		if len(got) == 0 && a.key == "macs" && e.ciphers != nil && !slices.ContainsFunc(e.ciphers, func(c string) bool { return !aeadCiphers[c] }) {
			// Only AEAD ciphers, which carry their own integrity: no
			// MAC is ever negotiated, so ssh does not mind the list.
			continue
		}
		if len(got) == 0 {
			return fmt.Errorf("ssh config %s: %s %s leaves no %s that fleet implements (ssh would use %q; fleet has %s)",
				v.pos, a.name, v.args[0], a.what, strings.Join(want[a.key], ","), strings.Join(have[a.key], ","))
		}
		*a.field(e) = got
	}
	e.requiredRSASize = defaultRequiredRSASize
	if v := s.get("requiredrsasize"); v != "" {
		e.requiredRSASize, _ = rsaSize(v) // checked when read
	}
	return nil
}

// rsaBits is the modulus size of an RSA key (a certificate's key for a
// certificate), 0 for other keys.
func rsaBits(pub ssh.PublicKey) int {
	if c, ok := pub.(*ssh.Certificate); ok {
		pub = c.Key
	}
	if cp, ok := pub.(ssh.CryptoPublicKey); ok {
		if k, ok := cp.CryptoPublicKey().(*rsa.PublicKey); ok {
			return k.N.BitLen()
		}
	}
	return 0
}

// checkHostKeyAlgos refuses a host key ssh would refuse before looking it
// up in known_hosts: an RSA key (or certificate key, or CA key) smaller
// than RequiredRSASize, a certificate whose CA signed with an algorithm
// CASignatureAlgorithms does not list.
func checkHostKeyAlgos(e *endpoint, name string, key ssh.PublicKey) error {
	if n := rsaBits(key); n > 0 && n < e.requiredRSASize {
		return &Error{Kind: ErrHostKey, Reason: fmt.Sprintf("host key of %s is a %d-bit RSA key, smaller than RequiredRSASize %d", name, n, e.requiredRSASize),
			Hint: "ssh refuses it too; the host needs a larger (or an ed25519) host key"}
	}
	c, ok := key.(*ssh.Certificate)
	if !ok {
		return nil
	}
	if n := rsaBits(c.SignatureKey); n > 0 && n < e.requiredRSASize {
		return &Error{Kind: ErrHostKey, Reason: fmt.Sprintf("host certificate of %s is signed by a %d-bit RSA CA key, smaller than RequiredRSASize %d", name, n, e.requiredRSASize)}
	}
	if c.Signature != nil && e.caSigAlgos != nil && !slices.Contains(e.caSigAlgos, c.Signature.Format) {
		return &Error{Kind: ErrHostKey, Reason: fmt.Sprintf("host certificate of %s is signed with %s, which CASignatureAlgorithms does not allow (%s)",
			name, c.Signature.Format, strings.Join(e.caSigAlgos, ","))}
	}
	return nil
}

// rsaSigAlgos maps the RSA signature algorithms of a key format to the
// underlying ones x/crypto's MultiAlgorithmSigner takes.
var rsaSigAlgos = map[string][][2]string{
	ssh.KeyAlgoRSA: {{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA512}, {ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA256}, {ssh.KeyAlgoRSA, ssh.KeyAlgoRSA}},
	ssh.CertAlgoRSAv01: {{ssh.CertAlgoRSASHA512v01, ssh.KeyAlgoRSASHA512}, {ssh.CertAlgoRSASHA256v01, ssh.KeyAlgoRSASHA256},
		{ssh.CertAlgoRSAv01, ssh.KeyAlgoRSA}},
}

// acceptedSigner is s as e may offer it: nil with the reason when
// PubkeyAcceptedAlgorithms does not list its algorithm or it is an RSA
// key below RequiredRSASize; an RSA key restricted to the signature
// algorithms the list allows (x/crypto otherwise picks any the server
// announces).
func acceptedSigner(e *endpoint, s ssh.Signer) (ssh.Signer, string) {
	pub := s.PublicKey()
	if n := rsaBits(pub); n > 0 && n < e.requiredRSASize {
		return nil, fmt.Sprintf("it is a %d-bit RSA key, smaller than RequiredRSASize %d", n, e.requiredRSASize)
	}
	if e.pubkeyAlgos == nil {
		return s, ""
	}
	t := pub.Type()
	rsaAlgos, isRSA := rsaSigAlgos[t]
	if !isRSA {
		if slices.Contains(e.pubkeyAlgos, t) {
			return s, ""
		}
		return nil, fmt.Sprintf("PubkeyAcceptedAlgorithms does not allow %s", t)
	}
	var allowed []string
	for _, a := range rsaAlgos {
		if slices.Contains(e.pubkeyAlgos, a[0]) {
			allowed = append(allowed, a[1])
		}
	}
	if len(allowed) == 0 {
		return nil, fmt.Sprintf("PubkeyAcceptedAlgorithms allows no signature algorithm of %s", t)
	}
	as, ok := s.(ssh.AlgorithmSigner)
	if !ok {
		if slices.Contains(allowed, ssh.KeyAlgoRSA) {
			return s, ""
		}
		return nil, "it signs only with ssh-rsa, which PubkeyAcceptedAlgorithms does not allow"
	}
	ms, err := ssh.NewSignerWithAlgorithms(as, allowed)
	if err != nil {
		return nil, err.Error()
	}
	return ms, ""
}
