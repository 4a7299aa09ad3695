package sshtest

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestExitStatusStreamsAndStdin: a command's exit status or killing
// signal, its stdout and stderr apart, and its stdin, each session on one
// connection.
func TestExitStatusStreamsAndStdin(t *testing.T) {
	srv, c := startWithKey(t, Config{})
	in := strings.Repeat("hello fleet\n", 10000)
	tests := []struct {
		cmd, stdin, stdout, stderr string
		status                     int
		signal                     string
	}{
		{cmd: "exit 0"},
		{cmd: "exit 3", status: 3},
		{cmd: "echo out; echo err >&2; echo out2", stdout: "out\nout2\n", stderr: "err\n"},
		{cmd: "kill -TERM $$", status: 143, signal: "TERM"},
		{cmd: "cat", stdin: in, stdout: in},
	}
	var cmds []string
	for _, tt := range tests {
		cmds = append(cmds, tt.cmd)
		stdout, stderr, err := run(t, c, tt.cmd, strings.NewReader(tt.stdin))
		var ee *ssh.ExitError
		if tt.status == 0 && err != nil || tt.status != 0 &&
			(!errors.As(err, &ee) || ee.ExitStatus() != tt.status || ee.Signal() != tt.signal) {
			t.Errorf("%s: got %#v, want exit status %d and signal %q", tt.cmd, err, tt.status, tt.signal)
		}
		if stdout != tt.stdout || stderr != tt.stderr {
			t.Errorf("%s: stdout=%.80q (%d bytes) stderr=%q, want %.80q (%d bytes) and %q",
				tt.cmd, stdout, len(stdout), stderr, tt.stdout, len(tt.stdout), tt.stderr)
		}
	}
	if got := srv.Commands(); strings.Join(got, "|") != strings.Join(cmds, "|") {
		t.Errorf("Commands() = %q, want %q", got, cmds)
	}
	if srv.Accepted() != 1 || srv.Handshakes() != 1 {
		t.Errorf("Accepted=%d Handshakes=%d, want 1 and 1", srv.Accepted(), srv.Handshakes())
	}
}

func TestSignalRequestReachesGroup(t *testing.T) {
	_, c := startWithKey(t, Config{})
	// The shell waits for a child, so only a group signal ends it at once.
	sess, pid := startPID(t, c, "echo $$; sleep 30; true", false)
	if err := sess.Signal(ssh.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var ee *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &ee) || ee.Signal() != "USR1" {
		t.Fatalf("got %v, want ExitError with signal USR1", err)
	}
	if !ProcessGone(pid) {
		t.Errorf("shell %d still alive", pid)
	}
}

func TestLargeOutput(t *testing.T) {
	_, c := startWithKey(t, Config{})
	sess := openSession(t, c)
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("head -c 10000000 /dev/zero"); err != nil {
		t.Fatal(err)
	}
	var n, nonzero int
	buf := make([]byte, 64<<10)
	for {
		k, err := out.Read(buf)
		for _, b := range buf[:k] {
			if b != 0 {
				nonzero++
			}
		}
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sess.Wait(); err != nil {
		t.Fatal(err)
	}
	if n != 10_000_000 || nonzero != 0 {
		t.Errorf("got %d bytes (%d non-zero), want 10000000 zero bytes", n, nonzero)
	}
}

func TestEnvironment(t *testing.T) {
	home := t.TempDir()
	_, c := startWithKey(t, Config{Env: []string{"BAR=from-config"}, Home: home})
	sess := openSession(t, c)
	if err := sess.Setenv("FOO", "from env request"); err != nil {
		t.Fatalf("setenv: %v", err)
	}
	out, err := sess.Output(`echo "$FOO|$BAR|$USER|$SHELL|$HOME|$(pwd)"; test -n "$PATH"`)
	if err != nil {
		t.Fatal(err)
	}
	want := "from env request|from-config|tester|/bin/sh|" + home + "|" + home + "\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestAcceptEnvRefuses(t *testing.T) {
	_, c := startWithKey(t, Config{AcceptEnv: []string{"LC_*"}})
	sess := openSession(t, c)
	if err := sess.Setenv("LC_ALL", "C"); err != nil {
		t.Errorf("LC_ALL refused: %v", err)
	}
	if err := sess.Setenv("FOO", "x"); err == nil {
		t.Error("FOO accepted, want refusal as sshd's AcceptEnv gives")
	}
}

func TestWrongKeyRejected(t *testing.T) {
	srv := Start(t, Config{AuthorizedKeys: []ssh.PublicKey{NewClientKey(t).PublicKey()}})
	_, err := dialErr(srv, ssh.PublicKeys(NewClientKey(t)))
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("got %v, want an authentication failure", err)
	}
	if srv.Accepted() != 1 || srv.Handshakes() != 0 {
		t.Errorf("Accepted=%d Handshakes=%d, want 1 and 0", srv.Accepted(), srv.Handshakes())
	}
}

