package fleet

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ProxyCommand runs as OpenSSH runs it (sshconnect.c ssh_proxy_connect):
// "exec " + the command, with its tokens expanded (proxyTokens), by the user's $SHELL
// (/bin/sh when unset) as `$SHELL -c`, so that the shell is replaced by the
// command and no shell lingers. Its stdin and stdout are the connection.
// Unlike ssh, which leaves the proxy's stderr on the terminal, fleet sends
// it, a line at a time, to the host's log: 200 proxies writing to one
// terminal would be unreadable.
//
// Each proxy runs in its own process group, so that closing the connection
// ends the whole command (a `sh -c "...; ssh -W"` without exec leaves the
// shell and its child): SIGHUP first, as ssh sends, then SIGKILL if the
// group is still there after proxyKillGrace. The process is always reaped.

// proxyKillGrace is how long a proxy has to exit on SIGHUP before SIGKILL.
const proxyKillGrace = 500 * time.Millisecond

// proxyExitWait bounds how long a failed handshake waits for the proxy to
// exit, to report its status and last stderr line rather than a bare EOF.
const proxyExitWait = time.Second

// maxProxyLine bounds one stderr line kept from a proxy.
const maxProxyLine = 1024

// proxyDialer is a ctxDialer that runs a ProxyCommand instead of dialling
// TCP. One is made per dial attempt, so it remembers the process it started
// for the error report.
type proxyDialer struct {
	command string       // already expanded
	shell   string       // $SHELL or /bin/sh
	note    func(string) // the host's log; may be nil
	mu      sync.Mutex
	last    *proxyConn
}

// proxyTokens are the tokens ssh expands in ProxyCommand
// (expand_proxy_command in sshconnect.c): %h the host name after HostName,
// %k the HostKeyAlias or else the name as given, %n the name as given, %p
// the port, %r the remote user, %% a percent. Any other token, or a % at
// the end, is fatal in ssh; resolve refuses it the same way.
func proxyTokens(e *endpoint) map[byte]string {
	return map[byte]string{'%': "%", 'h': e.hostName, 'k': cmp.Or(e.hostKeyAlias, e.alias),
		'n': e.alias, 'p': strconv.Itoa(e.port), 'r': e.user}
}

// expandProxyCommand is e's ProxyCommand with its tokens expanded.
func expandProxyCommand(e *endpoint) (string, error) {
	return expandPercent(e.proxyCommand, proxyTokens(e))
}

// newProxyDialer prepares the ProxyCommand of e; note receives its stderr.
func newProxyDialer(e *endpoint, note func(string)) *proxyDialer {
	command, _ := expandProxyCommand(e) // resolve refused a command that does not expand
	return &proxyDialer{command: command, shell: cmp.Or(os.Getenv("SHELL"), "/bin/sh"), note: note}
}

// DialContext starts the command. ctx only bounds the start: the process
// lives as long as the connection, which the caller closes (dialSSH closes
// it when the connect timeout or ctx ends the handshake).
func (p *proxyDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := startProxy(p.shell, p.command, p.note)
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, Reason: "proxy command: " + err.Error(),
			Hint: "check ProxyCommand in ssh_config or -O, and $SHELL", Err: err}
	}
	p.mu.Lock()
	p.last = c
	p.mu.Unlock()
	return c, nil
}

// failure explains a handshake that failed through the proxy: when the
// command exited (within proxyExitWait), its status and its last stderr
// line say more than the EOF the handshake saw.
func (p *proxyDialer) failure(err error) error {
	p.mu.Lock()
	c := p.last
	p.mu.Unlock()
	if c == nil {
		return err
	}
	select {
	case <-c.exited:
	case <-time.After(proxyExitWait):
		return err
	}
	if c.killed.Load() { // we closed it: the handshake error says why
		return err
	}
	select { // the last lines of stderr arrive just after the exit
	case <-c.stderrDone:
	case <-time.After(200 * time.Millisecond):
	}
	reason := "proxy command exited"
	if st := c.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			reason = "proxy command killed by signal " + ws.Signal().String()
		} else {
			reason = fmt.Sprintf("proxy command exited with status %d", st.ExitCode())
		}
	}
	if line := c.lastLine(); line != "" {
		reason += ": " + line
	}
	return &Error{Kind: ErrUnreachable, Reason: reason,
		Hint: "run the ProxyCommand by hand; its whole stderr is in the host's log (fleet logs)", Err: err}
}

