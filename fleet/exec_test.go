package fleet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

func execOn(t *testing.T, c *Conn, cmd *Command) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Classify(ctx, c.Exec(ctx, cmd))
}

// checkExit fails the test unless err is success (status 0) or the
// command's exit with status and signal.
func checkExit(t *testing.T, what string, err error, status int, signal string) {
	t.Helper()
	var ee *ExitError
	switch {
	case status == 0 && err != nil:
		t.Fatalf("%s: want success, got %v", what, err)
	case status != 0 && !errors.As(err, &ee):
		t.Fatalf("%s: want *ExitError with status %d, got %T %v", what, status, err, err)
	case status != 0 && (ee.Status != status || ee.Signal != signal):
		t.Fatalf("%s: got status %d signal %q, want %d %q", what, ee.Status, ee.Signal, status, signal)
	}
}

func TestExecExitStatusAndStreams(t *testing.T) {
	c, _ := connect(t, sshtest.Config{})
	tricky := `it's "quoted" $HOME; rm -rf /tmp/nothing` + "\nline2"
	tests := []struct {
		line           string
		status         int // 0: success
		signal         string
		stdin          string // "": no Stdin at all
		env            [][2]string
		stdout, stderr string
	}{
		{line: "echo out; echo err >&2", stdout: "out\n", stderr: "err\n"},
		{line: "exit 3", status: 3},
		{line: "echo partial; exit 5", status: 5, stdout: "partial\n"},
		{line: "kill -TERM $$", status: 143, signal: "TERM"},
		{line: "cat", stdin: "hello\nworld\n", stdout: "hello\nworld\n"},
		// Without input the command reads EOF at once instead of hanging,
		// as pssh gives commands an empty stdin.
		{line: "cat; echo eof", stdout: "eof\n"},
		// The environment is quoted.
		{line: `printf '%s' "$PSSH_HOST"`, env: [][2]string{{"PSSH_HOST", tricky}}, stdout: tricky},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := &Command{Line: tt.line, Env: tt.env, Stdout: &out, Stderr: &errb}
			if tt.stdin != "" {
				cmd.Stdin = strings.NewReader(tt.stdin)
			}
			checkExit(t, tt.line, execOn(t, c, cmd), tt.status, tt.signal)
			if out.String() != tt.stdout || errb.String() != tt.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), tt.stdout, tt.stderr)
			}
		})
	}
}

func TestExecLargeOutputBothStreams(t *testing.T) {
	c, _ := connect(t, sshtest.Config{})
	var out, errb countWriter
	err := execOn(t, c, &Command{Line: "head -c 10000000 /dev/zero & head -c 3000000 /dev/zero >&2; wait", Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if out.n != 10_000_000 || errb.n != 3_000_000 {
		t.Fatalf("got %d bytes of stdout and %d of stderr", out.n, errb.n)
	}
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func TestQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", "it's", `"x"`, "$(id)", "`id`", "a\nb", "\\", "'", "''"} {
		var out bytes.Buffer
		cmd := execLocal(t, "printf '%s' "+Quote(s), &out)
		if cmd != nil {
			t.Fatalf("quote %q: %v", s, cmd)
		}
		if out.String() != s {
			t.Errorf("Quote(%q) = %s: the shell read %q", s, Quote(s), out.String())
		}
	}
}

// runSleeper runs on one test host a command that leaves a sleep in the
// background and writes its pid to the file it returns; started is
// called as the host's task begins.
func runSleeper(t *testing.T, ctx context.Context, o RunOptions, started func()) (Result, string) {
	t.Helper()
	env := newEnv(t)
	srv := env.server(sshtest.Config{})
	pidFile := filepath.Join(t.TempDir(), "pid")
	results := Run(ctx, env.dialer(), []hostT{hostOf(srv)}, o, func(ctx context.Context, c *Conn, r *Result) error {
		started()
		return c.Exec(ctx, &Command{Line: "sleep 30 & echo $! > " + pidFile + "; wait"})
	})
	return results[0], pidFile
}

// TestTimeoutKillsRemoteCommand proves what OpenSSH does not do by itself:
// a command whose connection goes away keeps running, so fleet kills its
// process group.
func TestTimeoutKillsRemoteCommand(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	start := time.Now()
	r, pidFile := runSleeper(t, context.Background(), RunOptions{Timeout: 500 * time.Millisecond}, func() {})
	if r.Outcome != TimedOut || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("outcome %v err %v, want timeout", r.Outcome, r.Err)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("timeout took %s", el)
	}
	assertKilled(t, pidFile)
}

