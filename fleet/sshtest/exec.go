package sshtest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// rfcSignals are the signals OpenSSH's session_signal_req and exit-signal
// know, by their RFC 4254 section 6.10 names (without "SIG"). It is an
// array, not a map, so that no package-level state can be mutated.
var rfcSignals = [...]struct {
	name string
	sig  syscall.Signal
}{
	{"ABRT", syscall.SIGABRT},
	{"ALRM", syscall.SIGALRM},
	{"FPE", syscall.SIGFPE},
	{"HUP", syscall.SIGHUP},
	{"ILL", syscall.SIGILL},
	{"INT", syscall.SIGINT},
	{"KILL", syscall.SIGKILL},
	{"PIPE", syscall.SIGPIPE},
	{"QUIT", syscall.SIGQUIT},
	{"SEGV", syscall.SIGSEGV},
	{"TERM", syscall.SIGTERM},
	{"USR1", syscall.SIGUSR1},
	{"USR2", syscall.SIGUSR2},
}

// signalByName returns the signal for an RFC name such as "TERM".
func signalByName(name string) (syscall.Signal, bool) {
	for _, s := range rfcSignals {
		if s.name == name {
			return s.sig, true
		}
	}
	return 0, false
}

// signalName is the exit-signal name of sig; like sshd it reports signals
// outside the RFC list as "SIG@openssh.com".
func signalName(sig syscall.Signal) string {
	for _, s := range rfcSignals {
		if s.sig == sig {
			return s.name
		}
	}
	return "SIG@openssh.com"
}

var errServerClosed = errors.New("sshtest: server closed")

// process is a command the server started: a shell that leads its own
// session and process group.
type process struct {
	srv  *Server
	cmd  *exec.Cmd
	pgid int
	out  *pipeEnd // read end of stdout (and of stderr with a pty)
	err  *pipeEnd // read end of stderr; nil with a pty

	exited bool // the shell was reaped; guarded by srv.mu
}

// pipeEnd is our read end of a child's output pipe. Close may come from the
// copying goroutine and from Server.Close at once, hence the Once.
type pipeEnd struct {
	f    *os.File
	once sync.Once
}

func (p *pipeEnd) Read(b []byte) (int, error) { return p.f.Read(b) }

func (p *pipeEnd) close() { p.once.Do(func() { p.f.Close() }) }

// closeOutput closes our ends of the output pipes, which ends the copies
// even if some process outside the group still holds the write ends.
func (p *process) closeOutput() {
	p.out.close()
	if p.err != nil {
		p.err.close()
	}
}

// signal sends sig to the process group while its leader runs, so a late
// signal can never reach a recycled process id.
func (p *process) signal(sig syscall.Signal) bool {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	if p.exited {
		return false
	}
	return syscall.Kill(-p.pgid, sig) == nil
}

// start runs argv like sshd runs a command: in a new session (so the
// shell's PID is the group id of the whole tree), stdin from the channel,
// stdout to it, stderr to its extended stream (merged into stdout when a
// pty was requested, as a tty would).
func (s *session) start(argv []string) bool {
	inR, inW, err1 := os.Pipe()
	outR, outW, err2 := os.Pipe()
	errR, errW, err3 := outR, outW, error(nil)
	if s.pty == nil {
		errR, errW, err3 = os.Pipe()
	}
	if errors.Join(err1, err2, err3) != nil {
		for _, f := range []*os.File{inR, inW, outR, outW, errR, errW} {
			f.Close() // nil-safe, and a second Close of a pty's shared pipe is harmless
		}
		return false
	}
	cmd := &exec.Cmd{
		Path:        argv[0],
		Args:        argv,
		Env:         s.environ(),
		Dir:         s.srv.home,
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	p := &process{srv: s.srv, cmd: cmd, out: &pipeEnd{f: outR}}
	if s.pty == nil {
		p.err = &pipeEnd{f: errR}
	}

	err := s.srv.startProcess(p)
	// The child has its copies; ours would keep the pipes open forever.
	inR.Close()
	outW.Close()
	errW.Close() // outW again with a pty: harmless
	if err != nil {
		inW.Close()
		p.closeOutput()
		return false
	}
	s.started, s.proc = true, p
	s.refs.Add(1)

	// The copies are counted before waitCommand can wait for them.
	// The banner goes first on each stream, written where the stream is
	// copied: it may be more than the channel's window.
	var copies sync.WaitGroup
	if p.err != nil {
		s.copyOutput(&copies, s.ch, p.out, s.writeBannerOut)
		s.copyOutput(&copies, s.ch.Stderr(), p.err, s.writeBannerErr)
	} else {
		s.copyOutput(&copies, s.ch, p.out, func(io.Writer) { s.writeBanner() })
	}
	replied := make(chan struct{})
	s.afterReply = func() { close(replied) }
	s.srv.wg.Add(2)
	go s.copyStdin(inW)
	go s.waitCommand(p, &copies, replied)
	return true
}

// startProcess starts p unless the server is closing, and registers it so
// Close can kill its process group.
func (srv *Server) startProcess(p *process) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return errServerClosed
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.pgid = p.cmd.Process.Pid
	srv.procs[p] = struct{}{}
	return nil
}

// reaped records that p's shell has exited. The group is forgotten only
// once it is empty: background jobs still in it are killed by Close.
func (srv *Server) reaped(p *process) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	p.exited = true
	if syscall.Kill(-p.pgid, 0) == syscall.ESRCH {
		delete(srv.procs, p)
	}
}

// copyStdin feeds the channel's data to the command until the client sends
// EOF or the channel goes away, then closes the command's stdin, as sshd
// does. It never kills the command.
func (s *session) copyStdin(w *os.File) {
	defer s.srv.wg.Done()
	_, _ = io.Copy(w, s.ch)
	w.Close()
}

// copyOutput copies one output stream to the channel. If the channel is
// gone it stops reading and closes the pipe, so the command gets SIGPIPE
// on its next write, as under sshd, instead of blocking on a full pipe.
func (s *session) copyOutput(copies *sync.WaitGroup, w io.Writer, r *pipeEnd, banner func(io.Writer)) {
	copies.Add(1)
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		defer copies.Done()
		banner(w)
		_, _ = io.Copy(w, r)
		r.close()
	}()
}

// waitCommand reaps the command, waits until all of its output is on the
// channel, then sends EOF, exit-status or exit-signal, and closes the
// channel, in sshd's order. Closing before the exec reply went out would
// make the client's Session.Start fail with EOF, hence replied.
func (s *session) waitCommand(p *process, copies *sync.WaitGroup, replied <-chan struct{}) {
	defer s.srv.wg.Done()
	defer s.unref()
	_ = p.cmd.Wait() // *exec.ExitError for non-zero exits; the state says it all
	s.srv.reaped(p)
	copies.Wait()
	<-replied
	_ = s.ch.CloseWrite()
	switch st := p.cmd.ProcessState; {
	case st == nil: // not reaped: no exit to report
		_ = s.ch.Close()
	case st.ExitCode() < 0: // killed by a signal
		ws := st.Sys().(syscall.WaitStatus)
		s.sendExit(0, signalName(ws.Signal()), ws.CoreDump())
	default:
		s.sendExit(st.ExitCode(), "", false)
	}
}
