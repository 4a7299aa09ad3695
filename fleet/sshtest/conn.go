package sshtest

import (
	"io"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
)

// defaultMaxSessions is sshd's MaxSessions default.
const defaultMaxSessions = 10

// acceptLoop accepts TCP connections until the listener is closed.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // listener closed by Close
		}
		s.accepted.Add(1)
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		if s.cfg.Silent {
			go s.serveSilent(c)
		} else {
			go s.serveConn(c)
		}
	}
}

// serveSilent reads and discards whatever the client sends and never writes,
// so the client's handshake waits for a version banner that never comes.
func (s *Server) serveSilent(c net.Conn) {
	defer s.wg.Done()
	defer s.untrack(c)
	defer c.Close()
	_, _ = io.Copy(io.Discard, c) // returns when the client or Close closes c
}

// serveConn runs the SSH handshake and then dispatches channels and global
// requests until the connection ends.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer s.untrack(c)
	defer c.Close()

	// No handshake deadline: a client that stalls is the client's problem,
	// and Close unblocks the handshake by closing c.
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		return // failed auth, bad client, or closed by Close/DropConnections
	}
	s.handshakes.Add(1)

	s.wg.Add(1)
	go s.globalRequests(reqs)

	sc := &serverConn{srv: s, user: sconn.User(), local: sconn.LocalAddr(), remote: sconn.RemoteAddr()}
	for nc := range chans {
		if nc.ChannelType() != "session" {
			// sshd would serve forwarding here; the engine's unit tests
			// do not need it, and a clear refusal beats a half version.
			_ = nc.Reject(ssh.UnknownChannelType, "sshtest: only session channels are supported")
			continue
		}
		if !sc.acquireSession() {
			// The same refusal sshd gives past MaxSessions
			// ("no more sessions" in its log).
			_ = nc.Reject(ssh.ConnectionFailed, "open failed")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			sc.releaseSession()
			continue
		}
		sess := newSession(sc, ch)
		s.wg.Add(1)
		go sess.serve(creqs)
	}
	// chans is closed once the transport is gone. Wait also lets x/crypto's
	// reader goroutine finish before our WaitGroup is released.
	_ = sconn.Wait()
}

// globalRequests answers every global request with REQUEST_FAILURE, as sshd
// does for keepalive@openssh.com: a client's keepalive sees ok=false, err=nil.
func (s *Server) globalRequests(reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	for req := range reqs {
		if req.WantReply {
			_ = req.Reply(false, nil)
		}
	}
}

// serverConn is the per-connection state shared by its sessions.
type serverConn struct {
	srv    *Server
	user   string
	local  net.Addr
	remote net.Addr

	mu       sync.Mutex
	sessions int // sessions holding a MaxSessions slot
}

// acquireSession takes a MaxSessions slot; it reports false when none is free.
func (sc *serverConn) acquireSession() bool {
	limit := sc.srv.cfg.MaxSessions
	if limit == 0 {
		limit = defaultMaxSessions
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if limit > 0 && sc.sessions >= limit {
		return false
	}
	sc.sessions++
	return true
}

// releaseSession gives a slot back. sshd frees a slot only when the channel
// is closed and its command has exited, so a hung command keeps its slot.
func (sc *serverConn) releaseSession() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.sessions--
}
