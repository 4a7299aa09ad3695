package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// runShell runs script as a session's command with stdin as its input.
func runShell(t *testing.T, script, stdin string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	pid := 41
	next := func() int { pid++; return pid }
	sh := newShell(strings.NewReader(stdin), &out, &errw, next, nil)
	status = sh.run(script)
	return status, out.String(), errw.String()
}

func TestMiniShell(t *testing.T) {
	tests := []struct {
		name, script, stdin string
		status              int
		stdout, stderr      string
	}{
		{name: "fleet's wrapper", script: `printf '%s%s\n' fleet-ab-pid: "$$" >&2; export PSSH_NODENUM=0 PSSH_HOST='h 1'; true`,
			stderr: "fleet-ab-pid:42\n"},
		{name: "exit status", script: `printf '%s%s\n' m "$$" >&2; false`, status: 1, stderr: "m42\n"},
		{name: "sudo wrapper", script: `printf '%s%s\n' m: "$$" >&2; exec sudo -n -- /bin/sh -c 'printf '\''%s\n'\'' ready >&2; echo "in $0"; exit 3'`,
			status: 3, stdout: "in sh\n", stderr: "m:42\nready\n"},
		{name: "exported variable", script: `export PSSH_HOST='a b'; echo "[$PSSH_HOST]" [$PSSH_HOST]`, stdout: "[a b] [a b]\n"},
		{name: "unquoted expansion splits and vanishes", script: `x="a  b"; e=; printf '<%s>' $e $x "$e" ${e:-d}; echo`,
			stdout: "<a><b><><d>\n"},
		{name: "and or", script: "false && echo no || echo yes; true || echo no\necho $?", stdout: "yes\n0\n"},
		{name: "if elif else", script: "if false; then echo 1; elif test -z ''; then echo 2; else echo 3; fi", stdout: "2\n"},
		{name: "fresh host: nothing exists", script: "test -e /etc/x || echo missing; [ -d /run ] || echo none", stdout: "missing\nnone\n"},
		{name: "pending triggers", script: "mkdir -p -m 0700 -- /var/lib/p && cd -- /var/lib/p && touch -- a; ls -1 -- /var/lib/p 2>/dev/null; rm -f -- a"},
		{name: "facts", script: `/bin/sh -c 'm=@@fleet-facts:
echo "${m}os-release"; d=$(docker info)'`, stdout: factsAnswer},
		{name: "redirections", script: "echo out >/dev/null; echo err 2>/dev/null >&2; echo e >&2 </dev/null; echo o 2>&1 >&2",
			stdout: "o\n", stderr: "e\n"}, // as sh: 2>&1 first points stderr at stdout
		{name: "not found", script: "apt-get install -y x", status: 127, stderr: "sh: 1: apt-get: not found\n"},
		{name: "pipe refused", script: "echo a | cat", status: 2, stderr: "scale-sh: unsupported: operator |\n"},
		{name: "command substitution refused", script: "echo $(id -u)", status: 2, stderr: "scale-sh: unsupported: $(...)\n"},
		{name: "loop refused", script: "while true; do :; done", status: 2, stderr: "scale-sh: unsupported: compound command while\n"},
		{name: "unterminated", script: "echo 'abc", status: 2, stderr: "scale-sh: syntax error: unexpected end of file\n"},
		// A long-lived shell as fleet runs one: functions defined and
		// called from standard input, each command in a child shell
		// that reports its own PID, end markers after each command.
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
`, stdout: "N ready setsid\none\n\nN end 1 4\nsh 0\n\nN end 2 0\n", stderr: "N pid 44\nN pid 46\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runShell(t, tt.script, tt.stdin)
			if status != tt.status || stdout != tt.stdout || stderr != tt.stderr {
				t.Errorf("got status %d, stdout %q, stderr %q\nwant status %d, stdout %q, stderr %q",
					status, stdout, stderr, tt.status, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestMiniShellReadsAsInputArrives: sh -s runs each command as soon as it
// is whole, before the rest of the input exists, as fleet's remote shells
// need (the next command is sent only after the last one's end marker).
func TestMiniShellReadsAsInputArrives(t *testing.T) {
	r, w := io.Pipe()
	out := &syncBuffer{ch: make(chan struct{}, 10)}
	done := make(chan int, 1)
	go func() {
		pid := 0
		done <- newShell(r, out, io.Discard, func() int { pid++; return pid }, nil).run("exec /bin/sh -s")
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

// syncBuffer signals each write.
type syncBuffer struct {
	bytes.Buffer
	ch chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	b.ch <- struct{}{}
	return n, err
}

func TestPrintf(t *testing.T) {
	for _, tt := range []struct {
		format string
		args   []string
		want   string
	}{
		{`%s%s\n`, []string{"a", "b"}, "ab\n"},
		{`%s\n`, []string{"a", "b"}, "a\nb\n"},
		{`100%% %d\t\\`, []string{"7"}, "100% 7\t\\"},
		{`no args\n`, nil, "no args\n"},
	} {
		if got := printf(tt.format, tt.args); got != tt.want {
			t.Errorf("printf(%q, %q) = %q, want %q", tt.format, tt.args, got, tt.want)
		}
	}
}
