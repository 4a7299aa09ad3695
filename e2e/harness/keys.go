package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// writeKeys generates the client key and one host key per host with
// ssh-keygen (it comes with openssh-client, which openssh-server pulls in)
// and writes the client-side files derived from them: known_hosts,
// ssh_config and the pssh host file.
func (f *Fleet) writeKeys(ctx context.Context) error {
	f.Key = filepath.Join(f.Dir, "id_ed25519")
	if err := keygen(ctx, f.Key, "ed25519", "fleet-e2e-client"); err != nil {
		return err
	}
	var known, hosts strings.Builder
	for _, h := range f.Hosts {
		dir := f.hostDir(h)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("harness: host %s: %w", h.Addr, err)
		}
		key := filepath.Join(dir, "ssh_host_ed25519_key")
		if err := keygen(ctx, key, "ed25519", "fleet-e2e-host-"+h.Addr); err != nil {
			return err
		}
		// sshd also offers an ECDSA key that known_hosts does not list:
		// x/crypto prefers ECDSA, so every e2e run checks that fleet asks
		// for the algorithm of the key it knows (golang/go#29286).
		if err := keygen(ctx, filepath.Join(dir, "ssh_host_ecdsa_key"), "ecdsa", "fleet-e2e-host-"+h.Addr); err != nil {
			return err
		}
		pub, err := os.ReadFile(key + ".pub")
		if err != nil {
			return fmt.Errorf("harness: host %s: %w", h.Addr, err)
		}
		// Drop the comment: known_hosts lines are "host keytype key".
		fields := strings.Fields(string(pub))
		if len(fields) < 2 {
			return fmt.Errorf("harness: host %s: malformed public key %q", h.Addr, pub)
		}
		fmt.Fprintf(&known, "%s %s %s\n", knownHostsName(h), fields[0], fields[1])
		fmt.Fprintf(&hosts, "%s@%s\n", f.Users.NoPass, h.HostPort())
	}
	f.KnownHosts = filepath.Join(f.Dir, "known_hosts")
	if err := writeFile(f.KnownHosts, known.String(), 0o600); err != nil {
		return err
	}
	f.HostsFile = filepath.Join(f.Dir, "hosts")
	if err := writeFile(f.HostsFile, hosts.String(), 0o644); err != nil {
		return err
	}
	f.SSHConfig = filepath.Join(f.Dir, "ssh_config")
	return writeFile(f.SSHConfig, f.sshConfig(), 0o600)
}

// sshConfig is the client configuration that makes plain `ssh -F` (and
// fleet) trust exactly the fleet's hosts with the fleet's key. BatchMode and
// ConnectTimeout keep a broken test from hanging on a prompt or a dead host.
// GlobalKnownHostsFile is /dev/null so the machine's own known hosts can
// neither help nor contradict.
func (f *Fleet) sshConfig() string {
	return fmt.Sprintf(`# Written by github.com/fleet-sh/fleet/e2e/harness for the fleet in %s
Host *
  IdentityFile %s
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  IdentitiesOnly yes
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
`, f.Dir, configQuote(f.Key), configQuote(f.KnownHosts))
}

// knownHostsName is how ssh names a host in known_hosts: bare for port 22,
// "[addr]:port" otherwise.
func knownHostsName(h Host) string {
	if h.Port == 22 {
		return h.Addr
	}
	return "[" + h.Addr + "]:" + strconv.Itoa(h.Port)
}

// hostDir holds one host's key, config, pid file and log.
func (f *Fleet) hostDir(h Host) string {
	return filepath.Join(f.Dir, "sshd", h.Addr)
}

// keygen writes an unencrypted key pair of type kind at path (mode 0600),
// first removing an old one since ssh-keygen would otherwise ask to
// overwrite.
func keygen(ctx context.Context, path, kind, comment string) error {
	for _, p := range []string{path, path + ".pub"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("harness: keygen: %w", err)
		}
	}
	if _, err := run(ctx, "", keygenPath, "-q", "-t", kind, "-N", "", "-C", comment, "-f", path); err != nil {
		return fmt.Errorf("harness: keygen: %w", err)
	}
	return os.Chmod(path, 0o600)
}

// configQuote quotes a path for ssh_config/sshd_config only when needed,
// since some config parsers keep quotes literally.
func configQuote(s string) string {
	if strings.ContainsAny(s, " \t\"'") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}
