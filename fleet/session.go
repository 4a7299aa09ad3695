package fleet

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/fleet-sh/fleet/fleet/internal/lightcopy"
)

// markers are the run's private prefixes for the lines the wrapper prints
// on stderr, and the line it prints on stdout before the command (out);
// the random part keeps command output from faking them.
type markers struct{ pid, prompt, ready, out string }

func newMarkers() markers {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	m := "fleet-" + hex.EncodeToString(b)
	return markers{pid: m + "-pid:", prompt: m + "-sudo:", ready: m + "-ready", out: m + "-out\n"}
}

// marksStdout says whether the wrapper of cmd marks the start of the
// command on stdout: for a command that is not Raw, so that what the
// login shell printed there first can be kept apart. A terminal has one
// stream, which the PID marker splits.
func marksStdout(cmd *Command) bool { return !cmd.Raw && !cmd.PTY }

// wrap builds the remote command line. The login shell first prints its PID
// on stderr: sshd made it a session leader, so the PID is the process group
// of everything the command starts, which is how a timeout or Ctrl-C kills
// it (OpenSSH neither kills a command whose connection closes nor honours
// signals on root sessions). Under sudo, a "ready" line tells that sudo has
// authenticated, so standard input can flow without being taken for a
// password.
//
// The command line itself is handed to eval, last: a shell parses the
// whole of its -c argument before it runs any of it, so a line it cannot
// parse ("if then") would fail the wrapper before the marker, as a login
// shell that runs nothing does (nologin), and the shell's complaint would
// quote the wrapper. Through eval the marker comes first and the
// complaint, with its exit status, is the command's, as with ssh.
//
// The markers are looked for anywhere in a line, as the login shell's
// start-up files may have printed text without a newline just before.
func wrap(cmd *Command, m markers) string {
	var b strings.Builder
	if marksStdout(cmd) {
		fmt.Fprintf(&b, "printf '%%s' %s; ", Quote(m.out))
	}
	fmt.Fprintf(&b, "printf '%%s%%s\\n' %s \"$$\" >&2; ", Quote(m.pid))
	body := envPrefix(cmd.Env) + varsReader(cmd.Vars) + "eval " + Quote(cmd.Line)
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

// start starts cmd in a session of its own: the session-per-command runner.
func (c *Conn) start(ctx context.Context, cmd *Command) (*proc, error) {
	return c.startSession(ctx, cmd, nil)
}

// startSession starts cmd in a new session; onStart, when set, is called
// once the command itself runs on the host (its shell printed the marker,
// past sudo): a kill uses it to know that it reached the host, after which
// the connection may close (a shell whose connection is gone dies of
// SIGPIPE at its first output, which the marker is).
func (c *Conn) startSession(ctx context.Context, cmd *Command, onStart func()) (*proc, error) {
	sess, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	m := newMarkers()
	ctl := &control{m: m, sudo: cmd.Sudo, pty: cmd.PTY, password: cmd.SudoPassword, pidc: make(chan int, 1),
		ready: make(chan struct{}), refused: make(chan struct{}), onStart: onStart}
	var seen *banner
	early := &earlyOutput{ctl: ctl, w: orDiscard(cmd.Stdout)}
	if !cmd.Raw {
		seen = &banner{}
		if marksStdout(cmd) {
			early.split, early.banner = &splitter{mark: []byte(m.out)}, seen
		}
	}
	out, errw := io.Writer(early), orDiscard(cmd.Stderr)
	filter := &stderrFilter{ctl: ctl, out: errw, banner: seen}
	if cmd.PTY {
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := sess.RequestPty("xterm", 40, 200, modes); err != nil {
			sess.Close()
			return nil, fmt.Errorf("pty: %w", err)
		}
		filter.out = out
		sess.Stdout = filter
	} else {
		sess.Stdout = out
		sess.Stderr = filter
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	ctl.stdin = stdin
	if err := sess.Start(wrap(cmd, m)); err != nil {
		sess.Close()
		return nil, err
	}
	in := cmd.Stdin
	if len(cmd.Vars) > 0 {
		in = io.MultiReader(strings.NewReader(varsInput(cmd.Vars)), orEmpty(in))
	}
	go feedStdin(ctl, in)
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	// The sshd login shell is a session leader: its PID is the process
	// group of everything the command starts.
	p := &proc{done: make(chan error, 1), pid: ctl.pidc, group: true, sudo: cmd.Sudo, password: cmd.SudoPassword}
	p.abandon = func() {
		c.client.Close()
		<-p.done
	}
	go func() {
		defer sess.Close()
		var err error
		select {
		case err = <-waited:
		case <-ctl.refused:
			// sudo refused the password and was told to give up; it ends
			// at once, or when its terminal goes with the session.
			select {
			case err = <-waited:
			case <-time.After(refusedGrace):
				err = c.closeSession(sess, waited)
			}
		}
		filter.flush()
		early.flush()
		// sudo's refusal, when it refused, else the command's end.
		err = cmp.Or(ctl.sudoErr, notStarted(ctl, early, err))
		c.noteBanner(seen) // before Exec returns, so that its caller sees it
		p.done <- err
	}()
	return p, nil
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

// newSession opens a session, bounded by ctx: NewSession itself can hang on
// a dead connection (golang/go#26643).
func (c *Conn) newSession(ctx context.Context) (*ssh.Session, error) {
	s, err := bounded(ctx, c, c.client.NewSession)
	if err == nil && c.agentFwd {
		// Refused by sshd's AllowAgentForwarding no: ssh goes on without
		// it too.
		_ = agent.RequestAgentForwarding(s)
	}
	return s, err
}

// bounded runs open, which cannot be cancelled, until ctx ends; then it
// closes the connection, which frees open, and closes what open opened
// too late.
func bounded[T io.Closer](ctx context.Context, c *Conn, open func() (T, error)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := open()
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		c.client.Close()
		if r := <-ch; r.err == nil {
			r.v.Close()
		}
		var zero T
		return zero, ctx.Err()
	}
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
// command started, for notStarted. With split, what comes before the
// wrapper's stdout marker is the login shell's, not the command's: it goes
// to banner instead.
type earlyOutput struct {
	ctl    *control
	w      io.Writer
	tail   []byte
	split  *splitter
	banner *banner
	err    error // the first error of w
}

// ReadFrom makes the SSH library's copy of the stream use lightcopy.Copy.
func (e *earlyOutput) ReadFrom(r io.Reader) (int64, error) { return lightcopy.Copy(e, r) }

func (e *earlyOutput) Write(p []byte) (int, error) {
	if e.split == nil {
		if !e.ctl.started.Load() {
			e.keepTail(p)
		}
		return e.w.Write(p)
	}
	e.split.write(p, e.before, e.output)
	return len(p), e.err
}

// before takes what the login shell printed before the command.
func (e *earlyOutput) before(p []byte) {
	e.keepTail(p)
	_, _ = e.banner.Write(p)
}

// output passes the command's own output on.
func (e *earlyOutput) output(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

// keepTail keeps the last KiB of p and what came before.
func (e *earlyOutput) keepTail(p []byte) {
	if len(p) > 1024 {
		p = p[len(p)-1024:]
	}
	e.tail = append(e.tail, p...)
	if n := len(e.tail); n > 1024 {
		e.tail = append(e.tail[:0], e.tail[n-1024:]...)
	}
}

// flush takes what is held back as a possible marker once the stream
// ended: without the marker, it was the login shell's.
func (e *earlyOutput) flush() {
	if e.split != nil {
		e.split.flush(e.before)
	}
}

// errSudo marks sudo refusing to run the command: the host was reached and
// the command did not run, so it counts as a failure on that host.
var errSudo = errors.New("sudo failed")
