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
)

// A Shell is one long-lived remote shell that runs many commands, one
// after the other, over a single SSH session: the remote side pays for one
// session, one login shell and, as root, one sudo, instead of one of each
// per command. A recipe of twenty steps and guards costs the host a couple
// of forks per command rather than a session and a sudo (PAM, a log line,
// a fork of sshd) each, which is most of what provisioning a fresh host
// cost it.
//
// The client writes each command on the shell's standard input as a call
// of a small function, which runs it in a process group of its own, with
// /dev/null as input, and then prints an end marker with its exit status on
// both streams. The markers carry a random nonce, so no command output can
// fake one. A timeout or Ctrl-C kills the command's process group over a
// second session and the shell goes on with the next command.
type Shell struct {
	conn  *Conn
	sudo  bool
	pw    []byte
	nonce string
	in    *io.PipeWriter
	out   *shellStream
	errs  *shellStream
	stop  context.CancelFunc

	done    chan struct{} // closed when the shell's session has ended
	doneErr error         // why it ended; read after done is closed

	mu      sync.Mutex // one command at a time
	seq     int
	broken  error
	setsid  bool // the host has setsid(1): commands get a process group of their own
	closing sync.Once
}

// maxShellLine bounds the commands that go through a Shell: each is passed
// to sh -c as one argument, and Linux refuses a single argument longer than
// 128 KiB (MAX_ARG_STRLEN). Longer ones get a session of their own.
const maxShellLine = 100 << 10

// shellStart bounds how long a Shell waits for its ready markers after the
// session started (sudo authenticating included).
const shellStart = 30 * time.Second

// StartShell starts a shell on c, as root through sudo when sudo is set
// (password is then given to sudo when it asks, once for the whole shell).
// ctx bounds only the start; the shell lives until Close or until the
// connection ends.
func (c *Conn) StartShell(ctx context.Context, sudo bool, password []byte) (*Shell, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s := &Shell{conn: c, sudo: sudo, pw: password, nonce: "fleet-sh-" + hex.EncodeToString(b), done: make(chan struct{})}
	s.out, s.errs = newShellStream(s.nonce), newShellStream(s.nonce)
	r, w := io.Pipe()
	s.in = w
	sctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go func() {
		err := c.Exec(sctx, &Command{Line: "exec /bin/sh -s", Sudo: sudo, SudoPassword: password, Stdin: r, Stdout: s.out, Stderr: s.errs, untracked: true})
		if err == nil {
			err = errors.New("the remote shell exited")
		}
		s.doneErr = err
		r.CloseWithError(err)
		close(s.done)
	}()
	// The prelude flows once sudo is done; a sudo or a session that hangs
	// must not hold the caller, whose ctx and the timer below bound the
	// start. A failed write means the session ended, which done says.
	go func() { _, _ = io.WriteString(w, s.prelude()) }()
	timer := time.NewTimer(shellStart)
	defer timer.Stop()
	for _, st := range []*shellStream{s.out, s.errs} {
		select {
		case ready := <-st.readyc:
			s.setsid = ready == "setsid"
		case <-s.done:
			return nil, s.startError(ctx)
		case <-ctx.Done():
			s.Close()
			return nil, ctx.Err()
		case <-timer.C:
			s.Close()
			return nil, &Error{Kind: ErrTimeout, Reason: "the remote shell did not start within " + shellStart.String()}
		}
	}
	return s, nil
}

// startError says why a shell did not start, in the words of the error
// vocabulary when it has them (sudo refused, connection lost).
func (s *Shell) startError(ctx context.Context) error {
	<-s.done
	err := Classify(ctx, s.doneErr)
	var ee *ExitError
	var fe *Error
	switch {
	case errors.As(err, &ee):
		if tail := s.errs.preamble(); tail != "" {
			return &Error{Kind: errSudo, Reason: "the remote shell did not start: " + tail, Err: err}
		}
	case errors.As(err, &fe):
		return err // sudo refused, the host unreachable: that says it all
	}
	return fmt.Errorf("start remote shell: %w", err)
}

