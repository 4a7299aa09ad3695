package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runShell runs script as a session's command with stdin as its input.
func runShell(t *testing.T, script, stdin string) (status int, stdout, stderr string, stats *shellStats) {
	t.Helper()
	var out, errw bytes.Buffer
	stats = &shellStats{}
	status = newHostShell(stats, strings.NewReader(stdin)).run(context.Background(), script, &out, &errw)
	return status, out.String(), errw.String(), stats
}

func TestHostShell(t *testing.T) {
	pid := strconv.Itoa(os.Getpid()) // $$ in every session
	tests := []struct {
		name, script, stdin   string
		status                int
		stdout, stderr        string
		notFound, unsupported int64
	}{
		{name: "fleet's wrapper", script: `printf '%s%s\n' fleet-ab-pid: "$$" >&2; export PSSH_NODENUM=0 PSSH_HOST='h 1'; true`,
			stderr: "fleet-ab-pid:" + pid + "\n"},
		{name: "exit status", script: `printf '%s%s\n' m "$$" >&2; false`, status: 1, stderr: "m" + pid + "\n"},
		{name: "sudo wrapper", script: `printf '%s%s\n' m: "$$" >&2; exec sudo -n -- /bin/sh -c 'printf '\''%s\n'\'' ready >&2; echo "in $0"; exit 3'`,
			status: 3, stdout: "in sh\n", stderr: "m:" + pid + "\nready\n"},
		{name: "sudo builtin", script: `sudo -n true && setsid echo ok`, stdout: "ok\n"},
		{name: "exported variables only reach sh -c", script: `export A='a b'; B=b; sh -c 'echo "[$A] [$B] [$0] [$1]"' n x`,
			stdout: "[a b] [] [n] [x]\n"},
		{name: "unquoted expansion splits and vanishes", script: `x="a  b"; e=; printf '<%s>' $e $x "$e" ${e:-d}; echo`,
			stdout: "<a><b><><d>\n"},
		{name: "and or", script: "false && echo no || echo yes; true || echo no\necho $?", stdout: "yes\n0\n"},
		{name: "if elif else", script: "if false; then echo 1; elif test -z ''; then echo 2; else echo 3; fi", stdout: "2\n"},
		{name: "fresh host: nothing exists", script: "test -e /etc/passwd || echo missing; [ -d /tmp ] || echo none; cat </etc/passwd",
			status: 1, stdout: "missing\nnone\n", stderr: "open /etc/passwd: file does not exist\n"},
		{name: "pending triggers", script: "mkdir -p -m 0700 -- /var/lib/p && cd -- /var/lib/p && touch -- a && pwd; ls -1 -- /var/lib/p 2>/dev/null; rm -f -- a",
			stdout: "/var/lib/p\n"},
		{name: "a folder lasts its session", script: "test -d /var/lib/p || echo gone", stdout: "gone\n"},
		{name: "facts", script: `/bin/sh -c 'm=@@fleet-facts:
echo "${m}os-release"; d=$(docker info)'`, stdout: factsAnswer},
		{name: "redirections", script: "echo out >/dev/null; echo err 2>/dev/null >&2; echo e >&2 </dev/null; echo o 2>&1 >&2",
			stdout: "o\n", stderr: "e\n"}, // as sh: 2>&1 first points stderr at stdout
		{name: "fleet's kill script ends", script: "kill -TERM -42 2>/dev/null; i=0; while kill -0 -42 2>/dev/null && [ $i -lt 20 ]; do " +
			"sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; kill -KILL -42 2>/dev/null; true"},
		{name: "not found, never forked", script: "apt-get install -y x; echo $(id -u)", stdout: "\n",
			stderr: "sh: 1: apt-get: not found\nsh: 1: id: not found\n", notFound: 2},
		{name: "writing a file refused", script: "echo x >/etc/x", status: 2,
			stderr: "scale-sh: unsupported: writing /etc/x\n", unsupported: 1},
		{name: "long sleep refused", script: "sleep 61", status: 2, stderr: "scale-sh: unsupported: sleep 61\n", unsupported: 1},
		{name: "other sh refused", script: "sh -e x", status: 2, stderr: "scale-sh: unsupported: sh -e x\n", unsupported: 1},
		{name: "unterminated", script: "echo 'abc", status: 2,
			stderr: "scale-sh: unsupported: syntax: sh:1:6: reached EOF without closing quote `'`\n", unsupported: 1},
		// A long-lived shell as fleet runs one (fleet/shell.go's prelude):
		// functions defined and called from standard input, each command
		// in a child shell that reports its PID, end markers after each.
		{name: "sh -s", script: "exec /bin/sh -s", stdin: `_s=; _r=ready
if command -v setsid >/dev/null 2>&1; then _s=setsid; _r=setsid; fi
_run() {
  $_s /bin/sh -c 'printf '\''%s pid %s\n'\'' "$0" "$$" >&2; exec "${SHELL:-/bin/sh}" -c "$1"' N "$2" </dev/null
  _rc=$?
  printf '\n%s end %s %s\n' N "$1" "$_rc"
}
printf '%s ready %s\n' N "$_r"
_run 1 'echo one; exit 4'
_run 2 'echo "$0 $#"'
`, stdout: "N ready setsid\none\n\nN end 1 4\nsh 0\n\nN end 2 0\n", stderr: "N pid " + pid + "\nN pid " + pid + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr, stats := runShell(t, tt.script, tt.stdin)
			if status != tt.status || stdout != tt.stdout || stderr != tt.stderr {
				t.Errorf("got status %d, stdout %q, stderr %q\nwant status %d, stdout %q, stderr %q",
					status, stdout, stderr, tt.status, tt.stdout, tt.stderr)
			}
			if nf, un := stats.notFound.Load(), stats.unsupported.Load(); nf != tt.notFound || un != tt.unsupported {
				t.Errorf("counted %d not found, %d unsupported; want %d, %d", nf, un, tt.notFound, tt.unsupported)
			}
		})
	}
}

// TestHostShellReadsAsInputArrives: sh -s runs each command as soon as it
// is whole, before the rest of the input exists, as fleet's remote shells
// need (the next command is sent only after the last one's end marker).
func TestHostShellReadsAsInputArrives(t *testing.T) {
	r, w := io.Pipe()
	out := &syncBuffer{ch: make(chan struct{}, 10)}
	done := make(chan int, 1)
	go func() {
		done <- newHostShell(&shellStats{}, r).run(context.Background(), "exec /bin/sh -s", out, io.Discard)
	}()
	for i, cmd := range []string{"f() {\n", "  echo \"f $1\"\n}\nf 1\n", "f 2\n"} {
		if _, err := io.WriteString(w, cmd); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			<-out.ch // the command's output came before more input was sent
		}
	}
	w.Close()
	if st := <-done; st != 0 || out.String() != "f 1\nf 2\n" {
		t.Errorf("status %d, output %q", st, out.String())
	}
}

// TestHostShellEndsWithConnection: a command still sleeping ends when its
// connection's context does.
func TestHostShellEndsWithConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	st := newHostShell(&shellStats{}, strings.NewReader("")).run(ctx, "sleep 30; echo late", io.Discard, io.Discard)
	if d := time.Since(start); st != 130 || d > 10*time.Second {
		t.Errorf("status %d after %v, want 130 soon after 50ms", st, d)
	}
}

// syncBuffer signals each write. It has no other method (not embedding
// bytes.Buffer), so that every write goes through Write: the interpreter
// uses WriteString where a writer has it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	b.ch <- struct{}{}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
