package fleet

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// shellOn starts a login-user shell on a test server, or fails the test.
func shellOn(t *testing.T, cfg sshtest.Config) (*Shells, *sshtest.Server) {
	t.Helper()
	c, srv := connect(t, cfg)
	s := c.Shells()
	t.Cleanup(s.Close)
	return s, srv
}

func TestShellRunsManyCommandsInOneSession(t *testing.T) {
	// The banner stands for a chatty .bashrc: it must not reach any
	// command's output.
	s, srv := shellOn(t, sshtest.Config{ShellBanner: "Welcome!\n"})
	tests := []struct {
		line           string
		status         int
		stdout, stderr string
	}{
		{line: "echo out; echo err >&2", stdout: "out\n", stderr: "err\n"},
		{line: "printf 'no newline'", stdout: "no newline"},
		{line: "printf 'two\\n\\n'", stdout: "two\n\n"},
		{line: "true"},
		{line: "printf '\\n'", stdout: "\n"},
		{line: "exit 3", status: 3},
		{line: "echo partial; echo oops >&2; exit 5", status: 5, stdout: "partial\n", stderr: "oops\n"},
		{line: "echo 'a \"quoted\" it'\"'\"'s $HOME'", stdout: "a \"quoted\" it's $HOME\n"},
		{line: "cat", stdout: ""}, // reads /dev/null, not the shell's input
		{line: "if true; then\n  echo multi\nfi", stdout: "multi\n"},
		{line: "echo unbalanced '", status: 2}, // a syntax error fails this command alone
		{line: "echo after", stdout: "after\n"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.Exec(ctx, &Command{Line: tt.line, Stdout: &out, Stderr: &errb})
		cancel()
		checkExit(t, tt.line, err, tt.status, "")
		if out.String() != tt.stdout {
			t.Errorf("%q: stdout %q, want %q", tt.line, out.String(), tt.stdout)
		}
		if tt.status != 2 && errb.String() != tt.stderr {
			t.Errorf("%q: stderr %q, want %q", tt.line, errb.String(), tt.stderr)
		}
	}
	// One session for the shell: every command above ran in it.
	if n := len(srv.Commands()); n != 1 {
		t.Errorf("the server ran %d session commands, want 1 (the shell): %q", n, srv.Commands())
	}
}

func TestShellOutputIsNotMistakenForMarkers(t *testing.T) {
	s, _ := shellOn(t, sshtest.Config{})
	// A command that prints lines looking like markers with a wrong nonce,
	// and a long line without a newline in many writes.
	line := "echo 'fleet-sh-0000000000000000 end 1 0'; printf 'fleet-sh-'; i=0; while [ $i -lt 300 ]; do printf x; i=$((i+1)); done"
	var out bytes.Buffer
	ctx := testContext(t, 20*time.Second)
	if err := s.Exec(ctx, &Command{Line: line, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	want := "fleet-sh-0000000000000000 end 1 0\nfleet-sh-" + strings.Repeat("x", 300)
	if out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
}

func TestShellTimeoutKillsCommandAndGoesOn(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	s, _ := shellOn(t, sshtest.Config{})
	dir := t.TempDir()
	marker := filepath.Join(dir, "child-survived")
	// The command starts a child that would write the marker after the
	// timeout; killing the process group must take the child too.
	line := "(sleep 2; touch " + Quote(marker) + ") & sleep 30"
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	start := time.Now()
	err := s.Exec(ctx, &Command{Line: line})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the timed-out command took %s to stop", d)
	}
	// The shell still works after the kill.
	var out bytes.Buffer
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Exec(ctx, &Command{Line: "echo still here", Stdout: &out}); err != nil || out.String() != "still here\n" {
		t.Fatalf("after the kill: %v, stdout %q", err, out.String())
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the killed command's child lived on and wrote its file")
	}
}

func TestShellLostConnection(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	s, srv := shellOn(t, sshtest.Config{})
	ctx := testContext(t, 20*time.Second)
	if err := s.Exec(ctx, &Command{Line: "true"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Exec(ctx, &Command{Line: "sleep 30"}) }()
	time.Sleep(300 * time.Millisecond)
	srv.DropConnections()
	select {
	case err := <-done:
		var fe *Error
		if !errors.As(Classify(ctx, err), &fe) || fe.Kind != ErrUnreachable {
			t.Fatalf("want an unreachable error, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Exec did not return after the connection dropped")
	}
	// A broken shell says so at once.
	if err := s.Exec(ctx, &Command{Line: "true"}); err == nil {
		t.Fatal("a command ran on a shell whose connection was dropped")
	}
}

func TestShellsPut(t *testing.T) {
	s, srv := shellOn(t, sshtest.Config{})
	dir := t.TempDir()
	dst := filepath.Join(dir, "conf")
	// Every byte value, a leading dash, quotes, percent signs and
	// backslashes must arrive as they are.
	data := []byte("-x %s %% \\n \\ ' \" $HOME `id`\n")
	for i := 0; i < 256; i++ {
		data = append(data, byte(i))
	}
	src := BytesFile("conf", data, 0o640)
	ctx := testContext(t, 20*time.Second)
	before := len(srv.Commands())
	changed, err := s.Put(ctx, src, dst, PutOptions{})
	if err != nil || !changed {
		t.Fatalf("first put: changed %v, %v", changed, err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs: %q (%v)", got, err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	if changed, err := s.Put(ctx, src, dst, PutOptions{}); err != nil || changed {
		t.Fatalf("second put: changed %v, %v (want unchanged)", changed, err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		t.Fatal(err)
	}
	// A recipe's step names its mode: the drift is fixed.
	if changed, err := s.Put(ctx, src, dst, PutOptions{Mode: 0o640}); err != nil || !changed {
		t.Fatalf("put after chmod: changed %v, %v (want the mode fixed)", changed, err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v after the fix, want 0640", st.Mode().Perm())
	}
	if n := len(srv.Commands()) - before; n != 1 {
		t.Errorf("three puts opened %d sessions, want 1 (the shell)", n)
	}
	noLeftovers(t, dir)
	// A destination whose folder is missing fails with the host's words
	// and leaves nothing behind.
	if _, err := s.Put(ctx, src, filepath.Join(dir, "missing", "conf"), PutOptions{}); err == nil {
		t.Error("a put into a missing folder succeeded")
	}
}

func TestPrintfFormat(t *testing.T) {
	for in, want := range map[string]string{
		"abc":   "'abc'",
		"-n":    `'\055n'`,
		"a%b":   "'a%%b'",
		"a\\b":  `'a\\b'`,
		"it's":  `'it\047s'`,
		"x\ny":  `'x\ny'`,
		"\x00é": `'\000\303\251'`,
	} {
		if got := printfFormat([]byte(in)); got != want {
			t.Errorf("printfFormat(%q) = %s, want %s", in, got, want)
		}
	}
}
