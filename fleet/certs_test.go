package fleet

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	xkh "golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleet-sh/fleet/fleet/sshtest"
	"github.com/fleet-sh/fleet/inventory"
)

// signCert certifies key with ca; validFor 0 means forever, negative means
// expired that long ago.
func signCert(t *testing.T, ca ssh.Signer, key ssh.PublicKey, typ uint32, principals []string, validFor time.Duration) *ssh.Certificate {
	t.Helper()
	cert := &ssh.Certificate{Key: key, CertType: typ, KeyId: "test", ValidPrincipals: principals,
		ValidAfter: 0, ValidBefore: ssh.CertTimeInfinity}
	switch {
	case validFor > 0:
		cert.ValidBefore = uint64(time.Now().Add(validFor).Unix())
	case validFor < 0:
		cert.ValidAfter = uint64(time.Now().Add(2 * validFor).Unix())
		cert.ValidBefore = uint64(time.Now().Add(validFor).Unix())
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func writeCert(t *testing.T, path string, cert *ssh.Certificate) string {
	t.Helper()
	writeFile(t, path, ssh.MarshalAuthorizedKey(cert), 0o644)
	return path
}

// A server that trusts only a user CA lets the client in with the
// certificate of its key, from CertificateFile and from <key>-cert.pub.
func TestUserCertificateLogsIn(t *testing.T) {
	env := newEnv(t)
	ca := sshtest.NewClientKey(t)
	srv := sshtest.Start(t, sshtest.Config{UserCAs: []ssh.PublicKey{ca.PublicKey()}}) // no plain key is authorized
	cert := signCert(t, ca, env.key.PublicKey(), ssh.UserCert, []string{"tester"}, time.Hour)

	if err := dialErr(t, env.dialer(), hostOf(srv)); !errors.Is(err, ErrAuth) {
		t.Fatalf("without a certificate: got %v, want an authentication failure", err)
	}
	certFile := writeCert(t, filepath.Join(t.TempDir(), "user-cert.pub"), cert)
	d := env.dialer(withOverrides("CertificateFile", certFile))
	if err := dialErr(t, d, hostOf(srv)); err != nil {
		t.Fatalf("CertificateFile: %v", err)
	}
	key := env.writeKey()
	writeCert(t, key+"-cert.pub", cert)
	if err := dialErr(t, env.dialer(), hostOf(srv)); err != nil {
		t.Fatalf("%s-cert.pub beside the default key: %v", key, err)
	}
}

// An expired certificate is not offered (it would spend one of sshd's
// MaxAuthTries) and the user is told why.
func TestExpiredUserCertificateSkipped(t *testing.T) {
	env := newEnv(t)
	ca := sshtest.NewClientKey(t)
	srv := sshtest.Start(t, sshtest.Config{UserCAs: []ssh.PublicKey{ca.PublicKey()}})
	certFile := writeCert(t, filepath.Join(t.TempDir(), "old-cert.pub"),
		signCert(t, ca, env.key.PublicKey(), ssh.UserCert, []string{"tester"}, -time.Hour))
	var warn strings.Builder
	d := env.dialer(withOverrides("CertificateFile", certFile), func(o *Options) { o.Warn = &warn })
	if err := dialErr(t, d, hostOf(srv)); !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want an authentication failure", err)
	}
	if !strings.Contains(warn.String(), "certificate "+certFile+" skipped: it expired") {
		t.Errorf("no warning about the expired certificate: %q", warn.String())
	}
	e, err := d.endpoint(hostOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.keys.signers(e, 0) {
		if _, ok := s.PublicKey().(*ssh.Certificate); ok {
			t.Errorf("the expired certificate is offered")
		}
	}
}

// Keys are offered in OpenSSH's order (as ssh -v shows it): CertificateFile
// certificates first, then each identity file followed by its -cert.pub,
// which ssh adds only when no CertificateFile is set.
func TestCertificateOrder(t *testing.T) {
	env := newEnv(t)
	ca := sshtest.NewClientKey(t)
	dir := t.TempDir()
	other := newEnv(t) // a second identity, with a -cert.pub beside it
	otherKey := filepath.Join(dir, "other")
	writePrivateKey(t, otherKey, other.priv)
	otherCert := signCert(t, ca, other.key.PublicKey(), ssh.UserCert, []string{"tester"}, 0)
	writeCert(t, otherKey+"-cert.pub", otherCert)
	mainCert := signCert(t, ca, env.key.PublicKey(), ssh.UserCert, []string{"tester"}, 0)
	certFile := writeCert(t, filepath.Join(dir, "main-cert.pub"), mainCert)
	fp := ssh.FingerprintSHA256
	cases := []struct {
		name      string
		overrides [][2]string
		want      []string
	}{
		{"CertificateFile", [][2]string{{"CertificateFile", certFile}},
			[]string{fp(mainCert), fp(other.key.PublicKey()), fp(env.key.PublicKey())}},
		{"-cert.pub", nil,
			[]string{fp(other.key.PublicKey()), fp(otherCert), fp(env.key.PublicKey())}},
	}
	for _, c := range cases {
		d := env.dialer(func(o *Options) {
			o.IdentityFiles = []string{otherKey, filepath.Join(env.home, ".ssh", "id_ed25519")}
			o.Overrides = c.overrides
		})
		e, err := d.endpoint(inventory.Host{Name: "example"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range d.keys.signers(e, 0) {
			got = append(got, fp(s.PublicKey()))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: offered\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

// hostCertServer is a server whose host key is certified by ca for
// 127.0.0.1.
func hostCertServer(t *testing.T, env *testEnv, ca ssh.Signer, principals []string) *sshtest.Server {
	t.Helper()
	host := sshtest.NewClientKey(t)
	cert := signCert(t, ca, host.PublicKey(), ssh.HostCert, principals, 0)
	signer, err := ssh.NewCertSigner(cert, host)
	if err != nil {
		t.Fatal(err)
	}
	return env.server(sshtest.Config{HostKey: signer})
}

// A host certificate signed by a @cert-authority of known_hosts is accepted
// (even with StrictHostKeyChecking=yes) and nothing is recorded; one for
// another name, or from another CA, is not.
func TestHostCertificateAuthority(t *testing.T) {
	env := newEnv(t)
	ca := sshtest.NewClientKey(t)
	srv := hostCertServer(t, env, ca, []string{"127.0.0.1"})
	kh := "@cert-authority 127.0.0.* " + authorizedKey(ca.PublicKey()) + "\n"
	writeFile(t, env.knownHosts(), kh, 0o600)
	strict := withOverrides("StrictHostKeyChecking", "yes")
	d := env.dialer(strict)
	e, err := d.endpoint(hostOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	if algos := d.hostKeys.algorithms(e); len(algos) == 0 || algos[0] != ssh.CertAlgoED25519v01 {
		t.Errorf("host key algorithms %v: want the CA's certificate algorithm", algos)
	}
	if err := dialErr(t, d, hostOf(srv)); err != nil {
		t.Fatalf("host certificate: %v", err)
	}
	if got := sshtest.Lines(t, env.knownHosts()); len(got) != 1 {
		t.Errorf("known_hosts changed: %q", got)
	}

	wrongName := hostCertServer(t, env, ca, []string{"db.example.com"})
	if err := dialErr(t, env.dialer(strict), hostOf(wrongName)); !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "host certificate of "+wrongName.Addr+" (CA") {
		t.Errorf("certificate for another name: got %v, want a host key failure", err)
	}
	otherCA := hostCertServer(t, env, sshtest.NewClientKey(t), []string{"127.0.0.1"})
	if err := dialErr(t, env.dialer(strict), hostOf(otherCA)); !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "is not trusted") {
		t.Errorf("certificate from another CA: got %v, want a host key failure", err)
	}
}

// A key marked @revoked is refused whatever StrictHostKeyChecking says,
// naming the line, and never recorded; so is a certificate whose CA is.
func TestRevokedHostKeyRefused(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	revoked := "@revoked * " + authorizedKey(srv.HostKey) + "\n"
	for _, strict := range []string{"yes", "accept-new", "no"} {
		writeFile(t, env.knownHosts(), revoked+srv.KnownHostsLine()+"\n", 0o600)
		d := env.dialer(withOverrides("StrictHostKeyChecking", strict))
		err := dialErr(t, d, hostOf(srv))
		if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "marked @revoked in "+env.knownHosts()+":1") {
			t.Errorf("%s: got %v, want a host key failure naming %s:1", strict, err, env.knownHosts())
		}
		// Only the revocation: accept-new must not record the key.
		writeFile(t, env.knownHosts(), revoked, 0o600)
		d = env.dialer(withOverrides("StrictHostKeyChecking", strict))
		if err := dialErr(t, d, hostOf(srv)); !errors.Is(err, ErrHostKey) {
			t.Errorf("%s, revoked and otherwise unknown: got %v", strict, err)
		}
		if got := sshtest.Lines(t, env.knownHosts()); len(got) != 1 {
			t.Errorf("%s: a revoked key was recorded: %q", strict, got)
		}
	}

	ca := sshtest.NewClientKey(t)
	certSrv := hostCertServer(t, env, ca, []string{"127.0.0.1"})
	caLine := authorizedKey(ca.PublicKey())
	writeFile(t, env.knownHosts(), "@cert-authority * "+caLine+"\n@revoked * "+caLine+"\n", 0o600)
	err := dialErr(t, env.dialer(), hostOf(certSrv))
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "@revoked in "+env.knownHosts()+":2") {
		t.Errorf("certificate of a revoked CA: got %v", err)
	}
}

// After a CHANGED host key accepted under StrictHostKeyChecking=no, the
// password is never sent (OpenSSH's rule); with the right key it is.
func TestChangedKeyGetsNoPassword(t *testing.T) {
	env := newEnv(t)
	srv := sshtest.Start(t, sshtest.Config{Password: "s3cret"})
	pw := func(o *Options) {
		o.Password = func() ([]byte, error) { return []byte("s3cret"), nil }
	}
	env.knowHost(srv)
	if err := dialErr(t, env.dialer(pw), hostOf(srv)); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	if n := srv.PasswordAttempts(); n != 1 {
		t.Fatalf("the right key: %d password attempts, want 1", n)
	}
	// known_hosts now holds another key for the address.
	other := sshtest.NewClientKey(t)
	line := xkh.Line([]string{xkh.Normalize(srv.Addr)}, other.PublicKey())
	writeFile(t, env.knownHosts(), line+"\n", 0o600)
	var warn strings.Builder
	d := env.dialer(pw, withOverrides("StrictHostKeyChecking", "no"), func(o *Options) { o.Warn = &warn })
	err := dialErr(t, d, hostOf(srv))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "password and keyboard-interactive authentication are disabled") {
		t.Errorf("changed key: got %v, want an authentication failure saying why", err)
	}
	if n := srv.PasswordAttempts(); n != 1 {
		t.Errorf("changed key: the password was sent (%d attempts in all)", n)
	}
	if !strings.Contains(warn.String(), "Password and keyboard-interactive authentication and agent forwarding are disabled") {
		t.Errorf("no warning: %q", warn.String())
	}
	// A key still logs in, as with ssh.
	keySrv := env.server(sshtest.Config{Password: "s3cret"})
	writeFile(t, env.knownHosts(), xkh.Line([]string{xkh.Normalize(keySrv.Addr)}, other.PublicKey())+"\n", 0o600)
	if err := dialErr(t, d, hostOf(keySrv)); err != nil {
		t.Errorf("changed key, public key login: %v", err)
	}
	if n := keySrv.PasswordAttempts(); n != 0 {
		t.Errorf("changed key, public key login: %d password attempts", n)
	}
}

// A host without a certificate, where only a @cert-authority line matches,
// offers its plain key, which is unknown as with ssh: recorded under
// accept-new, refused under yes (not "no common algorithm").
func TestCertAuthorityHostWithoutCertificate(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	ca := sshtest.NewClientKey(t)
	line := "@cert-authority * " + authorizedKey(ca.PublicKey()) + "\n"
	writeFile(t, env.knownHosts(), line, 0o600)
	err := dialErr(t, env.dialer(withOverrides("StrictHostKeyChecking", "yes")), hostOf(srv))
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "not known") {
		t.Errorf("yes: got %v, want a host key failure saying the key is not known", err)
	}
	if err := dialErr(t, env.dialer(), hostOf(srv)); err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	if got := sshtest.Lines(t, env.knownHosts()); len(got) != 2 || !strings.Contains(got[1], strings.Fields(srv.KnownHostsLine())[2]) {
		t.Errorf("accept-new did not record the plain key: %q", got)
	}
}

// Prepare asks for the passphrase of a jump host's encrypted key before the
// run, not under the progress bar when the first host dials through it.
func TestPrepareAsksJumpHostPassphrase(t *testing.T) {
	env := newEnv(t)
	enc := env.encryptedKey("bastion_key")
	cfg := filepath.Join(env.home, "ssh_config")
	writeFile(t, cfg, "Host bastion\n  IdentityFile "+enc+"\n", 0o600)
	var asked []string
	d := env.dialer(func(o *Options) {
		o.ConfigFile = cfg
		o.ProxyJump = "bastion"
		o.Passphrase = func(file string) ([]byte, error) { asked = append(asked, file); return []byte(encryptedKeyPass), nil }
	})
	if err := d.Prepare([]inventory.Host{{Name: "a"}, {Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != enc {
		t.Errorf("passphrases asked during Prepare: %q, want once for %s", asked, enc)
	}
}
