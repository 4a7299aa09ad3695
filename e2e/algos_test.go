package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// cryptoPolicyDefault is /etc/crypto-policies/back-ends/openssh.config as
// the DEFAULT policy of crypto-policies writes it on Fedora 39+ and RHEL 9.
const cryptoPolicyDefault = `Ciphers aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr,aes128-gcm@openssh.com,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha1,umac-128@openssh.com,hmac-sha2-512
GSSAPIKexAlgorithms gss-curve25519-sha256-,gss-nistp256-sha256-,gss-group14-sha256-,gss-group16-sha512-
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
HostKeyAlgorithms ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521,ecdsa-sha2-nistp521-cert-v01@openssh.com,ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,rsa-sha2-256,rsa-sha2-256-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com
PubkeyAcceptedAlgorithms ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521,ecdsa-sha2-nistp521-cert-v01@openssh.com,ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,rsa-sha2-256,rsa-sha2-256-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com
CASignatureAlgorithms ecdsa-sha2-nistp256,sk-ecdsa-sha2-nistp256@openssh.com,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-ed25519,sk-ssh-ed25519@openssh.com,rsa-sha2-256,rsa-sha2-512
RequiredRSASize 2048
`

// algoConfig is the harness's ssh_config with more lines first (first
// value wins) and known_hosts for an extra sshd.
func algoConfig(t *testing.T, h harness.Host, first string) string {
	t.Helper()
	dir := t.TempDir()
	kh := writeFile(t, filepath.Join(dir, "known_hosts"), khName(h)+" "+hostKeyLine(t, h)+"\n", 0o600)
	return writeFile(t, filepath.Join(dir, "ssh_config"), first+"Host *\n  UserKnownHostsFile "+kh+"\n"+readString(t, testFleet.SSHConfig), 0o600)
}

// sshTrue runs the real ssh with config against h and returns its stderr
// and whether it succeeded: fleet must fail where ssh fails.
func sshTrue(t *testing.T, config, user string, h harness.Host) (string, bool) {
	t.Helper()
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ssh, "-F", config, "-o", "BatchMode=yes", "-p", strconv.Itoa(h.Port), user+"@"+h.Addr, "true").CombinedOutput()
	return string(out), err == nil
}

