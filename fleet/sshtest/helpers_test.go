package sshtest

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// dial connects a plain x/crypto client that pins the server's host key.
func dial(t *testing.T, srv *Server, auth ...ssh.AuthMethod) *ssh.Client {
	t.Helper()
	c, err := dialErr(srv, auth...)
	if err != nil {
		t.Fatalf("dial %s: %v", srv.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialErr(srv *Server, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{
		User:            "tester",
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey),
		Timeout:         5 * time.Second,
	})
}

// startWithKey starts a server that accepts one fresh client key and
// returns a client connected with it.
func startWithKey(t *testing.T, cfg Config) (*Server, *ssh.Client) {
	t.Helper()
	key := NewClientKey(t)
	cfg.AuthorizedKeys = append(cfg.AuthorizedKeys, key.PublicKey())
	srv := Start(t, cfg)
	return srv, dial(t, srv, ssh.PublicKeys(key))
}

// openSession opens a session on c, closed when the test ends.
func openSession(t *testing.T, c *ssh.Client) *ssh.Session {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// run runs cmd in a new session and returns its stdout, stderr and the
// error of Session.Run.
func run(t *testing.T, c *ssh.Client, cmd string, stdin io.Reader) (string, string, error) {
	t.Helper()
	sess := openSession(t, c)
	defer sess.Close() // its slot goes back at once: tests run many commands
	var stdout, stderr bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, &stdout, &stderr
	err := sess.Run(cmd)
	return stdout.String(), stderr.String(), err
}

// startPID starts cmd, which must print the shell's PID on its first line
// (e.g. "echo $$; exec sleep 30"), and returns the session and that PID.
func startPID(t *testing.T, c *ssh.Client, cmd string, pty bool) (*ssh.Session, int) {
	t.Helper()
	sess := openSession(t, c)
	if pty {
		if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
			t.Fatalf("request pty: %v", err)
		}
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start(cmd); err != nil {
		t.Fatalf("start %q: %v", cmd, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pid line %q: %v", line, err)
	}
	return sess, pid
}
