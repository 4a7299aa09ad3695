package fleet

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
)

// certFile is a user certificate read once: from CertificateFile, or the
// <key>-cert.pub that ssh picks up beside an identity file.
type certFile struct {
	path   string
	cert   *ssh.Certificate
	warned bool // a skip was reported; said once per run, not per host
}

// cert reads the certificate at path once; nil when there is none or it
// cannot be used (said once: a CertificateFile that is missing, anything
// that is not a valid user certificate now). A missing <key>-cert.pub is
// not worth a word.
func (k *keyring) cert(path string, explicit bool) *certFile {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.certs[path]; ok {
		if c.cert == nil {
			return nil
		}
		return c
	}
	c := &certFile{path: path}
	k.certs[path] = c
	b, err := os.ReadFile(path)
	if err != nil {
		if explicit || !errors.Is(err, os.ErrNotExist) {
			k.warn(fmt.Sprintf("certificate %s: %v", path, err))
		}
		return nil
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		k.warn(fmt.Sprintf("certificate %s skipped: %v", path, err))
		return nil
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		k.warn(fmt.Sprintf("certificate %s skipped: it holds a plain %s key, not a certificate", path, pub.Type()))
		return nil
	}
	if err := usableUserCert(cert, time.Now()); err != nil {
		k.warn(fmt.Sprintf("certificate %s skipped: %v", path, err))
		return nil
	}
	c.cert = cert
	return c
}

// usableUserCert says why cert cannot log in now, if it cannot: sshd would
// refuse it, and offering it would spend one of MaxAuthTries.
func usableUserCert(cert *ssh.Certificate, now time.Time) error {
	if cert.CertType != ssh.UserCert {
		return errors.New("it is a host certificate, not a user certificate")
	}
	unix := uint64(now.Unix())
	if unix < cert.ValidAfter {
		return fmt.Errorf("it is not valid before %s", time.Unix(int64(cert.ValidAfter), 0).UTC().Format(time.RFC3339))
	}
	if cert.ValidBefore != ssh.CertTimeInfinity && unix >= cert.ValidBefore {
		return fmt.Errorf("it expired at %s", time.Unix(int64(cert.ValidBefore), 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// warnOnce reports a certificate's problem the first time only.
func (k *keyring) warnOnce(c *certFile, msg string) {
	k.mu.Lock()
	done := c.warned
	c.warned = true
	k.mu.Unlock()
	if !done {
		k.warn(msg)
	}
}

// certSigner signs with s as the certificate c; nil (said once) when c does
// not certify s's key.
func (k *keyring) certSigner(c *certFile, s ssh.Signer) ssh.Signer {
	cs, err := ssh.NewCertSigner(c.cert, s)
	if err != nil {
		k.warnOnce(c, fmt.Sprintf("certificate %s skipped: %v", c.path, err))
		return nil
	}
	return cs
}