// prelude defines the function each command is run with and announces the
// shell on both streams. The command runs in a new session (setsid, where
// the host has it) so that its process group can be killed alone; without
// setsid only the command's own process is killed. The command's shell is
// /bin/sh as root, as with sudo sh -c, and the login shell otherwise, as
// with ssh host 'command'.
func (s *Shell) prelude() string {
	n := Quote(s.nonce)
	shell := `"${SHELL:-/bin/sh}"`
	if s.sudo {
		shell = "/bin/sh"
	}
	inner := `printf '%s pid %s\n' "$0" "$$" >&2; exec ` + shell + ` -c "$1"`
	return "_fleet_setsid=; _fleet_ready=ready\n" +
		"if command -v setsid >/dev/null 2>&1; then _fleet_setsid=setsid; _fleet_ready=setsid; fi\n" +
		"_fleet_run() {\n" +
		"  $_fleet_setsid /bin/sh -c " + Quote(inner) + " " + n + ` "$2" </dev/null` + "\n" +
		"  _fleet_rc=$?\n" +
		"  printf '\\n%s end %s %s\\n' " + n + ` "$1" "$_fleet_rc"` + "\n" +
		"  printf '\\n%s end %s\\n' " + n + ` "$1" >&2` + "\n" +
		"}\n" +
		"printf '%s ready %s\\n' " + n + ` "$_fleet_ready"; printf '%s ready %s\n' ` + n + ` "$_fleet_ready" >&2` + "\n"
}

// Run runs cmd in the shell and waits for it, with Exec's results: nil on
// exit status 0, an *ExitError for another, or the error that stopped it.
// cmd.Sudo, cmd.SudoPassword, cmd.Stdin and cmd.PTY are not looked at: the
// shell already is what it is, and commands read /dev/null.
func (s *Shell) Run(ctx context.Context, cmd *Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	settle := s.conn.track()
	defer settle()
	s.seq++
	id := s.seq
	s.out.begin(id, orDiscard(cmd.Stdout))
	s.errs.begin(id, orDiscard(cmd.Stderr))
	defer s.out.begin(0, io.Discard)
	defer s.errs.begin(0, io.Discard)
	// Vars are assignments on the shell's input, not part of the command
	// line that _fleet_run hands to sh -c (and so to argv); unset after.
	line := varsAssign(cmd.Vars) + "_fleet_run " + strconv.Itoa(id) + " " + Quote(envPrefix(cmd.Env)+cmd.Line) + "\n"
	if len(cmd.Vars) > 0 {
		names := make([]string, len(cmd.Vars))
		for i, kv := range cmd.Vars {
			names[i] = kv[0]
		}
		line += "unset " + strings.Join(names, " ") + "\n"
	}
	if _, err := io.WriteString(s.in, line); err != nil {
		return s.lost()
	}
	status, err := s.wait(ctx, id)
	if err == nil {
		if status != 0 {
			return &ExitError{Status: status}
		}
		return nil
	}
	if ctx.Err() == nil {
		return err
	}
	s.kill(id, settle)
	return ctx.Err()
}

// wait waits for both end markers of command id.
func (s *Shell) wait(ctx context.Context, id int) (status int, err error) {
	gotOut, gotErr := false, false
	for !gotOut || !gotErr {
		select {
		case e := <-s.out.ends:
			if e.id == id {
				gotOut, status = true, e.status
			}
		case e := <-s.errs.ends:
			if e.id == id {
				gotErr = true
			}
		case <-s.done:
			return 0, s.lost()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return status, nil
}

// kill stops command id after its context ended: TERM then KILL to its
// process group, over a second session, and waits for its end markers so
// that the shell can go on. A shell whose command does not end is closed.
func (s *Shell) kill(id int, settle func()) {
	target := ""
	if pid := s.errs.pidOf(id); pid > 1 {
		target = strconv.Itoa(pid)
		if s.setsid {
			target = "-" + target
		}
	}
	if target != "" {
		kctx, cancel := context.WithTimeout(context.Background(), killGrace)
		go func() {
			defer cancel()
			_ = s.conn.Exec(kctx, &Command{Line: "/bin/sh -c " + Quote(killScript(target)), Sudo: s.sudo, SudoPassword: s.pw,
				started: settle, untracked: true})
		}()
	}
	wctx, cancel := context.WithTimeout(context.Background(), killGrace)
	defer cancel()
	if _, err := s.wait(wctx, id); err != nil {
		s.broken = &Error{Kind: ErrCancelled, Reason: "a killed command did not end; the remote shell was closed"}
		go s.Close()
	}
}

// lost marks the shell broken because its session ended, and says why.
func (s *Shell) lost() error {
	<-s.done
	// The session ended by itself: whether the caller's context is done
	// too is the caller's to say, so none is given here.
	err := Classify(context.Background(), s.doneErr)
	var ee *ExitError
	if errors.As(err, &ee) {
		err = &Error{Kind: ErrUnreachable, Reason: "the remote shell ended unexpectedly", Err: s.doneErr}
	}
	s.broken = err
	return err
}

// Close ends the shell: its input is closed, so it exits after the command
// it runs, if any; one that does not is killed with its session.
func (s *Shell) Close() {
	s.closing.Do(func() {
		s.in.Close()
		// Under load the shell may take a while to read its end of input;
		// only one that does not go is killed, which costs a session.
		select {
		case <-s.done:
		case <-time.After(killGrace):
			s.stop()
			<-s.done
		}
		s.stop()
	})
}
