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

// A shell is one long-lived remote shell that runs many commands, one
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
// second session (see Remote.Exec) and the shell goes on with the next command.
type shell struct {
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

	// turn is held by the command that runs, from its start until its
	// end markers came (or the shell ended): one command at a time.
	turn    chan struct{}
	seq     int
	setsid  bool // the host has setsid(1): commands get a process group of their own
	closing sync.Once

	mu     sync.Mutex
	broken error // why the shell takes no more commands
}

// maxShellLine bounds the commands that go through a Shell: each is passed
// to sh -c as one argument, and Linux refuses a single argument longer than
// 128 KiB (MAX_ARG_STRLEN). Longer ones get a session of their own.
const maxShellLine = 100 << 10

// shellStart bounds how long a Shell waits for its ready markers after the
// session started (sudo authenticating included).
const shellStart = 30 * time.Second

// startShell starts a shell on c, as root through sudo when sudo is set
// (password is then given to sudo when it asks, once for the whole shell).
// ctx bounds only the start; the shell lives until close or until the
// connection ends.
func (c *Conn) startShell(ctx context.Context, sudo bool, password []byte) (*shell, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s := &shell{conn: c, sudo: sudo, pw: password, nonce: "fleet-sh-" + hex.EncodeToString(b), done: make(chan struct{}),
		turn: make(chan struct{}, 1)}
	s.out, s.errs = newShellStream(s.nonce), newShellStream(s.nonce)
	r, w := io.Pipe()
	s.in = w
	sctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go func() {
		// The shell's session is a command like any other, killed the
		// same way when stop ends it; not one CloseAll waits for, since
		// its commands are counted one by one.
		p, err := c.startSession(sctx, &Command{Line: "exec /bin/sh -s", Sudo: sudo, SudoPassword: password, Stdin: r, Stdout: s.out, Stderr: s.errs}, nil)
		if err == nil {
			err = c.await(sctx, p, func() {})
		}
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
			s.close()
			return nil, ctx.Err()
		case <-timer.C:
			s.close()
			e := &Error{Kind: ErrTimeout, Reason: "the remote shell did not start within " + shellStart.String()}
			if b := c.Banner(); b != "" {
				e.Hint = bannerHint(b)
			}
			return nil, e
		}
	}
	return s, nil
}

// startError says why a shell did not start, in the words of the error
// vocabulary when it has them (sudo refused, connection lost).
func (s *shell) startError(ctx context.Context) error {
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
func (s *shell) prelude() string {
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

// start runs cmd in the shell once the command before it has ended.
// cmd.Sudo, cmd.SudoPassword, cmd.Stdin and cmd.PTY are not looked at: the
// shell already is what it is, and commands read /dev/null.
func (s *shell) start(ctx context.Context, cmd *Command) (*proc, error) {
	if err := s.brokenErr(); err != nil {
		return nil, err // without waiting for the turn a broken shell's last command may hold
	}
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := s.brokenErr(); err != nil {
		<-s.turn
		return nil, err
	}
	s.seq++
	id := s.seq
	p := &proc{done: make(chan error, 1), pid: make(chan int, 1), group: s.setsid, sudo: s.sudo, password: s.pw}
	s.out.begin(id, orDiscard(cmd.Stdout), nil)
	s.errs.begin(id, orDiscard(cmd.Stderr), p.pid)
	detach := func() {
		s.out.begin(0, io.Discard, nil)
		s.errs.begin(0, io.Discard, nil)
	}
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
		detach()
		<-s.turn
		return nil, s.lost()
	}
	// A command whose kill did not end it leaves the shell in an unknown
	// state: the shell is closed and takes no more commands.
	p.abandon = func() {
		detach()
		s.breakWith(&Error{Kind: ErrCancelled, Reason: "a killed command did not end; the remote shell was closed"})
		go s.close()
	}
	go func() {
		status, err := s.wait(id)
		detach()
		<-s.turn
		if err == nil && status != 0 {
			err = &ExitError{Status: status}
		}
		p.done <- err
	}()
	return p, nil
}

// wait waits for both end markers of command id, or for the shell to end.
func (s *shell) wait(id int) (status int, err error) {
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
		}
	}
	return status, nil
}

// lost marks the shell broken because its session ended, and says why.
func (s *shell) lost() error {
	<-s.done
	// The session ended by itself: whether the caller's context is done
	// too is the caller's to say, so none is given here.
	err := Classify(context.Background(), s.doneErr)
	var ee *ExitError
	if errors.As(err, &ee) {
		err = &Error{Kind: ErrUnreachable, Reason: "the remote shell ended unexpectedly", Err: s.doneErr}
	}
	return s.breakWith(err)
}

// breakWith marks the shell broken, unless it already is, and returns why
// it is.
func (s *shell) breakWith(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = err
	}
	return s.broken
}

func (s *shell) brokenErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// close ends the shell: its input is closed, so it exits after the command
// it runs, if any; one that does not is killed with its session.
func (s *shell) close() {
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
