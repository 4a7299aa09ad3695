package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// keygen runs ssh-keygen with args, failing the test on an error.
func keygen(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newKey writes a fresh unencrypted ed25519 key pair at path.
func newKey(t *testing.T, path string) string {
	t.Helper()
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "fleet-e2e-certs", "-f", path)
	return path
}

// extraSSHD starts one more sshd on h's address with extra sshd_config
// lines first, stopped when the test ends.
func extraSSHD(t *testing.T, h harness.Host, extra string) *harness.SSHD {
	t.Helper()
	l, err := net.Listen("tcp", h.Addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := testFleet.StartSSHD(ctx, h, port, extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// hostKeyLine is h's ed25519 host key as "type base64".
func hostKeyLine(t *testing.T, h harness.Host) string {
	t.Helper()
	f := strings.Fields(readString(t, filepath.Join(testFleet.Dir, "sshd", h.Addr, "ssh_host_ed25519_key.pub")))
	if len(f) < 2 {
		t.Fatalf("no host key for %s", h.Addr)
	}
	return f[0] + " " + f[1]
}

// khName is how known_hosts names addr:port.
func khName(h harness.Host) string { return fmt.Sprintf("[%s]:%d", h.Addr, h.Port) }

// clientConfig is an ssh_config like the harness's, with this test's
// identity (none for "") and known_hosts, and more lines.
func clientConfig(t *testing.T, identity, known string, more ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Host *\n")
	if identity != "" {
		fmt.Fprintf(&b, "  IdentityFile %s\n", identity)
	}
	fmt.Fprintf(&b, "  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n", known)
	for _, m := range more {
		b.WriteString("  " + m + "\n")
	}
	return writeFile(t, filepath.Join(t.TempDir(), "ssh_config"), b.String(), 0o600)
}

// runOn runs `fleet run -F config args...` to its end.
func (u *user) runOn(config string, args ...string) result {
	u.t.Helper()
	return u.startOn(config, cmdTimeout, "run", "", args...).wait(cmdTimeout + 5*time.Second)
}

// TestCertificates: user certificates against an sshd with
// TrustedUserCAKeys, host certificates through @cert-authority, @revoked.
func TestCertificates(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass

	t.Run("a user certificate logs in, beside the key or as CertificateFile", func(t *testing.T) {
		u := setup(t)
		dir := t.TempDir()
		ca := newKey(t, filepath.Join(dir, "user_ca"))
		key := newKey(t, filepath.Join(dir, "id_user")) // authorized nowhere
		keygen(t, "-q", "-s", ca, "-I", "fleet-e2e-user", "-n", np, "-V", "-5m:+1h", key+".pub")
		sshd := extraSSHD(t, testFleet.Hosts[0], "TrustedUserCAKeys "+ca+".pub")
		h := sshd.Host
		kh := writeFile(t, filepath.Join(dir, "known_hosts"), khName(h)+" "+hostKeyLine(t, h)+"\n", 0o600)

		r := u.runOn(clientConfig(t, key, kh), "-H", hostArg(np, h), "true")
		mustExit(t, r, 0, "%s-cert.pub beside the key", key)
		if log := readString(t, sshd.Log()); !strings.Contains(log, "Accepted publickey for "+np) || !strings.Contains(log, "ED25519-CERT") {
			t.Errorf("sshd did not log a certificate login:\n%s", log)
		}
		// The certificate elsewhere: only CertificateFile names it.
		moved := filepath.Join(dir, "elsewhere-cert.pub")
		if err := os.Rename(key+"-cert.pub", moved); err != nil {
			t.Fatal(err)
		}
		r = u.runOn(clientConfig(t, key, kh), "-H", hostArg(np, h), "true")
		if r.status == 0 {
			t.Fatalf("no certificate: want a failure (the key alone is not authorized)\n%s", r)
		}
		r = u.runOn(clientConfig(t, key, kh, "CertificateFile "+moved), "-H", hostArg(np, h), "true")
		wantExit(t, r, 0, "CertificateFile")
		r = u.runOn(clientConfig(t, key, kh), "-O", "CertificateFile="+moved, "-H", hostArg(np, h), "true")
		wantExit(t, r, 0, "-O CertificateFile")
	})

	t.Run("an expired user certificate is skipped with a warning", func(t *testing.T) {
		u := setup(t)
		dir := t.TempDir()
		ca := newKey(t, filepath.Join(dir, "user_ca"))
		key := newKey(t, filepath.Join(dir, "id_user"))
		keygen(t, "-q", "-s", ca, "-I", "fleet-e2e-old", "-n", np, "-V", "20200101:20200102", key+".pub")
		sshd := extraSSHD(t, testFleet.Hosts[0], "TrustedUserCAKeys "+ca+".pub")
		kh := writeFile(t, filepath.Join(dir, "known_hosts"), khName(sshd.Host)+" "+hostKeyLine(t, sshd.Host)+"\n", 0o600)
		r := u.runOn(clientConfig(t, key, kh), "-H", hostArg(np, sshd.Host), "true")
		if r.status == 0 || !strings.Contains(r.stderr, "certificate "+key+"-cert.pub skipped: it expired") {
			t.Errorf("want a failure and a warning that the certificate expired\n%s", r)
		}
	})

	t.Run("a host certificate is trusted through @cert-authority", func(t *testing.T) {
		u := setup(t)
		dir := t.TempDir()
		ca := newKey(t, filepath.Join(dir, "host_ca"))
		h0 := testFleet.Hosts[0]
		pub := writeFile(t, filepath.Join(dir, "host.pub"), hostKeyLine(t, h0)+"\n", 0o644)
		keygen(t, "-q", "-s", ca, "-h", "-I", "fleet-e2e-host", "-n", h0.Addr, pub)
		sshd := extraSSHD(t, h0, "HostCertificate "+filepath.Join(dir, "host-cert.pub"))
		h := sshd.Host
		caPub := strings.Join(strings.Fields(readString(t, ca+".pub"))[:2], " ")
		kh := writeFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("@cert-authority [127.0.*]:%d %s\n", h.Port, caPub), 0o600)
		before := readString(t, kh)
		config := clientConfig(t, testFleet.Key, kh)

		// OpenSSH itself trusts it with this known_hosts: the reference.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "ssh", "-F", config, "-p", strconv.Itoa(h.Port), np+"@"+h.Addr, "true").CombinedOutput(); err != nil {
			t.Fatalf("ssh itself refuses the host certificate: %v\n%s", err, out)
		}
		r := u.runOn(config, "-H", hostArg(np, h), "true")
		mustExit(t, r, 0, "host certificate with StrictHostKeyChecking=yes")
		if after := readString(t, kh); after != before {
			t.Errorf("known_hosts changed:\n%s", after)
		}
		// Another CA's line: not trusted, not recorded.
		other := newKey(t, filepath.Join(dir, "other_ca"))
		otherPub := strings.Join(strings.Fields(readString(t, other+".pub"))[:2], " ")
		kh2 := writeFile(t, filepath.Join(dir, "known_hosts2"), fmt.Sprintf("@cert-authority [127.0.*]:%d %s\n", h.Port, otherPub), 0o600)
		r = u.runOn(clientConfig(t, testFleet.Key, kh2), "-H", hostArg(np, h), "true")
		wantExit(t, r, 4, "a certificate of another CA")
	})

	t.Run("a host key marked @revoked is refused, even under StrictHostKeyChecking=no", func(t *testing.T) {
		u := setup(t)
		h0 := testFleet.Hosts[0]
		content := "@revoked * " + hostKeyLine(t, h0) + "\n" + readString(t, testFleet.KnownHosts)
		for _, strict := range []string{"yes", "accept-new", "no"} {
			kh := writeFile(t, filepath.Join(t.TempDir(), "known_hosts"), content, 0o600)
			r := u.run("-O", "UserKnownHostsFile="+kh, "-O", "StrictHostKeyChecking="+strict, "-h", testFleet.HostsFile, "true")
			got := statuses(t, r.stdout)
			for i, l := range allLabels(np) {
				s := got[l]
				if i == 0 && (s.ok || !strings.Contains(s.reason, "marked @revoked in "+kh+":1")) {
					t.Errorf("%s: %s: want [FAILURE] ... marked @revoked in %s:1, got %+v\n%s", strict, l, kh, s, r)
				}
				if i != 0 && !s.ok {
					t.Errorf("%s: %s: want [SUCCESS], got %+v\n%s", strict, l, s, r)
				}
			}
			wantExit(t, r, 4, "%s", strict)
			if b := readString(t, kh); b != content {
				t.Errorf("%s: known_hosts changed:\n%s", strict, b)
			}
		}
	})
}
