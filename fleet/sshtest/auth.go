package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// serverVersion names this server honestly: pretending to be OpenSSH would
// invite version-sniffing code paths that the tests do not mean to exercise.
const serverVersion = "SSH-2.0-fleet_sshtest"

// NewClientKey returns a fresh ed25519 signer for a test client; pass its
// PublicKey() in Config.AuthorizedKeys to let it in.
func NewClientKey(t testing.TB) ssh.Signer {
	t.Helper()
	signer, err := generateSigner()
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// generateSigner returns a fresh ed25519 signer.
func generateSigner() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshtest: generate ed25519 key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sshtest: ed25519 signer: %w", err)
	}
	return signer, nil
}

// serverConfig builds the x/crypto server configuration from s.cfg.
//
// Public-key auth is always offered, even with no authorized keys, so that
// a client offering keys gets ordinary failures (and the failure counter
// runs) instead of x/crypto's "no authentication methods available". The
// "none" method always fails because NoClientAuth stays false.
func (s *Server) serverConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		MaxAuthTries:  s.cfg.MaxAuthTries, // x/crypto also maps 0 to 6
		ServerVersion: serverVersion,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if cert, ok := key.(*ssh.Certificate); ok && len(s.cfg.UserCAs) > 0 {
				return s.checkUserCert(meta, cert)
			}
			if slices.ContainsFunc(s.cfg.AuthorizedKeys, sameKey(key)) {
				return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": ssh.FingerprintSHA256(key)}}, nil
			}
			return nil, fmt.Errorf("sshtest: public key %s not authorized", ssh.FingerprintSHA256(key))
		},
	}
	if s.cfg.Password != "" {
		want := []byte(s.cfg.Password)
		cfg.PasswordCallback = func(_ ssh.ConnMetadata, got []byte) (*ssh.Permissions, error) {
			s.passwords.Add(1)
			if subtle.ConstantTimeCompare(got, want) == 1 {
				return nil, nil
			}
			return nil, errors.New("sshtest: wrong password")
		}
	}
	cfg.AddHostKey(s.cfg.HostKey)
	return cfg
}

// checkUserCert accepts a user certificate signed by one of the UserCAs,
// valid now and for the user name (a certificate without principals is
// valid for any).
func (s *Server) checkUserCert(meta ssh.ConnMetadata, cert *ssh.Certificate) (*ssh.Permissions, error) {
	checker := ssh.CertChecker{IsUserAuthority: func(auth ssh.PublicKey) bool {
		return slices.ContainsFunc(s.cfg.UserCAs, sameKey(auth))
	}}
	if !checker.IsUserAuthority(cert.SignatureKey) {
		return nil, fmt.Errorf("sshtest: certificate signed by an unknown authority")
	}
	if err := checker.CheckCert(meta.User(), cert); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": ssh.FingerprintSHA256(cert)}}, nil
}

// sameKey returns a test for keys equal to k by their wire encoding.
func sameKey(k ssh.PublicKey) func(ssh.PublicKey) bool {
	wire := k.Marshal()
	return func(other ssh.PublicKey) bool { return bytes.Equal(other.Marshal(), wire) }
}

// PasswordAttempts is how many passwords clients have sent, right or wrong.
func (s *Server) PasswordAttempts() int64 { return s.passwords.Load() }
