package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Command is one remote command.
type Command struct {
	// Line is the command line, run by the user's login shell as
	// `ssh host 'Line'` would run it.
	Line string
	// Env is exported to the command (PSSH_NODENUM...), values quoted.
	Env [][2]string
	// Vars are exported to the command too, but never written into a
	// command line, which any user of the host can read in /proc: a Shell
	// writes them on its standard input, Exec sends them ahead of Stdin
	// and the command reads them first. Names are shell identifiers; a
	// recipe's command refers to them ("$_fleet_v1") instead of holding
	// the values.
	Vars [][2]string
	// Stdin, when set, is sent to the command and then closed; otherwise
	// the command reads an empty standard input.
	Stdin io.Reader
	// Stdout and Stderr receive the output as it arrives; nil discards it.
	Stdout, Stderr io.Writer
	// PTY asks for a terminal (ssh -t): stderr then arrives on Stdout.
	PTY bool
	// Sudo runs the command as root through sudo.
	Sudo bool
	// SudoPassword, when set, is given to sudo when (and only when) it asks;
	// it never travels in argv and never reaches the command's stdin.
	SudoPassword []byte

	// started, when set, is called once the command itself runs on the
	// host (its shell printed the marker, past sudo), or when Exec returns:
	// a kill uses it to settle the command it kills. Only then may the
	// connection close: a shell whose connection is gone dies of SIGPIPE
	// at its first output, which the marker is.
	started func()
	// untracked keeps the command out of the dialer's count of commands
	// CloseAll waits for: kills themselves, and a Shell, whose commands
	// are counted one by one.
	untracked bool
}

// markers are the run's private prefixes for the lines the wrapper prints
// on stderr; the random part keeps command output from faking them.
type markers struct{ pid, prompt, ready string }

func newMarkers() markers {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	m := "fleet-" + hex.EncodeToString(b)
	return markers{pid: m + "-pid:", prompt: m + "-sudo:", ready: m + "-ready"}
}

// wrap builds the remote command line. The login shell first prints its PID
// on stderr: sshd made it a session leader, so the PID is the process group
// of everything the command starts, which is how a timeout or Ctrl-C kills
// it (OpenSSH neither kills a command whose connection closes nor honours
// signals on root sessions). Under sudo, a "ready" line tells that sudo has
// authenticated, so standard input can flow without being taken for a
// password.
func wrap(cmd *Command, m markers) string {
	var b strings.Builder
	fmt.Fprintf(&b, "printf '%%s%%s\\n' %s \"$$\" >&2; ", Quote(m.pid))
	body := envPrefix(cmd.Env) + varsReader(cmd.Vars) + cmd.Line
	if !cmd.Sudo {
		b.WriteString(body)
		return b.String()
	}
	inner := "printf '%s\\n' " + Quote(m.ready) + " >&2; " + body
	if cmd.SudoPassword != nil {
		fmt.Fprintf(&b, "exec sudo -S -p %s -- /bin/sh -c %s", Quote(m.prompt), Quote(inner))
	} else {
		fmt.Fprintf(&b, "exec sudo -n -- /bin/sh -c %s", Quote(inner))
	}
	return b.String()
}

func envPrefix(env [][2]string) string {
	if len(env) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("export")
	for _, kv := range env {
		b.WriteString(" " + kv[0] + "=" + Quote(kv[1]))
	}
	b.WriteString("; ")
	return b.String()
}

// varsReader is the start of a command that reads its Vars from standard
// input (see varsInput): one assignment a line, up to an empty one. read
// takes a pipe a byte at a time, so what follows is left to the command;
// eval and export are builtins, so the values reach no argv.
func varsReader(vars [][2]string) string {
	if len(vars) == 0 {
		return ""
	}
	return "_fleet_nl='\n'; while IFS= read -r _fleet_l && [ -n \"$_fleet_l\" ]; do eval \"export $_fleet_l\"; done; unset _fleet_l _fleet_nl; "
}