// TestSSHAlgorithms: the algorithm keys of ssh_config are honoured against
// a real sshd: a crypto-policies DEFAULT back-end through Match final all +
// Include runs, and is applied (an sshd offering only a cipher the policy
// leaves out is refused, as ssh refuses it); Ciphers and HostKeyAlgorithms
// with nothing in common with the sshd fail with ssh's reason; -O Ciphers
// wins over the file.
func TestSSHAlgorithms(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	policy := func(t *testing.T) string {
		dir := t.TempDir()
		back := writeFile(t, filepath.Join(dir, "openssh.config"), cryptoPolicyDefault, 0o644)
		return writeFile(t, filepath.Join(dir, "50-redhat.conf"), "Match final all\n\tInclude "+back+"\n\tGSSAPIAuthentication yes\n\tForwardX11Trusted yes\n", 0o644)
	}

	t.Run("a crypto-policies DEFAULT back-end runs and is applied", func(t *testing.T) {
		u := setup(t)
		h := testFleet.Hosts[0]
		inc := policy(t)
		cfg := writeFile(t, filepath.Join(t.TempDir(), "ssh_config"), "Include "+inc+"\n"+readString(t, testFleet.SSHConfig), 0o600)
		r := u.runOn(cfg, "-H", hostArg(np, h), "-i", "echo policy-ok")
		if r.status != 0 || !strings.Contains(r.stdout, "policy-ok") {
			t.Fatalf("with the crypto policy: want exit status 0 and the output\n%s", r)
		}
		// aes192-ctr is in x/crypto's defaults and OpenSSH's, not in the
		// policy: an sshd offering only it is refused by ssh and fleet.
		sshd := extraSSHD(t, h, "Ciphers aes192-ctr")
		cfg = algoConfig(t, sshd.Host, "Include "+inc+"\n")
		if out, ok := sshTrue(t, cfg, np, sshd.Host); ok || !strings.Contains(out, "no matching cipher found") {
			t.Fatalf("ssh should refuse the sshd: %s", out)
		}
		r = u.runOn(cfg, "-H", hostArg(np, sshd.Host), "true")
		if r.status == 0 || !strings.Contains(r.stdout+r.stderr, "no matching cipher found") {
			t.Fatalf("the policy was not applied: want no matching cipher\n%s", r)
		}
		// Without the policy the same sshd is fine: the failure was the policy's.
		r = u.runOn(algoConfig(t, sshd.Host, ""), "-H", hostArg(np, sshd.Host), "true")
		mustExit(t, r, 0, "without the policy")
	})

	t.Run("Ciphers with none in common fails with a readable reason; -O Ciphers wins", func(t *testing.T) {
		u := setup(t)
		sshd := extraSSHD(t, testFleet.Hosts[0], "Ciphers aes256-gcm@openssh.com")
		cfg := algoConfig(t, sshd.Host, "Host *\n  Ciphers aes128-ctr\n")
		if out, ok := sshTrue(t, cfg, np, sshd.Host); ok || !strings.Contains(out, "no matching cipher found") {
			t.Fatalf("ssh should fail: %s", out)
		}
		r := u.runOn(cfg, "-H", hostArg(np, sshd.Host), "true")
		out := r.stdout + r.stderr
		if r.status == 0 || !strings.Contains(out, "no matching cipher found: fleet offered aes128-ctr; the host offers aes256-gcm@openssh.com") {
			t.Fatalf("want the cipher reason\n%s", r)
		}
		if strings.Contains(out, "we offered") || strings.Contains(out, "[\"") {
			t.Errorf("x/crypto's raw message leaked:\n%s", r)
		}
		r = u.runOn(cfg, "-O", "Ciphers=aes256-gcm@openssh.com", "-H", hostArg(np, sshd.Host), "-i", "echo cipher-ok")
		if r.status != 0 || !strings.Contains(r.stdout, "cipher-ok") {
			t.Fatalf("-O Ciphers=aes256-gcm@openssh.com: want exit status 0\n%s", r)
		}
	})

	t.Run("HostKeyAlgorithms -ssh-ed25519* against an ed25519-only sshd fails like ssh", func(t *testing.T) {
		u := setup(t)
		sshd := extraSSHD(t, testFleet.Hosts[0], "HostKeyAlgorithms ssh-ed25519")
		cfg := algoConfig(t, sshd.Host, "Host *\n  HostKeyAlgorithms -ssh-ed25519*\n")
		if out, ok := sshTrue(t, cfg, np, sshd.Host); ok || !strings.Contains(out, "no matching host key type found") {
			t.Fatalf("ssh should fail: %s", out)
		}
		r := u.runOn(cfg, "-H", hostArg(np, sshd.Host), "true")
		if r.status == 0 || !strings.Contains(r.stdout+r.stderr, "no matching host key type found") || !strings.Contains(r.stdout+r.stderr, "the host offers ssh-ed25519") {
			t.Fatalf("want no matching host key type\n%s", r)
		}
		// The same sshd with the default list is fine.
		r = u.runOn(algoConfig(t, sshd.Host, ""), "-H", hostArg(np, sshd.Host), "true")
		mustExit(t, r, 0, "default HostKeyAlgorithms")
	})

	t.Run("RequiredRSASize refuses a small RSA host key; PubkeyAcceptedAlgorithms decides the keys offered", func(t *testing.T) {
		u := setup(t)
		dir := t.TempDir()
		rsaKey := filepath.Join(dir, "ssh_host_rsa_key")
		keygen(t, "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", rsaKey)
		sshd := extraSSHD(t, testFleet.Hosts[0], "HostKey "+rsaKey+"\nHostKeyAlgorithms rsa-sha2-512,rsa-sha2-256")
		h := sshd.Host
		f := strings.Fields(readString(t, rsaKey+".pub"))
		kh := writeFile(t, filepath.Join(dir, "known_hosts"), khName(h)+" "+f[0]+" "+f[1]+"\n", 0o600)
		cfg := func(lines string) string {
			return writeFile(t, filepath.Join(t.TempDir(), "ssh_config"), "Host *\n  UserKnownHostsFile "+kh+"\n"+lines+readString(t, testFleet.SSHConfig), 0o600)
		}
		mustExit(t, u.runOn(cfg(""), "-H", hostArg(np, h), "true"), 0, "1024-bit RSA host key under the default RequiredRSASize 1024")
		big := cfg("  RequiredRSASize 2048\n")
		if out, ok := sshTrue(t, big, np, h); ok {
			t.Fatalf("ssh should refuse the 1024-bit host key: %s", out)
		}
		r := u.runOn(big, "-H", hostArg(np, h), "true")
		if r.status == 0 || !strings.Contains(r.stdout, "is a 1024-bit RSA key, smaller than RequiredRSASize 2048") {
			t.Fatalf("want the RSA size refusal\n%s", r)
		}
		// The harness key is ed25519: a list without it offers nothing.
		noEd := cfg("  PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256\n")
		if out, ok := sshTrue(t, noEd, np, h); ok {
			t.Fatalf("ssh should not offer the ed25519 key: %s", out)
		}
		before := len(readString(t, sshd.Log()))
		r = u.runOn(noEd, "-H", hostArg(np, h), "true")
		if r.status == 0 || !strings.Contains(r.stderr, "not offered: PubkeyAcceptedAlgorithms does not allow ssh-ed25519") {
			t.Fatalf("want an authentication failure with the key not offered\n%s", r)
		}
		if log := readString(t, sshd.Log())[before:]; strings.Contains(log, "Accepted key") || strings.Contains(log, "Accepted publickey") {
			t.Errorf("sshd accepted a key fleet should not have offered:\n%s", log)
		}
	})
}
