package sshtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// session is one "session" channel: its requests, its environment, and the
// command or subsystem it runs. Its fields are used only by its serve
// goroutine, except ch and the immutable ones.
type session struct {
	sc  *serverConn
	srv *Server
	ch  ssh.Channel

	env       []string    // from "env" requests, applied last
	pty       *ptyRequest // non-nil once a pty was requested
	started   bool        // exec, shell or subsystem already accepted
	subsystem bool
	proc      *process
	run       *handlerRun // the command, when Config.Exec runs it

	// afterReply, if set, runs once the current request has been
	// answered. It lets a command's exit wait for the exec reply, as sshd
	// (single-threaded) always answers exec before it reaps the child.
	afterReply func()

	// refs counts what holds the session's MaxSessions slot: the request
	// loop, and the command or subsystem while it runs.
	refs atomic.Int32
}

// ptyRequest is the payload of "pty-req" (RFC 4254 section 6.2).
type ptyRequest struct {
	Term     string
	Columns  uint32
	Rows     uint32
	Width    uint32
	Height   uint32
	Modelist string
}

// windowChange is the payload of "window-change" (RFC 4254 section 6.7).
type windowChange struct {
	Columns uint32
	Rows    uint32
	Width   uint32
	Height  uint32
}

// envRequest is the payload of "env" (RFC 4254 section 6.4).
type envRequest struct {
	Name  string
	Value string
}

// stringRequest is the payload of "exec", "subsystem" and "signal".
type stringRequest struct {
	Value string
}

// exitStatus and exitSignal are the payloads sshd sends when the command
// ends (RFC 4254 section 6.10); x/crypto's Session.Wait turns them into
// nil or *ssh.ExitError.
type exitStatus struct {
	Status uint32
}

type exitSignal struct {
	Signal     string
	CoreDumped bool
	Error      string
	Lang       string
}

func newSession(sc *serverConn, ch ssh.Channel) *session {
	s := &session{sc: sc, srv: sc.srv, ch: ch}
	s.refs.Store(1)
	return s
}

// unref drops one hold on the MaxSessions slot.
func (s *session) unref() {
	if s.refs.Add(-1) == 0 {
		s.sc.releaseSession()
	}
}

