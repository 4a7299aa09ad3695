package fleet

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is how a command runs on a host. A [Remote] runs every command
// the same way, whatever carries it: a runner starts the command (an SSH
// session of its own, see session.go, or a turn of a long-lived shell, see
// shell.go) and hands back a proc; Remote.Exec waits for it, and when the
// caller's context ends first, kill stops the command's process group over
// a session of its own. Files are put over the same Remote (put.go).

// Command is one remote command.
type Command struct {
	// Line is the command line, run by the user's login shell as
	// `ssh host 'Line'` would run it.
	Line string
	// Env is exported to the command (PSSH_NODENUM...), values quoted.
	Env [][2]string
	// Vars are exported to the command too, but never written into a
	// command line, which any user of the host can read in /proc: a
	// shell reads them on its standard input, a session gets them ahead
	// of Stdin and the command reads them first. Names are shell
	// identifiers; a recipe's command refers to them ("$_fleet_v1")
	// instead of holding the values.
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
	// Raw passes on what the login shell prints before the command (a
	// chatty ~/.bashrc) as part of its output, on the stream it came on,
	// as `ssh host cmd` shows it: fleet run wants that. Otherwise that
	// text is kept apart (Conn.Banner has its start), so that output fleet
	// reads (a probe, facts) or shows as the command's (a recipe's step)
	// is the command's only.
	Raw bool
}

// A runner starts commands on one host: *Conn a session each, *Shells a
// turn of a long-lived shell. Whatever it is, the command writes only to
// its own Stdout and Stderr, and has ended, been killed or been abandoned
// when Remote.Exec returns.
type runner interface {
	start(ctx context.Context, cmd *Command) (*proc, error)
}

// A proc is a command a runner started.
type proc struct {
	// done delivers how the command ended (nil, an *ssh.ExitError or
	// *ExitError, or what stopped it), once; the command's writers are
	// no longer written to when it does.
	done chan error
	// pid delivers the command's process once the host has told it.
	pid chan int
	// group says pid leads a process group of its own (a session leader
	// under sshd, or setsid's child), so that the kill reaches everything
	// the command started; otherwise only the process itself is killed.
	group bool
	// sudo and password are how the kill gets the right to kill it.
	sudo     bool
	password []byte
	// abandon is the last resort for a command its kill did not end:
	// it closes what carries the command and returns once the command
	// writes to none of its writers any more.
	abandon func()
}

// Remote runs commands and puts files on one host. The same methods serve
// a connection's sessions ([Conn], one SSH session per command) and its
// long-lived shells ([Shells], one shell for many commands); a Remote is
// had from one of those, never made by hand.
type Remote struct {
	conn *Conn
	r    runner
	// inline writes new content held in memory, when small, with one
	// command instead of SFTP: worth it where a command costs a shell a
	// fork rather than the host a session.
	inline bool
}

// Exec runs cmd and waits for it. It returns nil on exit status 0, an
// *ExitError (or *ssh.ExitError, which Classify turns into one) for another
// status, or the error that stopped it. When ctx is done the remote
// command's whole process group is killed before Exec returns; when that
// cannot be done, what carries the command is closed.
func (x *Remote) Exec(ctx context.Context, cmd *Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	settle := x.conn.track()
	defer settle()
	p, err := x.r.start(ctx, cmd)
	if err != nil {
		return err
	}
	return x.conn.await(ctx, p, settle)
}

// await waits for p to end. When ctx ends first, p is killed (settle is
// called once the kill reached the host) and await returns ctx's error.
func (c *Conn) await(ctx context.Context, p *proc, settle func()) error {
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
	}
	c.kill(p, settle)
	return ctx.Err()
}

// killGrace bounds how long a killed command may take to go, and how long
// its kill may take to reach the host.
const killGrace = 5 * time.Second

// kill stops a running command after its context ended: TERM to its process
// group, KILL a moment later, through a session of its own (as root when
// the command runs as root), then waits for the command to end. settle is
// called once the kill runs on the host (see track). A command whose
// process is not known, or that does not end, is abandoned. The kill's own
// session is bounded by killGrace too.
func (c *Conn) kill(p *proc, settle func()) {
	deadline := time.NewTimer(killGrace)
	defer deadline.Stop()
	var pid int
	select {
	case pid = <-p.pid:
	case <-p.done:
		return
	case <-deadline.C:
	}
	if pid > 1 {
		target := strconv.Itoa(pid)
		if p.group {
			target = "-" + target
		}
		// The kill runs while the command is watched; kill returns once
		// both are over, so that nothing of the command outlives Exec.
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			c.sendKill(target, p.sudo, p.password, settle)
		}()
		defer func() { <-killed }()
		select {
		case <-p.done:
			return
		case <-deadline.C:
		}
	}
	p.abandon()
}

// sendKill runs killScript(target) in a session of its own; onStart is
// called once it runs on the host. A kill that does not end in time closes
// the connection, which is all that is left.
func (c *Conn) sendKill(target string, sudo bool, password []byte, onStart func()) {
	ctx, cancel := context.WithTimeout(context.Background(), killGrace)
	defer cancel()
	defer onStart()
	cmd := &Command{Line: "/bin/sh -c " + Quote(killScript(target)), Sudo: sudo, SudoPassword: password}
	p, err := c.startSession(ctx, cmd, onStart)
	if err != nil {
		return
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abandon()
	}
}

// killScript signals target, a process group ("-PGID") or a process
// ("PID"): TERM, then KILL if it is still there after two seconds. It is
// written for dash, whose kill takes neither "--" nor "-s SIG" before a
// negative PID.
func killScript(target string) string {
	return "kill -TERM " + target + " 2>/dev/null; i=0; while kill -0 " + target + " 2>/dev/null && [ $i -lt 20 ]; do " +
		"sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; kill -KILL " + target + " 2>/dev/null; true"
}

// track counts a running command for the dialer's CloseAll until the
// function it returns is called (more than once is fine): when the command
// ends, or when its kill has reached the host.
func (c *Conn) track() (settle func()) {
	if c.dialer == nil {
		return func() {}
	}
	return c.dialer.running.add()
}

// inFlight counts the commands that run and whose kill, if they get one,
// has not reached the host yet. A sync.WaitGroup would do, but its Add
// must not race with Wait, and commands start while CloseAll waits.
type inFlight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n is 0; nil means closed
}

// add counts one command until the function it returns is called.
func (f *inFlight) add() (done func()) {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.n--; f.n == 0 {
				close(f.idle)
			}
		})
	}
}

// wait returns when no command is counted, or with ctx's error when ctx
// ends first.
func (f *inFlight) wait(ctx context.Context) error {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Quote quotes s for a POSIX shell, so that any value (spaces, quotes,
// newlines, $) reaches the command as one literal word.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	unsafe := func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}
	if !strings.ContainsFunc(s, unsafe) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
