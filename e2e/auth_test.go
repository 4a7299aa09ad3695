package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/ptytest"
)

// TestAuthentication: an encrypted key's passphrase asked once at a
// terminal, no password for a host whose key CHANGED, agent forwarding.
func TestAuthentication(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass

	t.Run("an encrypted key's passphrase is asked once at a terminal for 20 hosts", func(t *testing.T) {
		u := setup(t)
		passphrase := "pp-" + randomHex(t)
		enc := encryptedCopy(t, testFleet.Key, passphrase, filepath.Join(t.TempDir(), "id_encrypted"))
		config := clientConfig(t, enc, testFleet.KnownHosts)
		var hosts []any
		for i := 0; i < 5; i++ {
			for _, h := range testFleet.Hosts {
				hosts = append(hosts, h)
			}
		}
		args := []string{"run", "-F", config, "-p", "20", "-H", hostArg(np, hosts...), "true"}

		tty := ptytest.Open(t)
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		cmd := u.command(ctx, []string{"NO_COLOR=1", "TERM=xterm"}, args...)
		var stdout bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty.Slave, &stdout, tty.Slave
		// The pty is fleet's controlling terminal, as a person's is.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		seen := tty.Seen
		if !eventually(15*time.Second, func() bool { return strings.Contains(seen(), "Enter passphrase for key '"+enc+"'") }) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no passphrase prompt on the terminal:\n%s\nstdout:\n%s", seen(), stdout.String())
		}
		if _, err := tty.Master.Write([]byte(passphrase + "\n")); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		out := tty.Output()
		r := result{args: args, stdout: stdout.String(), stderr: out}
		if err != nil {
			t.Fatalf("fleet: %v\n%s", err, r)
		}
		if n := strings.Count(out, "Enter passphrase"); n != 1 {
			t.Errorf("%d passphrase prompts, want 1\n%s", n, r)
		}
		// With a terminal, status lines are short ("[SUCCESS] label").
		if n := strings.Count(r.stdout, "[SUCCESS] "+np+"@"); n != 20 || strings.Contains(r.stdout, "[FAILURE]") {
			t.Errorf("%d hosts succeeded, want 20\n%s", n, r)
		}
		if strings.Contains(out+r.stdout, passphrase) {
			t.Errorf("the passphrase was shown\n%s", r)
		}
		noSecretIn(t, passphrase, u.stateDir, u.home)
	})

	t.Run("without a terminal an encrypted key is skipped, saying how to use it", func(t *testing.T) {
		u := setup(t)
		enc := encryptedCopy(t, testFleet.Key, "pp-"+randomHex(t), filepath.Join(t.TempDir(), "id_encrypted"))
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		cmd := u.command(ctx, nil, "run", "-F", clientConfig(t, enc, testFleet.KnownHosts), "-H", hostArg(np, testFleet.Hosts[0]), "true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "is encrypted and no passphrase can be asked") ||
			!strings.Contains(stderr.String(), "ssh-agent or use -A") {
			t.Errorf("want a failure and a warning naming ssh-agent and -A: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	})

	t.Run("no password is sent to a host whose key CHANGED, under StrictHostKeyChecking=no", func(t *testing.T) {
		u := setup(t)
		pwUser := testFleet.Users.Pass
		sshd := extraSSHD(t, testFleet.Hosts[1], "PasswordAuthentication yes")
		h := sshd.Host
		dir := t.TempDir()
		pwFile := writeFile(t, filepath.Join(dir, "password"), testFleet.Users.PassPassword+"\n", 0o600)
		right := writeFile(t, filepath.Join(dir, "right"), khName(h)+" "+hostKeyLine(t, h)+"\n", 0o600)
		// Host 2's key under host 1's name: as if a man in the middle answered.
		wrong := writeFile(t, filepath.Join(dir, "wrong"), khName(h)+" "+hostKeyLine(t, testFleet.Hosts[2])+"\n", 0o600)
		passwordLines := func() int { return strings.Count(readString(t, sshd.Log()), "password for "+pwUser) }

		r := u.runOn(clientConfig(t, "", right), "--password-file", pwFile, "-H", hostArg(pwUser, h), "true")
		if r.status != 0 || !strings.Contains(readString(t, sshd.Log()), "Accepted password for "+pwUser) {
			t.Fatalf("the right key: want a password login\n%s\nsshd log:\n%s", r, readString(t, sshd.Log()))
		}
		before := passwordLines()
		r = u.runOn(clientConfig(t, "", wrong), "-O", "StrictHostKeyChecking=no", "--password-file", pwFile, "-H", hostArg(pwUser, h), "true")
		if r.status == 0 || !strings.Contains(r.stdout, "password and keyboard-interactive authentication are disabled") {
			t.Errorf("changed key: want a failure saying the password was withheld\n%s", r)
		}
		if !strings.Contains(r.stderr, "avoid man-in-the-middle attacks") {
			t.Errorf("changed key: no warning\n%s", r)
		}
		// Give sshd a moment to log anything it received.
		time.Sleep(200 * time.Millisecond)
		if after := passwordLines(); after != before {
			t.Errorf("the password reached the host whose key changed:\n%s", readString(t, sshd.Log()))
		}
	})

	t.Run("-x -A forwards the agent, fleet's own -A stays askpass", func(t *testing.T) {
		u := setup(t)
		sock := startAgent(t, testFleet.Key)
		u.env = []string{"SSH_AUTH_SOCK=" + sock}
		fp := fingerprint(t, testFleet.Key+".pub")
		h := testFleet.Hosts[0]
		for _, args := range [][]string{{"-x", "-A"}, {"-O", "ForwardAgent=yes"}} {
			r := u.run(append(args, "-i", "-H", hostArg(np, h), "ssh-add -l")...)
			if r.status != 0 || !strings.Contains(r.stdout, fp) {
				t.Errorf("%v: want the agent's key listed on the host (%s)\n%s", args, fp, r)
			}
		}
		r := u.run("-i", "-H", hostArg(np, h), "ssh-add -l")
		if r.status == 0 || strings.Contains(r.stdout, fp) {
			t.Errorf("without forwarding: the host reached the agent\n%s", r)
		}
		r = u.run("-x", "-A", "-O", "IdentityAgent=none", "-i", "-H", hostArg(np, h), "ssh-add -l")
		if strings.Contains(r.stdout, fp) || !strings.Contains(r.stderr, "no agent to forward") {
			t.Errorf("IdentityAgent none: want no forwarding and a warning\n%s", r)
		}
	})
}

// startAgent runs an ssh-agent holding key until the test ends.
func startAgent(t *testing.T, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	if !eventually(5*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatal("ssh-agent did not create its socket")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	add := exec.CommandContext(ctx, "ssh-add", key)
	add.Env = []string{"SSH_AUTH_SOCK=" + sock}
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	return sock
}

// fingerprint is ssh-keygen -l's SHA256 fingerprint of a public key file.
func fingerprint(t *testing.T, pub string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-f", pub).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -l: %q", out)
	}
	return f[1]
}