func TestNoneAuthFails(t *testing.T) {
	srv := Start(t, Config{Password: "pw"})
	if _, err := dialErr(srv); err == nil {
		t.Fatal(`"none" authentication succeeded`)
	}
}

func TestPassword(t *testing.T) {
	srv := Start(t, Config{Password: "s3cret"})
	c := dial(t, srv, ssh.Password("s3cret"))
	if out, _, err := run(t, c, "echo ok", nil); err != nil || out != "ok\n" {
		t.Errorf("got %q, %v", out, err)
	}
	if _, err := dialErr(srv, ssh.Password("wrong")); err == nil {
		t.Error("wrong password accepted")
	}
}

// TestMaxAuthTries pins when the server gives up. Failed passwords count
// like sshd's. Rejected key offers differ: x/crypto forgives the first
// MaxAuthTries of them, so only-wrong keys get the disconnect after
// 2*MaxAuthTries offers where sshd needs MaxAuthTries.
func TestMaxAuthTries(t *testing.T) {
	srv := Start(t, Config{MaxAuthTries: 2, Password: "right"})
	attempts := 0
	pw := ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
		attempts++
		return "wrong", nil
	}), 10)
	_, err := dialErr(srv, pw)
	if err == nil || !strings.Contains(err.Error(), "too many authentication failures") {
		t.Fatalf("passwords: got %v, want a disconnect for too many authentication failures", err)
	}
	if attempts != 2 {
		t.Errorf("passwords: %d attempts before the disconnect, want 2", attempts)
	}

	keys := func(n int) ssh.AuthMethod {
		var s []ssh.Signer
		for range n {
			s = append(s, NewClientKey(t))
		}
		return ssh.PublicKeys(s...)
	}
	if _, err := dialErr(srv, keys(3)); err == nil || strings.Contains(err.Error(), "too many") {
		t.Errorf("3 wrong keys: got %v, want an ordinary authentication failure", err)
	}
	if _, err := dialErr(srv, keys(4)); err == nil || !strings.Contains(err.Error(), "too many authentication failures") {
		t.Errorf("4 wrong keys: got %v, want a disconnect for too many authentication failures", err)
	}
	t.Logf("client error on too many failures: %v", err)
}

func TestSilentHandshakeTimesOut(t *testing.T) {
	srv := Start(t, Config{Silent: true})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if err := conn.SetDeadline(start.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = ssh.NewClientConn(conn, srv.Addr, &ssh.ClientConfig{
		User:            "tester",
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey),
	})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("handshake gave up after %v, want about 1s", d)
	}
	if srv.Accepted() != 1 || srv.Handshakes() != 0 {
		t.Errorf("Accepted=%d Handshakes=%d, want 1 and 0", srv.Accepted(), srv.Handshakes())
	}
}

func TestKeepaliveGetsFailureReply(t *testing.T) {
	_, c := startWithKey(t, Config{})
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if ok || err != nil {
		t.Fatalf("got ok=%v err=%v, want ok=false err=nil", ok, err)
	}
}

