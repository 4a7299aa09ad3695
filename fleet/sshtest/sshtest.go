// Package sshtest runs an in-process SSH server on 127.0.0.1 for unit tests
// of the fleet engine, in the spirit of net/http/httptest.
//
// The server is built on golang.org/x/crypto/ssh but copies the behaviour of
// OpenSSH's sshd wherever the engine depends on it, because tests that pass
// against a friendlier server would hide bugs that real hosts expose:
//
//   - exec runs "/bin/sh -c COMMAND" in a new session (setsid), so the shell's
//     PID is the process-group id of the whole command tree (unless
//     Config.Exec runs commands instead, see below);
//   - a command ends with "exit-status", or "exit-signal" when a signal killed
//     it, after all of its output has been sent;
//   - closing the channel or dropping the connection does NOT kill a command
//     started without a pty (the engine must kill remote commands itself);
//     with a pty the process group gets SIGHUP, as sshd does when it releases
//     the pty;
//   - "signal" requests go to the process group (OpenSSH >= 7.9, non-root),
//     only for the signal names OpenSSH knows, and never to subsystems;
//   - keepalive@openssh.com and every other global request get
//     REQUEST_FAILURE;
//   - at most MaxSessions sessions per connection (10), and a session holds
//     its slot until its command has exited;
//   - after MaxAuthTries failed authentications (6) the server disconnects.
//
// Known differences from OpenSSH, mostly because x/crypto's channel layer
// answers a peer's CHANNEL_CLOSE at once:
//
//   - Session.Close without a pty: OpenSSH does not answer the close while the
//     command runs, so the client's Session.Wait stays blocked; here Wait
//     returns *ssh.ExitMissingError at once (the command keeps running in
//     both cases). Engine code must not rely on either.
//   - Session.Close with a pty: OpenSSH sends exit-signal "HUP" before it
//     closes; here the command still gets SIGHUP but the client sees
//     *ssh.ExitMissingError.
//   - Rejected public-key offers: sshd counts each one against MaxAuthTries
//     (hence "Too many authentication failures" for agents holding many
//     keys); x/crypto forgives the first MaxAuthTries offers, so a client
//     offering only wrong keys is disconnected after 2*MaxAuthTries of them.
//     Failed passwords count as with sshd. The disconnect message is
//     x/crypto's lower-case "too many authentication failures".
//   - No real pseudo-terminal is allocated: a "pty-req" is accepted and
//     remembered, stderr is merged into stdout as a tty would, but there is no
//     echo and no "\r\n" translation.
//
// Config.Exec replaces the real processes with a handler (ExecHandler),
// such as Interp, a shell interpreter inside the test process: the seam
// for tests that need no kill semantics, such as the CLI's happy paths.
//
// Close (registered with t.Cleanup by Start) closes every connection, kills
// every process group the server started with SIGKILL and waits for every
// goroutine, so a test that uses the server leaks neither goroutines nor
// processes.
package sshtest

