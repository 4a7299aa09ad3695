package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// TestSecretsNeverLeak runs fleet with a login password, with an encrypted
// key and its passphrase, and with a sudo password (right, then wrong), and
// checks that no secret appears in the command line or the environment of
// any process on this machine while the run goes (client and hosts are
// both here), nor in fleet's output, its run record, anything under its
// HOME, or the hosts' sshd logs.
func TestSecretsNeverLeak(t *testing.T) {
	parent(t)
	f := startOwnFleet(t, 2)
	pwHost, keyHost := f.Hosts[0], f.Hosts[1]
	enablePasswordAuth(t, f, pwHost)
	pw := f.Users.PassPassword // fleet-pw's login password, which is also its sudo password
	passphrase := "passphrase-" + randomHex(t)
	wrong := "wrong-sudo-" + randomHex(t)
	secrets := []string{pw, passphrase, wrong}

	dir := t.TempDir()
	pwFile := writeFile(t, filepath.Join(dir, "password"), pw+"\n", 0o600)
	passFile := writeFile(t, filepath.Join(dir, "passphrase"), passphrase+"\n", 0o600)
	wrongFile := writeFile(t, filepath.Join(dir, "wrong"), wrong+"\n", 0o600)
	encKey := encryptedCopy(t, f.Key, passphrase, filepath.Join(dir, "id_encrypted"))
	// No key at all unless --identity names one: the password run must log
	// in with the password, the passphrase run with the decrypted key.
	noKeys := clientConfig(t, "", f.KnownHosts)
	pwUser := f.Users.Pass

	t.Run("login password and sudo password", func(t *testing.T) {
		u := newUser(t)
		sleep := uniqueSleep(1)
		r := runWatchingSecrets(t, u, noKeys, secrets, sleep, "--password-file", pwFile, "--sudo-password-file", pwFile,
			"-H", label(pwUser, pwHost), sleep)
		wantExit(t, r, 0)
		if log := sshdLog(t, f, pwHost); !strings.Contains(log, "Accepted password for "+pwUser) {
			t.Errorf("%s's sshd did not log a password login: the run did not test what it should\n%s", pwHost.Addr, log)
		}
		checkNoSecrets(t, u, f, r, secrets)
	})

	t.Run("key passphrase and sudo password", func(t *testing.T) {
		u := newUser(t)
		sleep := uniqueSleep(1)
		r := runWatchingSecrets(t, u, noKeys, secrets, sleep, "--identity", encKey, "--password-file", passFile,
			"--sudo-password-file", pwFile, "-H", label(pwUser, keyHost), sleep)
		wantExit(t, r, 0)
		if log := sshdLog(t, f, keyHost); !strings.Contains(log, "Accepted publickey for "+pwUser) {
			t.Errorf("%s's sshd did not log a key login\n%s", keyHost.Addr, log)
		}
		checkNoSecrets(t, u, f, r, secrets)
	})

	t.Run("wrong sudo password", func(t *testing.T) {
		u := newUser(t)
		r := runWatchingSecrets(t, u, f.SSHConfig, secrets, "", "--sudo-password-file", wrongFile,
			"-H", label(pwUser, keyHost), "true")
		if r.status != 5 || !strings.Contains(r.stdout, "incorrect sudo password") {
			t.Errorf("want exit status 5 and \"incorrect sudo password\"\n%s", r)
		}
		checkNoSecrets(t, u, f, r, secrets)
	})
}

// runWatchingSecrets runs `fleet run -F config args...` while it scans
// every process of the machine, again and again, for the secrets in its
// command line and environment. When sleep is not "", the run must have
// been seen sleeping as root (through sudo), so that the scan covered the
// processes on the host's side too.
func runWatchingSecrets(t *testing.T, u *user, config string, secrets []string, sleep string, args ...string) result {
	t.Helper()
	w := watchProcesses(secrets, sleep)
	run := u.startOn(config, cmdTimeout, "run", "", args...)
	r := run.wait(cmdTimeout + 5*time.Second)
	hits, sawRoot := w.stop()
	for _, h := range hits {
		t.Errorf("a secret is readable in /proc: %s", h)
	}
	if sleep != "" && !sawRoot {
		t.Errorf("never saw %q running as root: the scan did not cover the run\n%s", sleep, r)
	}
	return r
}

// procWatch scans /proc every 20 ms until stopped.
type procWatch struct {
	secrets []string
	sleep   string
	argv    bool // command lines only, not environments
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	hits    map[string]bool
	sawRoot bool
}