func TestKnownHostsLine(t *testing.T) {
	srv := Start(t, Config{})
	line := srv.KnownHostsLine()
	if !strings.HasPrefix(line, "[127.0.0.1]:") || !strings.Contains(line, " ssh-ed25519 AAAA") {
		t.Errorf("KnownHostsLine() = %q", line)
	}
	_, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil || len(hosts) != 1 || hosts[0] != knownhosts.Normalize(srv.Addr) ||
		string(key.Marshal()) != string(srv.HostKey.Marshal()) {
		t.Errorf("parse %q: hosts=%v err=%v", line, hosts, err)
	}
}

func TestMaxSessions(t *testing.T) {
	_, c := startWithKey(t, Config{})
	for i := range 10 {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		defer sess.Close()
	}
	_, err := c.NewSession()
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Message != "open failed" {
		t.Fatalf("11th session: got %v, want a rejection with \"open failed\"", err)
	}
}

func TestShellBannerBeforeCommand(t *testing.T) {
	_, c := startWithKey(t, Config{ShellBanner: "Welcome to host\n"})
	out, _, err := run(t, c, "echo hi", nil)
	if err != nil || out != "Welcome to host\nhi\n" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestClientCloseDoesNotKill(t *testing.T) {
	srv, c := startWithKey(t, Config{})
	_, pid := startPID(t, c, "echo $$; exec sleep 30", false)
	c.Close()
	time.Sleep(200 * time.Millisecond)
	if ProcessGone(pid) {
		t.Fatalf("pid %d died when the client closed; sshd keeps it running", pid)
	}
	srv.Close()
	if !ProcessGone(pid) {
		t.Errorf("pid %d alive after Server.Close", pid)
	}
}

func TestDropConnections(t *testing.T) {
	srv, c := startWithKey(t, Config{})
	sess, pid := startPID(t, c, "echo $$; exec sleep 30", false)
	srv.DropConnections()
	var missing *ssh.ExitMissingError
	if err := sess.Wait(); err == nil || errors.As(err, new(*ssh.ExitError)) {
		t.Fatalf("Wait after drop: got %v, want a missing exit status", err)
	} else if !errors.As(err, &missing) {
		t.Logf("Wait after drop: %v", err)
	}
	if ProcessGone(pid) {
		t.Errorf("pid %d died with the connection", pid)
	}
	srv.Close()
	if !ProcessGone(pid) {
		t.Errorf("pid %d alive after Server.Close", pid)
	}
}

// TestSessionCloseWithoutPty pins a known difference from sshd: the command
// survives, as under sshd, but x/crypto answers the channel close at once,
// so Wait returns ExitMissingError where sshd would leave it blocked.
func TestSessionCloseWithoutPty(t *testing.T) {
	_, c := startWithKey(t, Config{})
	sess, pid := startPID(t, c, "echo $$; exec sleep 30", false)
	sess.Close()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		var missing *ssh.ExitMissingError
		if !errors.As(err, &missing) {
			t.Errorf("Wait after Session.Close: got %v, want *ssh.ExitMissingError", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait still blocked 2s after Session.Close")
	}
	time.Sleep(100 * time.Millisecond)
	if ProcessGone(pid) {
		t.Errorf("pid %d died on Session.Close without a pty; sshd keeps it", pid)
	}
}

func TestPtyCloseHangsUp(t *testing.T) {
	_, c := startWithKey(t, Config{})
	sess, pid := startPID(t, c, "echo $$; exec sleep 30", true)
	sess.Close()
	if !Eventually(2*time.Second, func() bool { return ProcessGone(pid) }) {
		t.Fatalf("pid %d survived closing a pty session", pid)
	}
}

func TestPtyMergesStderr(t *testing.T) {
	_, c := startWithKey(t, Config{})
	sess := openSession(t, c)
	if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo out; echo err >&2; echo $TERM")
	if err != nil || string(out) != "out\nerr\nxterm\n" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestCloseKillsBackgroundJobs(t *testing.T) {
	srv, c := startWithKey(t, Config{})
	out, _, err := run(t, c, "sleep 30 >/dev/null 2>&1 & echo $!", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || ProcessGone(pid) {
		t.Fatalf("background pid %q not running (%v)", out, err)
	}
	srv.Close()
	if !Eventually(time.Second, func() bool { return ProcessGone(pid) }) {
		t.Errorf("background job %d alive after Server.Close", pid)
	}
}