// proxyConn is a net.Conn over a ProxyCommand's stdin and stdout.
type proxyConn struct {
	cmd        *exec.Cmd
	w          *os.File // the command's stdin
	r          *os.File // the command's stdout
	stderr     *os.File
	exited     chan struct{} // closed once the process is reaped
	stderrDone chan struct{}
	closeOnce  sync.Once
	closed     chan struct{} // closed once Close has reaped the process
	killed     atomic.Bool   // Close ended it
	eof        atomic.Bool   // its stdout ended, or its stdin refused a write

	mu   sync.Mutex
	last string // last non-empty stderr line
}

// startProxy starts `shell -c "exec command"` with pipes for its three
// standard streams. os.Pipe files are pollable, so the connection's
// deadlines work and Close unblocks a pending Read.
func startProxy(shell, command string, note func(string)) (*proxyConn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	closeAll := func(fs ...*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd := exec.Command(shell, "-c", "exec "+command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	closeAll(inR, outW, errW) // the child has its ends; ours must go, or EOF never comes
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	c := &proxyConn{cmd: cmd, w: inW, r: outR, stderr: errR, exited: make(chan struct{}), stderrDone: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the status is read from cmd.ProcessState
		close(c.exited)
	}()
	go c.readStderr(note)
	return c, nil
}

// readStderr passes each stderr line to note and keeps the last one.
func (c *proxyConn) readStderr(note func(string)) {
	defer close(c.stderrDone)
	sc := bufio.NewScanner(c.stderr)
	sc.Buffer(make([]byte, 4096), 64*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if len(line) > maxProxyLine {
			line = line[:maxProxyLine]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		c.mu.Lock()
		c.last = line
		c.mu.Unlock()
		if note != nil {
			note("proxy: " + line)
		}
	}
}

func (c *proxyConn) lastLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Read reads the command's stdout. Its EOF is remembered: the command
// closed its output, so it is most likely exiting, and Close gives it the
// time to exit on its own, so that its status can be reported.
func (c *proxyConn) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

// Write writes to the command's stdin. A write that fails (EPIPE: the
// command closed its input or is gone) means the same as EOF on Read: the
// handshake may see this before the EOF, and Close must then still wait
// for the command's own exit, so that its status is reported rather than
// taken for a kill of ours.
func (c *proxyConn) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if err != nil {
		c.eof.Store(true)
	}
	return n, err
}

// Close ends the command's process group and reaps it: SIGHUP, as ssh
// sends its proxy, then SIGKILL after proxyKillGrace. Every caller returns
// only once the process is reaped (the connect timeout and the handshake's
// own failure may both close it).
func (c *proxyConn) Close() error {
	defer func() { <-c.closed }()
	c.closeOnce.Do(func() {
		defer close(c.closed)
		c.w.Close()
		c.r.Close()
		pgid := c.cmd.Process.Pid
		if c.eof.Load() {
			select {
			case <-c.exited:
			case <-time.After(proxyExitWait):
			}
		}
		select {
		case <-c.exited:
		default:
			c.killed.Store(true)
			_ = syscall.Kill(-pgid, syscall.SIGHUP)
			select {
			case <-c.exited:
			case <-time.After(proxyKillGrace):
			}
		}
		// The leader may be gone and its children not: end the group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.exited
		select { // a child that left the group may hold stderr open
		case <-c.stderrDone:
		case <-time.After(100 * time.Millisecond):
		}
		c.stderr.Close()
		<-c.stderrDone
	})
	return nil
}

func (c *proxyConn) LocalAddr() net.Addr  { return proxyAddr{} }
func (c *proxyConn) RemoteAddr() net.Addr { return proxyAddr{} }

func (c *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *proxyConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *proxyConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// proxyAddr is the address of a connection through a ProxyCommand, which
// has none of its own.
type proxyAddr struct{}

func (proxyAddr) Network() string { return "proxycommand" }
func (proxyAddr) String() string  { return "proxycommand" }

type dialNoteKey struct{}

// WithDialNote returns ctx carrying note, which receives the lines about
// dialling one host that belong in that host's log: a ProxyCommand's
// stderr.
func WithDialNote(ctx context.Context, note func(string)) context.Context {
	return context.WithValue(ctx, dialNoteKey{}, note)
}

func dialNote(ctx context.Context) func(string) {
	note, _ := ctx.Value(dialNoteKey{}).(func(string))
	return note
}