// serve handles the channel's requests until the channel is closed, by
// either side or by a dropped connection.
func (s *session) serve(reqs <-chan *ssh.Request) {
	defer s.srv.wg.Done()
	defer s.unref()
	for req := range reqs {
		ok := s.handle(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if s.afterReply != nil {
			s.afterReply()
			s.afterReply = nil
		}
	}
	// The channel is gone. Without a pty the command keeps running, as
	// with sshd. With one, sshd releases the pty and the kernel hangs up
	// the command's process group.
	if s.pty != nil && s.proc != nil {
		s.proc.signal(syscall.SIGHUP)
	}
	if s.pty != nil && s.run != nil {
		hup := signalName(syscall.SIGHUP)
		s.run.cancel(&hup)
	}
}

// handle serves one channel request and reports success.
func (s *session) handle(req *ssh.Request) bool {
	switch req.Type {
	case "env":
		var r envRequest
		if ssh.Unmarshal(req.Payload, &r) != nil || !s.acceptEnv(r.Name) {
			return false
		}
		s.env = append(s.env, r.Name+"="+r.Value)
		return true
	case "pty-req":
		var r ptyRequest
		if s.started || s.pty != nil || ssh.Unmarshal(req.Payload, &r) != nil {
			return false // sshd refuses a second pty too
		}
		s.pty = &r
		return true
	case "window-change":
		var r windowChange
		if s.pty == nil || ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		s.pty.Columns, s.pty.Rows, s.pty.Width, s.pty.Height = r.Columns, r.Rows, r.Width, r.Height
		return true
	case "exec":
		var r stringRequest
		if s.started || ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		s.srv.recordCommand(r.Value)
		if s.srv.cfg.Exec != nil {
			return s.startHandler(r.Value)
		}
		return s.start([]string{"/bin/sh", "-c", r.Value})
	case "shell":
		// sshd would run the user's login shell; /bin/sh reading
		// commands from stdin is close enough for tests.
		if s.started {
			return false
		}
		if s.srv.cfg.Exec != nil {
			return s.startHandler("")
		}
		return s.start([]string{"/bin/sh"})
	case "subsystem":
		var r stringRequest
		if s.started || ssh.Unmarshal(req.Payload, &r) != nil || r.Value != "sftp" || !s.srv.cfg.SFTP {
			return false
		}
		s.startSFTP()
		return true
	case "signal":
		// sshd refuses signals for subsystems and ignores names it
		// does not know; the request never wants a reply.
		var r stringRequest
		if s.proc == nil && s.run == nil || s.subsystem || ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		sig, ok := signalByName(r.Value)
		if !ok {
			return false
		}
		if s.run != nil {
			s.run.cancel(&r.Value)
			return true
		}
		return s.proc.signal(sig)
	default:
		// x11-req, auth-agent-req@openssh.com and the rest.
		return false
	}
}

// acceptEnv applies Config.AcceptEnv like sshd's AcceptEnv.
func (s *session) acceptEnv(name string) bool {
	return s.srv.cfg.AcceptEnv == nil || slices.ContainsFunc(s.srv.cfg.AcceptEnv, func(pat string) bool {
		ok, _ := path.Match(pat, name)
		return ok
	})
}

// environ is the command environment: the test process's (so PATH works),
// what sshd sets itself, Config.Env, then the client's env requests. Later
// entries win, as exec.Cmd keeps the last value of a duplicate key.
func (s *session) environ() []string {
	env := os.Environ()
	env = append(env,
		"HOME="+s.srv.home,
		"USER="+s.sc.user,
		"LOGNAME="+s.sc.user,
		"SHELL=/bin/sh",
	)
	lh, lp, _ := net.SplitHostPort(s.sc.local.String())
	rh, rp, _ := net.SplitHostPort(s.sc.remote.String())
	env = append(env,
		fmt.Sprintf("SSH_CLIENT=%s %s %s", rh, rp, lp),
		fmt.Sprintf("SSH_CONNECTION=%s %s %s %s", rh, rp, lh, lp),
	)
	if s.pty != nil && s.pty.Term != "" {
		env = append(env, "TERM="+s.pty.Term)
	}
	env = append(env, s.srv.cfg.Env...)
	return append(env, s.env...)
}

// writeBanner emulates a .bashrc that prints: the text reaches stdout
// (and stderr) before anything the command or the sftp server writes. It
// may block until the client reads, so it runs where the output is
// copied, never in the request loop.
func (s *session) writeBanner() {
	if s.pty != nil {
		s.writeBannerErr(s.ch)
	} else {
		s.writeBannerErr(s.ch.Stderr())
	}
	s.writeBannerOut(s.ch)
}

// writeBannerErr writes ShellBannerStderr to w.
func (s *session) writeBannerErr(w io.Writer) {
	if t := s.srv.cfg.ShellBannerStderr; t != "" {
		_, _ = io.WriteString(w, t)
	}
}

// writeBannerOut writes ShellBanner to w, ShellBannerBytes of it when set.
func (s *session) writeBannerOut(w io.Writer) {
	cfg := s.srv.cfg
	if cfg.ShellBanner == "" {
		return
	}
	if cfg.ShellBannerBytes <= 0 {
		_, _ = io.WriteString(w, cfg.ShellBanner)
		return
	}
	chunk := []byte(strings.Repeat(cfg.ShellBanner, max(1, (32<<10)/len(cfg.ShellBanner))))
	for left := cfg.ShellBannerBytes; left > 0; {
		n := min(left, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		left -= n
	}
}

// startSFTP serves the sftp subsystem on the channel in its own goroutine,
// so that the request loop keeps answering (and refusing signals).
func (s *session) startSFTP() {
	s.started, s.subsystem = true, true
	s.refs.Add(1)
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		defer s.unref()
		s.writeBanner()
		// NewServer starts a goroutine that only Serve stops, and
		// WithServerWorkingDirectory cannot fail, so Serve always runs.
		srv, err := sftp.NewServer(s.ch, sftp.WithServerWorkingDirectory(s.srv.home))
		if err == nil {
			_ = srv.Serve() // returns when the client closes the channel
		}
		// sftp-server exits 0 at EOF; sshd reports that, then closes.
		s.sendExit(0, "", false)
	}()
}

// sendExit reports how the command ended, "exit-signal" when sig is set
// and "exit-status" otherwise, and closes the channel.
func (s *session) sendExit(status int, sig string, core bool) {
	if sig != "" {
		_, _ = s.ch.SendRequest("exit-signal", false, ssh.Marshal(exitSignal{Signal: sig, CoreDumped: core}))
	} else {
		_, _ = s.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{uint32(status)}))
	}
	_ = s.ch.Close()
}