func TestCancelKillsRemoteCommand(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, pidFile := runSleeper(t, ctx, RunOptions{}, func() { time.AfterFunc(300*time.Millisecond, cancel) })
	if r.Outcome != Cancelled || !errors.Is(r.Err, ErrCancelled) {
		t.Fatalf("outcome %v err %v, want cancelled", r.Outcome, r.Err)
	}
	assertKilled(t, pidFile)
}

// readPid reads the process ID a test command wrote into pidFile.
func readPid(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// assertKilled fails unless the process whose ID is in pidFile is gone.
func assertKilled(t *testing.T, pidFile string) {
	t.Helper()
	pid := readPid(t, pidFile)
	if !waitGone(pid) {
		t.Fatalf("remote process %d still running after its kill", pid)
	}
}

// A login shell that prints on stderr before the wrapper's marker (a chatty
// .bashrc) must neither hide the marker from fleet nor leak it.
func TestStderrFilterWithStartupNoise(t *testing.T) {
	m := newMarkers()
	ctl := &control{m: m, pidc: make(chan int, 1), ready: make(chan struct{})}
	var out bytes.Buffer
	f := &stderrFilter{ctl: ctl, out: &out}
	for _, chunk := range []string{"Welcome", " to host\n", m.pid[:5], m.pid[5:] + "4242\n", "real ", "stderr\n"} {
		f.Write([]byte(chunk))
	}
	f.flush()
	select {
	case pid := <-ctl.pidc:
		if pid != 4242 {
			t.Fatalf("pid %d", pid)
		}
	default:
		t.Fatal("pid marker not seen")
	}
	if out.String() != "Welcome to host\nreal stderr\n" {
		t.Fatalf("stderr %q", out.String())
	}
}

// A command the shell cannot parse ran and failed, as with ssh host
// 'if then': the shell's own complaint on stderr and its exit status, not
// a login refused, and nothing of fleet's wrapper (issue 15 item 9). Under
// sudo too, whose /bin/sh -c would otherwise show the inner wrapper.
func TestExecSyntaxErrorIsTheCommandsFailure(t *testing.T) {
	c, _ := sudoServer(t, sshtest.Config{})
	for _, sudo := range []bool{false, true} {
		for _, line := range []string{"if then", "echo 'unbalanced", "echo ok; fi"} {
			var out, errb bytes.Buffer
			cmd := &Command{Line: line, Stdout: &out, Stderr: &errb}
			if sudo {
				cmd.Sudo, cmd.SudoPassword = true, []byte("hunter2")
			}
			err := execOn(t, c, cmd)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Status != 2 {
				t.Errorf("sudo %v, %q: %v, want the shell's exit status 2 as an *ExitError", sudo, line, err)
			}
			if errors.Is(err, errLogin) || Hint(err) != "" {
				t.Errorf("sudo %v, %q: %v (hint %q), want no login refusal", sudo, line, err, Hint(err))
			}
			stderr := errb.String()
			if !strings.Contains(strings.ToLower(stderr), "syntax error") && !strings.Contains(stderr, "unterminated") {
				t.Errorf("sudo %v, %q: stderr %q, want the shell's own complaint", sudo, line, stderr)
			}
			if strings.Contains(stderr, "fleet-") || strings.Contains(stderr, "printf") || out.Len() != 0 {
				t.Errorf("sudo %v, %q: fleet's wrapper shows: stdout %q stderr %q", sudo, line, out.String(), stderr)
			}
		}
	}
}

func TestNotStartedNamesTheLoginShell(t *testing.T) {
	exit := &ssh.ExitError{} // the login shell's exit, before any marker
	ctl := &control{}
	early := &earlyOutput{ctl: ctl, w: io.Discard}
	_, _ = early.Write([]byte("Welcome\nThis account is currently not available.\n"))
	err := notStarted(ctl, early, exit)
	if !errors.Is(err, errLogin) || !strings.HasSuffix(err.Error(), ": This account is currently not available.") {
		t.Fatalf("got %v", err)
	}
	if OutcomeOf(Classify(context.Background(), err)) != Failed {
		t.Errorf("outcome %v, want failed", OutcomeOf(err))
	}
	// Once the wrapper's marker came, an exit is the command's own.
	ctl.started.Store(true)
	if err := notStarted(ctl, early, exit); err != exit {
		t.Errorf("after the marker: got %v, want the exit itself", err)
	}
}