// varsInput is what varsReader reads: NAME='value' a line, a newline in a
// value written as a reference to $_fleet_nl, then an empty line.
func varsInput(vars [][2]string) string {
	var b strings.Builder
	for _, kv := range vars {
		b.WriteString(kv[0] + "=" + strings.ReplaceAll(Quote(kv[1]), "\n", `'"$_fleet_nl"'`) + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// varsAssign is the same for a shell that reads commands: export lines.
func varsAssign(vars [][2]string) string {
	var b strings.Builder
	for _, kv := range vars {
		b.WriteString(kv[0] + "=" + Quote(kv[1]) + "; export " + kv[0] + "\n")
	}
	return b.String()
}

// Quote quotes s for a POSIX shell, so that any value (spaces, quotes,
// newlines, $) reaches the command as one literal word.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// killGrace bounds how long Exec waits for a killed command to go.
const killGrace = 5 * time.Second

// Exec runs cmd and waits for it. It returns nil on exit status 0, an
// *ExitError for another status, or the error that stopped it. When ctx is
// done the remote command's whole process group is killed before Exec
// returns; when that cannot be done the connection is closed.
func (c *Conn) Exec(ctx context.Context, cmd *Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	settle := func() {}
	if !cmd.untracked {
		settle = c.track()
	}
	defer settle()
	sess, err := c.newSession(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	m := newMarkers()
	ctl := &control{m: m, sudo: cmd.Sudo, pty: cmd.PTY, password: cmd.SudoPassword, pidc: make(chan int, 1),
		ready: make(chan struct{}), refused: make(chan struct{})}
	early := &earlyOutput{ctl: ctl, w: orDiscard(cmd.Stdout)}
	out, errw := io.Writer(early), orDiscard(cmd.Stderr)
	filter := &stderrFilter{ctl: ctl, out: errw}
	if cmd.PTY {
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := sess.RequestPty("xterm", 40, 200, modes); err != nil {
			return fmt.Errorf("pty: %w", err)
		}
		filter.out = out
		sess.Stdout = filter
	} else {
		sess.Stdout = out
		sess.Stderr = filter
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return err
	}
	ctl.stdin = stdin
	if cmd.started != nil {
		ctl.onStart = cmd.started
		defer cmd.started()
	}
	if err := sess.Start(wrap(cmd, m)); err != nil {
		return err
	}
	in := cmd.Stdin
	if len(cmd.Vars) > 0 {
		in = io.MultiReader(strings.NewReader(varsInput(cmd.Vars)), orEmpty(in))
	}
	go feedStdin(ctl, in)
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		return finished(ctl, filter, early, err)
	case <-ctl.refused:
		// sudo refused the password and was told to give up; it ends
		// at once, or when its terminal goes with the session.
		select {
		case err := <-done:
			return finished(ctl, filter, early, err)
		case <-time.After(refusedGrace):
			return finished(ctl, filter, early, c.closeSession(sess, done))
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	c.kill(ctl, cmd, done, settle)
	filter.flush()
	return ctx.Err()
}

// refusedGrace bounds how long sudo may take to end after it refused the
// password, before Exec closes its session (and, with a pty, its terminal,
// which the kernel then hangs up on).
const refusedGrace = 5 * time.Second

// closeSession closes a session whose command lingers and returns how it
// ended; when the host does not answer the close (sshd does not while a
// command without a pty runs), the connection goes.
func (c *Conn) closeSession(sess *ssh.Session, done <-chan error) error {
	sess.Close()
	select {
	case err := <-done:
		return err
	case <-time.After(refusedGrace):
	}
	c.client.Close()
	return <-done
}

// finished is what Exec returns once the session ended: sudo's refusal,
// when it refused, else the command's end.
func finished(ctl *control, filter *stderrFilter, early *earlyOutput, err error) error {
	filter.flush()
	if ctl.sudoErr != nil {
		return ctl.sudoErr
	}
	return notStarted(ctl, early, err)
}

// newSession opens a session, bounded by ctx: NewSession itself can hang on
// a dead connection (golang/go#26643), and closing the client frees it.
func (c *Conn) newSession(ctx context.Context) (*ssh.Session, error) {
	type res struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.client.NewSession()
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		if r.err == nil && c.agentFwd {
			// Refused by sshd's AllowAgentForwarding no: ssh goes on
			// without it too.
			_ = agent.RequestAgentForwarding(r.s)
		}
		return r.s, r.err
	case <-ctx.Done():
		c.client.Close()
		if r := <-ch; r.s != nil {
			r.s.Close()
		}
		return nil, ctx.Err()
	}
}

// kill stops a running command after ctx is done: TERM to its process group,
// KILL a moment later, through a second session (as root when the command
// runs as root). If the connection cannot do that, closing it is all that is
// left.
func (c *Conn) kill(ctl *control, cmd *Command, done <-chan error, settle func()) {
	deadline := time.NewTimer(killGrace)
	defer deadline.Stop()
	var pid int
	select {
	case pid = <-ctl.pidc:
	case <-done:
		return
	case <-deadline.C:
	}
	if pid > 1 {
		script := "/bin/sh -c " + Quote(killScript("-"+strconv.Itoa(pid)))
		kctx, cancel := context.WithTimeout(context.Background(), killGrace)
		_ = c.Exec(kctx, &Command{Line: script, Sudo: cmd.Sudo, SudoPassword: cmd.SudoPassword, started: settle, untracked: true})
		cancel()
		select {
		case <-done:
			return
		case <-deadline.C:
		}
	}
	c.client.Close()
	<-done
}

// track counts a running command for the dialer's CloseAll until the
// function it returns is called (more than once is fine): when the command
// ends, or when its kill has reached the host.
func (c *Conn) track() (settle func()) {
	if c.dialer == nil {
		return func() {}
	}
	c.dialer.unsettled.Add(1)
	var once sync.Once
	return func() { once.Do(func() { c.dialer.unsettled.Add(-1) }) }
}

// killScript signals target, a process group ("-PGID") or a process
// ("PID"): TERM, then KILL if it is still there after two seconds. It is
// written for dash, whose kill takes neither "--" nor "-s SIG" before a
// negative PID.
func killScript(target string) string {
	return fmt.Sprintf("kill -TERM %[1]s 2>/dev/null; i=0; while kill -0 %[1]s 2>/dev/null && [ $i -lt 20 ]; do "+
		"sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; kill -KILL %[1]s 2>/dev/null; true", target)
}

func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// notStarted names a command that failed before the login shell ran it:
// without the PID marker, the non-zero exit is the login shell's, typically
// a nologin or false shell, whose message is the last line it printed.
func notStarted(ctl *control, early *earlyOutput, err error) error {
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || ctl.started.Load() {
		return err
	}
	msg := "the account's login shell did not run the command"
	if line := lastLine(string(early.tail)); line != "" {
		msg += ": " + line
	}
	return &Error{Kind: errLogin, Reason: msg, Hint: "is the account's shell nologin or false? log in as another user (-l USER)", Err: err}
}

// errLogin marks a host that accepted the login but whose login shell
// refused to run commands: reached, so it counts as a failure there.
var errLogin = errors.New("login refused")

// earlyOutput passes stdout on and keeps the end of what came before the
// command started, for notStarted.
type earlyOutput struct {
	ctl  *control
	w    io.Writer
	tail []byte
}

// ReadFrom makes the SSH library's copy of the stream use copySmall.
func (e *earlyOutput) ReadFrom(r io.Reader) (int64, error) { return copySmall(e, r) }

func (e *earlyOutput) Write(p []byte) (int, error) {
	if !e.ctl.started.Load() {
		e.tail = append(e.tail, p...)
		if n := len(e.tail); n > 1024 {
			e.tail = append(e.tail[:0], e.tail[n-1024:]...)
		}
	}
	return e.w.Write(p)
}

// errSudo marks sudo refusing to run the command: the host was reached and
// the command did not run, so it counts as a failure on that host.
var errSudo = errors.New("sudo failed")
