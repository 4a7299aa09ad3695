package fleet

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// TestAlgosNarrowedToXCrypto: what OpenSSH would use is narrowed to what
// x/crypto implements in the configuration's order; an unset list stays
// nil (x/crypto's defaults); a list that leaves nothing is an error naming
// the line, the key and what fleet has.
func TestAlgosNarrowedToXCrypto(t *testing.T) {
	config := "Host h\n  Ciphers aes256-ctr,3des-cbc,aes128-gcm@openssh.com\n  MACs umac-128-etm@openssh.com,hmac-sha2-512\n" +
		"  KexAlgorithms sntrup761x25519-sha512,curve25519-sha256\n  HostKeyAlgorithms -ecdsa*\n" +
		"Host umac\n  MACs umac-128-etm@openssh.com,umac-64@openssh.com\n"
	e, err := resolveWith(t, config, Options{}, inventory.Host{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		got, want []string
	}{
		{"Ciphers", e.ciphers, []string{"aes256-ctr", "3des-cbc", "aes128-gcm@openssh.com"}},
		{"MACs", e.macs, []string{"hmac-sha2-512"}},
		{"KexAlgorithms", e.kex, []string{"curve25519-sha256"}},
		{"HostKeyAlgorithms", e.hostKeyAlgos, []string{"ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
			"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com",
			"ssh-ed25519", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256"}},
		{"CASignatureAlgorithms", e.caSigAlgos, []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
			"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %q, want %q", c.key, c.got, c.want)
		}
	}
	if e.pubkeyAlgos != nil || e.requiredRSASize != 1024 {
		t.Errorf("unset PubkeyAcceptedAlgorithms/RequiredRSASize: %q %d", e.pubkeyAlgos, e.requiredRSASize)
	}
	other, err := resolveWith(t, config, Options{}, inventory.Host{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if other.ciphers != nil || other.macs != nil || other.kex != nil || other.hostKeyAlgos != nil {
		t.Errorf("unset lists should keep x/crypto's defaults: %q %q %q %q", other.ciphers, other.macs, other.kex, other.hostKeyAlgos)
	}
	_, err = resolveWith(t, config, Options{}, inventory.Host{Name: "umac"})
	if err == nil || !strings.Contains(err.Error(), "config:7: MACs umac-128-etm@openssh.com,umac-64@openssh.com leaves no MAC that fleet implements") ||
		!strings.Contains(err.Error(), "fleet has hmac-sha2-256-etm@openssh.com") {
		t.Errorf("got %v", err)
	}
	// With AEAD ciphers only no MAC is negotiated: ssh does not mind a
	// MACs list fleet cannot use, nor does fleet.
	e, err = resolveWith(t, config, Options{Overrides: [][2]string{{"Ciphers", "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"}}},
		inventory.Host{Name: "umac"})
	if err != nil || e.macs != nil {
		t.Errorf("AEAD ciphers with MACs umac only: %q %v", e.macs, err)
	}
	// -O takes them too, and wins over the file.
	e, err = resolveWith(t, config, Options{Overrides: [][2]string{{"Ciphers", "^chacha20-poly1305@openssh.com"}}}, inventory.Host{Name: "h"})
	if err != nil || len(e.ciphers) == 0 || e.ciphers[0] != "chacha20-poly1305@openssh.com" || slices.Contains(e.ciphers, "3des-cbc") {
		t.Errorf("-O Ciphers: %q %v", e.ciphers, err)
	}
}

func rsaSigner(t *testing.T, bits int) ssh.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAcceptedSigner: PubkeyAcceptedAlgorithms picks the keys offered and
// the RSA signature algorithms; RequiredRSASize drops small RSA keys.
func TestAcceptedSigner(t *testing.T) {
	small, big, ed := rsaSigner(t, 1024), rsaSigner(t, 2048), sshtest.NewClientKey(t)
	e := &endpoint{requiredRSASize: 2048, pubkeyAlgos: []string{"rsa-sha2-256", "ssh-ed25519-cert-v01@openssh.com"}}
	if s, why := acceptedSigner(e, small); s != nil || !strings.Contains(why, "1024-bit RSA key, smaller than RequiredRSASize 2048") {
		t.Errorf("small RSA key: %v %q", s, why)
	}
	s, why := acceptedSigner(e, big)
	ms, ok := s.(ssh.MultiAlgorithmSigner)
	if !ok || !slices.Equal(ms.Algorithms(), []string{"rsa-sha2-256"}) {
		t.Fatalf("RSA key restricted to rsa-sha2-256: %T %q", s, why)
	}
	if s, why := acceptedSigner(e, ed); s != nil || !strings.Contains(why, "does not allow ssh-ed25519") {
		t.Errorf("ed25519 key: %v %q", s, why)
	}
	e.pubkeyAlgos = []string{"ssh-ed25519"}
	if s, _ := acceptedSigner(e, ed); s != ed {
		t.Errorf("ed25519 key not offered")
	}
	if s, why := acceptedSigner(e, big); s != nil || !strings.Contains(why, "allows no signature algorithm of ssh-rsa") {
		t.Errorf("RSA key with no RSA algorithm allowed: %v %q", s, why)
	}
	e.pubkeyAlgos = nil
	if s, _ := acceptedSigner(e, big); s != big {
		t.Errorf("unset PubkeyAcceptedAlgorithms changed the signer")
	}
}

// TestCheckHostKeyAlgos: small RSA host and CA keys, and CA signatures
// CASignatureAlgorithms does not list, are refused.
func TestCheckHostKeyAlgos(t *testing.T) {
	small, ed := rsaSigner(t, 1024), sshtest.NewClientKey(t)
	e := &endpoint{requiredRSASize: 2048, caSigAlgos: []string{"ssh-ed25519"}}
	if err := checkHostKeyAlgos(e, "h:22", small.PublicKey()); err == nil || !strings.Contains(err.Error(), "1024-bit RSA key, smaller than RequiredRSASize 2048") {
		t.Errorf("got %v", err)
	}
	if err := checkHostKeyAlgos(e, "h:22", ed.PublicKey()); err != nil {
		t.Errorf("ed25519 host key: %v", err)
	}
	cert := &ssh.Certificate{Key: ed.PublicKey(), CertType: ssh.HostCert, ValidPrincipals: []string{"h"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, small); err != nil {
		t.Fatal(err)
	}
	if err := checkHostKeyAlgos(e, "h:22", cert); err == nil || !strings.Contains(err.Error(), "signed by a 1024-bit RSA CA key") {
		t.Errorf("got %v", err)
	}
	e.requiredRSASize = 1024
	if err := checkHostKeyAlgos(e, "h:22", cert); err == nil || !strings.Contains(err.Error(), "which CASignatureAlgorithms does not allow (ssh-ed25519)") {
		t.Errorf("got %v", err)
	}
	e.caSigAlgos = append(e.caSigAlgos, cert.Signature.Format)
	if err := checkHostKeyAlgos(e, "h:22", cert); err != nil {
		t.Errorf("allowed CA signature %s: %v", cert.Signature.Format, err)
	}
}

// TestHostKeyAlgorithmsWithKnownHosts: the known types the list allows,
// in known_hosts' order; the list itself when it allows none of them.
func TestHostKeyAlgorithmsWithKnownHosts(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	ed, rs := sshtest.NewClientKey(t), rsaSigner(t, 1024)
	line := func(s ssh.Signer) string {
		return "[127.0.0.1]:2200 " + authorizedKey(s.PublicKey()) + "\n"
	}
	writeFile(t, kh, line(ed)+line(rs), 0o600)
	h := newHostKeys(func(string) {})
	e := &endpoint{hostName: "127.0.0.1", port: 2200, knownHosts: []string{kh}}
	if got := h.algorithms(e); !slices.Equal(got, []string{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}) {
		t.Errorf("no HostKeyAlgorithms: %q", got)
	}
	e.hostKeyAlgos = []string{"ecdsa-sha2-nistp256", "rsa-sha2-256", "rsa-sha2-512"}
	if got := h.algorithms(e); !slices.Equal(got, []string{"rsa-sha2-512", "rsa-sha2-256"}) {
		t.Errorf("HostKeyAlgorithms without ed25519: %q", got)
	}
	e.hostKeyAlgos = []string{"ecdsa-sha2-nistp256"}
	if got := h.algorithms(e); !slices.Equal(got, e.hostKeyAlgos) {
		t.Errorf("HostKeyAlgorithms allowing no known type: %q", got)
	}
}

// TestNegotiationErrorReadable: an x/crypto server with only aes256-gcm
// and a client with only aes128-ctr fail with a sentence naming both.
func TestNegotiationErrorReadable(t *testing.T) {
	srvCfg := &ssh.ServerConfig{NoClientAuth: true, Config: ssh.Config{Ciphers: []string{"aes256-gcm@openssh.com"}}}
	srvCfg.AddHostKey(sshtest.NewClientKey(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if conn, _, _, err := ssh.NewServerConn(c, srvCfg); err == nil {
			conn.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _, _, err = ssh.NewClientConn(c, l.Addr().String(), &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Config: ssh.Config{Ciphers: []string{"aes128-ctr"}}})
	err = Classify(context.Background(), err)
	want := "no matching cipher found: fleet offered aes128-ctr; the host offers aes256-gcm@openssh.com"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(Hint(err), "Ciphers") {
		t.Fatalf("got %v (hint %q), want %q", err, Hint(err), want)
	}
}