import (
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config says how a test server behaves. The zero value is a server that
// accepts nobody; set AuthorizedKeys or Password.
type Config struct {
	// HostKey is the server's host key; nil means a fresh ed25519 key.
	HostKey ssh.Signer
	// AuthorizedKeys are the public keys accepted for any user name, compared
	// by their wire encoding.
	AuthorizedKeys []ssh.PublicKey
	// UserCAs are certificate authorities whose user certificates are
	// accepted for any user name (sshd's TrustedUserCAKeys), when valid now.
	UserCAs []ssh.PublicKey
	// Password, if not empty, is accepted for any user name; "" disables
	// password authentication.
	Password string
	// Silent makes the server accept TCP connections and never send the SSH
	// version banner, like a host whose sshd hangs (connect-timeout tests).
	Silent bool
	// MaxAuthTries is the number of failed authentication attempts after
	// which the server disconnects. 0 means 6, like sshd; negative means
	// unlimited.
	MaxAuthTries int
	// MaxSessions caps the open sessions per connection; the next channel
	// open is rejected with "open failed", as sshd does. 0 means 10, like
	// sshd; negative means unlimited.
	MaxSessions int
	// SFTP serves the "sftp" subsystem with github.com/pkg/sftp's server,
	// rooted at the real filesystem with Home as its working directory.
	SFTP bool
	// ShellBanner is printed on stdout before each exec'd command and before
	// the sftp subsystem starts, emulating a chatty .bashrc (which breaks
	// SFTP on real hosts).
	ShellBanner string
	// ShellBannerStderr is printed the same way on stderr, before
	// ShellBanner (on the session's stdout when it has a terminal).
	ShellBannerStderr string
	// ShellBannerBytes, when set, repeats ShellBanner until that many
	// bytes went out, streamed: a .bashrc that prints megabytes.
	ShellBannerBytes int64
	// Env is extra environment ("KEY=value") for commands, applied after the
	// test process's environment and before the client's "env" requests.
	Env []string
	// AcceptEnv, if not nil, limits the "env" requests the server accepts to
	// names matching one of these path.Match patterns, like sshd's AcceptEnv
	// (whose default accepts nothing but what the distro lists, often LANG
	// and LC_*). Refused requests get a failure reply. nil accepts all.
	AcceptEnv []string
	// Exec, if not nil, runs the commands of "exec" and "shell" requests
	// instead of a real "/bin/sh -c COMMAND" process: the seam through
	// which a test says what a host does (see ExecHandler and Interp).
	// nil keeps the real processes, which the engine's kill and process
	// group tests need.
	Exec ExecHandler
	// Home is the HOME of commands and their working directory, and the
	// sftp server's working directory, as sshd uses the user's home.
	// "" means the test process's home directory.
	Home string
}

// Server is a running test server. Its exported fields are read-only.
type Server struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Host is "127.0.0.1".
	Host string
	// Port is the TCP port the server listens on.
	Port int
	// HostKey is the public half of the server's host key.
	HostKey ssh.PublicKey

	cfg    Config
	sshCfg *ssh.ServerConfig
	home   string
	ln     net.Listener

	accepted   atomic.Int64
	handshakes atomic.Int64
	passwords  atomic.Int64 // password attempts received, right or wrong

	// wg counts every goroutine the server started, so Close can wait for
	// all of them.
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	procs    map[*process]struct{}
	execs    map[*handlerRun]struct{} // commands run by Config.Exec
	commands []string
}

// Start starts a server on 127.0.0.1:0 and registers t.Cleanup to close it.
// It fails the test at once if the server cannot start.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server on 127.0.0.1:0 like Start, for callers that have no
// testing.TB (a testscript command, a benchmark program); the caller must
// call Close.
func New(cfg Config) (*Server, error) {
	if cfg.HostKey == nil {
		var err error
		if cfg.HostKey, err = generateSigner(); err != nil {
			return nil, err
		}
	}
	home := cfg.Home
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			home = "/"
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sshtest: listen: %w", err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	s := &Server{
		Addr:    tcp.String(),
		Host:    tcp.IP.String(),
		Port:    tcp.Port,
		HostKey: cfg.HostKey.PublicKey(),
		cfg:     cfg,
		home:    home,
		ln:      ln,
		conns:   make(map[net.Conn]struct{}),
		procs:   make(map[*process]struct{}),
		execs:   make(map[*handlerRun]struct{}),
	}
	s.sshCfg = s.serverConfig()
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Close stops the server: it closes the listener and every connection, kills
// every process group the server started (SIGKILL) and waits until all of
// the server's goroutines have returned. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := slices.Collect(maps.Keys(s.conns))
		procs := slices.Collect(maps.Keys(s.procs))
		for h := range s.execs {
			h.cancel(nil) // a handler's commands end with its context
		}
		s.mu.Unlock()

		s.ln.Close()
		for _, c := range conns {
			c.Close()
		}
		for _, p := range procs {
			// The group may outlive its leader (background jobs), so
			// kill by group even after the shell has exited.
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
			// A process that escaped the group (its own setsid) could
			// still hold the pipes; closing our ends unblocks the copies.
			p.closeOutput()
		}
		s.wg.Wait()
	})
}

// KnownHostsLine returns a known_hosts line for this server, such as
// "[127.0.0.1]:PORT ssh-ed25519 AAAA...".
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
}

// Accepted returns the number of TCP connections accepted so far.
func (s *Server) Accepted() int { return int(s.accepted.Load()) }

// Handshakes returns the number of connections that completed the SSH
// handshake including authentication.
func (s *Server) Handshakes() int { return int(s.handshakes.Load()) }

// Commands returns the exec command strings received so far, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// DropConnections closes every live connection abruptly, without an SSH
// disconnect message, as a network failure or a rebooting host would. The
// commands they started keep running, as with sshd.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// track records a live connection; it reports false once the server is
// closing, and the caller must then drop the connection.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) recordCommand(cmd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, cmd)
}
