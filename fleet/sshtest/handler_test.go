package sshtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/internal/leakcheck"
)

// TestExecHandlerStreamsAndStatus: a Config.Exec handler gets the command,
// the user, the home directory, the environment and the client's stdin, and
// what it writes and returns reach the client as output and exit status.
func TestExecHandlerStreamsAndStatus(t *testing.T) {
	home := t.TempDir()
	var got ExecRequest
	_, c := startWithKey(t, Config{Home: home, Env: []string{"FROM_CONFIG=1"},
		Exec: func(ctx context.Context, req *ExecRequest) int {
			got = *req
			in, _ := io.ReadAll(req.Stdin)
			fmt.Fprintf(req.Stdout, "out:%s", in)
			fmt.Fprint(req.Stderr, "err:"+req.Command)
			return 7
		}})
	stdout, stderr, err := run(t, c, "do it", strings.NewReader("input"))
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 || ee.Signal() != "" {
		t.Fatalf("err = %v, want exit status 7", err)
	}
	if stdout != "out:input" || stderr != "err:do it" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	if got.Command != "do it" || got.User != "tester" || got.Dir != home || got.PTY {
		t.Errorf("request %+v", got)
	}
	if !slices.Contains(got.Env, "FROM_CONFIG=1") || !slices.Contains(got.Env, "HOME="+home) {
		t.Errorf("env lacks FROM_CONFIG or HOME: %q", got.Env)
	}
}

// TestExecHandlerSignal: a "signal" request cancels the handler's context
// and the client sees exit-signal with that name, as for a killed process.
func TestExecHandlerSignal(t *testing.T) {
	started := make(chan struct{})
	_, c := startWithKey(t, Config{Exec: func(ctx context.Context, req *ExecRequest) int {
		close(started)
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(10 * time.Second):
			return 99
		}
	}})
	sess := openSession(t, c)
	if err := sess.Start("hang"); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := sess.Wait()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.Signal() != "TERM" {
		t.Fatalf("Wait = %v, want exit-signal TERM", err)
	}
}

// TestExecHandlerClose: closing the server ends a running handler (its
// context is cancelled) and Close waits for it, so nothing outlives a test.
func TestExecHandlerClose(t *testing.T) {
	leakcheck.Goroutines(t)
	started, ended := make(chan struct{}), make(chan struct{})
	key := NewClientKey(t)
	srv, err := New(Config{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()},
		Exec: func(ctx context.Context, req *ExecRequest) int {
			close(started)
			<-ctx.Done()
			close(ended)
			return 0
		}})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv, ssh.PublicKeys(key))
	sess := openSession(t, c)
	if err := sess.Start("hang"); err != nil {
		t.Fatal(err)
	}
	<-started
	srv.Close()
	select {
	case <-ended:
	default:
		t.Fatal("Close returned while the handler was still running")
	}
}

// TestInterpRunsShell: Interp runs the command line in the home directory
// with the session's environment, pipes stdin through, keeps stdout and
// stderr apart, and returns the shell's exit status; "sh -c" nests.
func TestInterpRunsShell(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "f"), []byte("in home\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, c := startWithKey(t, Config{Home: home, Exec: Interp()})
	stdout, stderr, err := run(t, c,
		`read -r line; echo "got $line as $USER"; while read -r l; do echo "<$l"; done < f; echo oops >&2; sh -c 'exit 3'`,
		strings.NewReader("hello\n"))
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	if stdout != "got hello as tester\n<in home\n" || stderr != "oops\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	if _, stderr, err := run(t, c, "if then", nil); !errors.As(err, &ee) || ee.ExitStatus() != 2 || !strings.HasPrefix(stderr, "sh: ") {
		t.Errorf("syntax error: err %v, stderr %q; want status 2 and a message", err, stderr)
	}
}

// TestInterpShellReadsCommands: "sh -s" under Interp runs each command as
// it arrives, so a client can read one command's output before it sends
// the next (as the engine's Shell does), and kill is refused, never sent
// to the test process that "$$" names.
func TestInterpShellReadsCommands(t *testing.T) {
	_, c := startWithKey(t, Config{Exec: Interp()})
	sess := openSession(t, c)
	in, _ := sess.StdinPipe()
	outR, outW := io.Pipe()
	sess.Stdout = outW
	var stderr strings.Builder
	sess.Stderr = &stderr
	if err := sess.Start("exec /bin/sh -s"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i, want := range []string{"one\n", "two\n"} {
		fmt.Fprintf(in, "echo %s\n", strings.TrimSpace(want))
		n, err := io.ReadAtLeast(outR, buf, len(want))
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("command %d: read %q, %v; want %q", i, buf[:n], err, want)
		}
	}
	fmt.Fprintf(in, "kill -TERM -$$ && echo killed; /bin/kill -TERM -$$ && echo killed; exit 4\n")
	in.Close()
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	err := sess.Wait()
	outW.Close()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 4 {
		t.Fatalf("Wait = %v, want exit status 4", err)
	}
	if want := "kill: unsupported builtin\nkill: sshtest.Interp cannot signal"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q, want both kill refusals", stderr.String())
	}
}

// TestInterpShellRequest: a "shell" request under Interp reads its commands
// from stdin, as a login shell would, with the home as working directory.
func TestInterpShellRequest(t *testing.T) {
	home := t.TempDir()
	_, c := startWithKey(t, Config{Home: home, Exec: Interp()})
	sess := openSession(t, c)
	var stdout strings.Builder
	sess.Stdout = &stdout
	sess.Stdin = strings.NewReader("echo \"in $PWD\"\nx=5\nexit $x\n")
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	err := sess.Wait()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 5 {
		t.Fatalf("Wait = %v, want exit status 5", err)
	}
	if want := "in " + home + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}

// TestExecHandlerPTY: with a pty the handler's stderr reaches the client's
// stdout, as a tty merges them, and closing the channel hangs the command
// up: its context ends, as SIGHUP ends a real one.
func TestExecHandlerPTY(t *testing.T) {
	hungUp := make(chan bool, 1)
	_, c := startWithKey(t, Config{Exec: func(ctx context.Context, req *ExecRequest) int {
		fmt.Fprint(req.Stderr, "on the tty\n")
		select {
		case <-ctx.Done():
			hungUp <- req.PTY
		case <-time.After(10 * time.Second):
			hungUp <- false
		}
		return 0
	}})
	sess := openSession(t, c)
	if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out, _ := sess.StdoutPipe()
	if err := sess.Start("x"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 11)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "on the tty\n" {
		t.Fatalf("stdout %q, %v", buf, err)
	}
	sess.Close()
	if !<-hungUp {
		t.Error("the handler was not hung up (or saw no pty)")
	}
}