// watchArgv is watchProcesses for command lines only.
func watchArgv(secrets []string, sleep string) *procWatch {
	return startWatch(&procWatch{secrets: secrets, sleep: sleep, argv: true})
}

func watchProcesses(secrets []string, sleep string) *procWatch {
	return startWatch(&procWatch{secrets: secrets, sleep: sleep})
}

func startWatch(w *procWatch) *procWatch {
	w.done, w.hits = make(chan struct{}), map[string]bool{}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		// Bounded: the fleet run it watches is killed after cmdTimeout.
		for deadline := time.Now().Add(2 * cmdTimeout); time.Now().Before(deadline); {
			w.scan()
			select {
			case <-w.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

// stop ends the scan (after one last pass) and returns what it found.
func (w *procWatch) stop() (hits []string, sawRoot bool) {
	close(w.done)
	w.wg.Wait()
	w.scan()
	w.mu.Lock()
	defer w.mu.Unlock()
	for h := range w.hits {
		hits = append(hits, h)
	}
	return hits, w.sawRoot
}

func (w *procWatch) scan() {
	for _, p := range procsMatching("") {
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		w.mu.Lock()
		for _, s := range w.secrets {
			if strings.Contains(p.cmdline, s) {
				w.hits[fmt.Sprintf("pid %d argv: %s", p.pid, p.cmdline)] = true
			}
			if !w.argv && bytes.Contains(environ, []byte(s)) {
				w.hits[fmt.Sprintf("pid %d environment (%s)", p.pid, p.cmdline)] = true
			}
		}
		w.sawRoot = w.sawRoot || w.sleep != "" && p.cmdline == w.sleep && p.uid == 0
		w.mu.Unlock()
	}
}

// checkNoSecrets looks for the secrets in fleet's output, in every file
// under the user's HOME and state folder (run record, logs, known_hosts),
// and in the hosts' sshd logs.
func checkNoSecrets(t *testing.T, u *user, f *harness.Fleet, r result, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("a secret is in fleet's output\n%s", r)
		}
	}
	roots := []string{u.home, u.stateDir}
	for _, h := range f.Hosts {
		roots = append(roots, filepath.Join(f.Dir, "sshd", h.Addr, "sshd.log"))
	}
	files := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("a secret is in %s:\n%s", path, b)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("reading %s: %v", root, err)
		}
	}
	// run.json, a host log and the two sshd logs at the least.
	if files < 4 {
		t.Errorf("only %d files to check: the record is missing", files)
	}
}

// enablePasswordAuth turns on password logins on one host of f: its
// sshd_config is rewritten and its sshd, told by SIGHUP, re-executes itself
// with it (same PID, so the fleet still stops it).
func enablePasswordAuth(t *testing.T, f *harness.Fleet, h harness.Host) {
	t.Helper()
	cfg := filepath.Join(f.Dir, "sshd", h.Addr, "sshd_config")
	old := readString(t, cfg)
	changed := strings.Replace(old, "\nPasswordAuthentication no\n", "\nPasswordAuthentication yes\n", 1)
	if changed == old {
		t.Fatalf("%s has no \"PasswordAuthentication no\" line to change:\n%s", cfg, old)
	}
	writeFile(t, cfg, changed, 0o600)
	starts := strings.Count(sshdLog(t, f, h), "Server listening on")
	if err := syscall.Kill(h.PID, syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to sshd %d: %v", h.PID, err)
	}
	if !eventually(10*time.Second, func() bool { return strings.Count(sshdLog(t, f, h), "Server listening on") > starts }) {
		t.Fatalf("sshd of %s did not restart after SIGHUP:\n%s", h.Addr, sshdLog(t, f, h))
	}
}

// encryptedCopy writes the private key at src to dst encrypted with
// passphrase (in Go, so that the passphrase is in no argv, not even a
// test tool's).
func encryptedCopy(t *testing.T, src, passphrase, dst string) string {
	t.Helper()
	raw, err := ssh.ParseRawPrivateKey([]byte(readString(t, src)))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(raw, "fleet e2e encrypted key", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dst, string(pem.EncodeToMemory(block)), 0o600)
	if _, err := ssh.ParsePrivateKey(pem.EncodeToMemory(block)); err == nil {
		t.Fatalf("%s is not encrypted", path)
	}
	return path
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
