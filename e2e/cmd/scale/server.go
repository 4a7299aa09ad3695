package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// The endpoints run in a process of their own (this binary with -serve), so
// that the fleet process measured holds nothing of theirs and their CPU is
// counted apart. Each endpoint is a listener on its own loopback address,
// 127.0.X.Y:PORT: spreading over addresses keeps every connection's
// four-tuple distinct without using up ephemeral ports on one address. All
// endpoints share one host key and one authorized client key, so the
// known_hosts file has one line per endpoint with the same key.
//
// The parent talks to the server over its stdin and stdout, one line each
// way: the server prints "ready" once every endpoint listens (their
// addresses are in DIR/endpoints), answers "stats" with a JSON line of its
// counters, and exits when its stdin closes, so it never outlives the
// parent.

const (
	serveFlag     = "-serve"
	firstBlock    = 200 // the X of 127.0.X.Y: e2e/harness takes 100-199
	hostsPerBlock = 250 // Y = 1..250
	maxBlock      = 254
	serverUser    = "scale"
	endpointsFile = "endpoints"
	hostKeyFile   = "host_key"
	clientPubFile = "id_ed25519.pub"
	clientKeyFile = "id_ed25519"
	defaultPort   = 2022
)

// serverStats are the server's counters, cumulative since it started.
type serverStats struct {
	Handshakes  int64 `json:"handshakes"`
	Failed      int64 `json:"failed_handshakes"`
	Sessions    int64 `json:"sessions"`
	NotFound    int64 `json:"not_found"`   // commands answered 127
	Unsupported int64 `json:"unsupported"` // commands the endpoints refused (shell.go)
	Kills       int64 `json:"kills"`       // fleet's kill scripts (a command timed out or was cut)
	Open        int64 `json:"open"`        // connections open now
	PeakOpen    int64 `json:"peak_open"`
}

type server struct {
	cfg    *ssh.ServerConfig
	shell  shellStats
	logged atomic.Int64 // unsupported commands logged
	handsh atomic.Int64
	failed atomic.Int64
	sess   atomic.Int64
	kills  atomic.Int64
	open   atomic.Int64
	peak   atomic.Int64
	trace  bool // SCALE_TRACE=1: log every command and its status
}

// serveMain is the -serve mode: serveMain(dir, n, port).
func serveMain(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "scale -serve DIR N PORT")
		return 2
	}
	n, errN := strconv.Atoi(args[1])
	port, errP := strconv.Atoi(args[2])
	if errN != nil || errP != nil || n < 1 || port < 1 {
		fmt.Fprintln(os.Stderr, "scale -serve: bad N or PORT")
		return 2
	}
	s, err := listen(args[0], n, port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale -serve:", err)
		return 1
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "stats" {
			st := s.stats()
			s.peak.Store(s.open.Load()) // the next answer's peak is since this one
			b, _ := json.Marshal(st)
			fmt.Println(string(b))
		}
	}
	return 0 // stdin closed: the parent is done (or gone)
}

// listen starts n endpoints from port up and lists their addresses in
// DIR/endpoints.
func listen(dir string, n, port int) (*server, error) {
	s, err := newServer(dir)
	if err != nil {
		return nil, err
	}
	lns, err := listenAll(n, port)
	if err != nil {
		return nil, err
	}
	var addrs bytes.Buffer
	for _, ln := range lns {
		fmt.Fprintln(&addrs, ln.Addr().String())
		go s.acceptLoop(ln)
	}
	return s, os.WriteFile(filepath.Join(dir, endpointsFile), addrs.Bytes(), 0o600)
}

func newServer(dir string) (*server, error) {
	pem, err := os.ReadFile(filepath.Join(dir, hostKeyFile))
	if err != nil {
		return nil, err
	}
	hostKey, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, clientPubFile))
	if err != nil {
		return nil, err
	}
	authorized, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	want := authorized.Marshal()
	s := &server{trace: os.Getenv("SCALE_TRACE") == "1"}
	s.cfg = &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-fleet_scale",
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), want) {
				return nil, nil
			}
			return nil, errors.New("scale: key not authorized")
		},
	}
	s.cfg.AddHostKey(hostKey)
	return s, nil
}

// portTries is how many ports from -port up listenAll tries.
const portTries = 10

// listenAll binds n endpoints on 127.0.X.Y:port, X from firstBlock on. When
// an address is taken (another scale run, or anything else on that port),
// it gives up that whole range and tries the next blocks up, then the next
// ports (a listener on 0.0.0.0:port takes the port on every address).
func listenAll(n, port int) ([]net.Listener, error) {
	blocks := (n + hostsPerBlock - 1) / hostsPerBlock
	var lastErr error
	for p := port; p < port+portTries; p++ {
		for base := firstBlock; base+blocks-1 <= maxBlock; base += blocks {
			lns, err := listenRange(n, base, p)
			if err == nil {
				return lns, nil
			}
			lastErr = err
			if !errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("cannot listen on %d endpoints 127.0.X.Y:%d: %w", n, p, err)
			}
		}
	}
	return nil, fmt.Errorf("cannot listen on %d endpoints 127.0.X.Y, ports %d-%d: %w", n, port, port+portTries-1, lastErr)
}

func listenRange(n, base, port int) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, n)
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("127.0.%d.%d:%d", base+i/hostsPerBlock, 1+i%hostsPerBlock, port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func (s *server) stats() serverStats {
	return serverStats{Handshakes: s.handsh.Load(), Failed: s.failed.Load(), Sessions: s.sess.Load(),
		NotFound: s.shell.notFound.Load(), Unsupported: s.shell.unsupported.Load(), Kills: s.kills.Load(), Open: s.open.Load(), PeakOpen: s.peak.Load()}
}

func (s *server) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				fmt.Fprintln(os.Stderr, "scale -serve: accept:", err)
				continue
			}
			return
		}
		go s.serveConn(c)
	}
}

func (s *server) serveConn(c net.Conn) {
	defer c.Close()
	open := s.open.Add(1)
	defer s.open.Add(-1)
	for {
		p := s.peak.Load()
		if open <= p || s.peak.CompareAndSwap(p, open) {
			break
		}
	}
	// Commands still running (a sleep) end with their connection.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		s.failed.Add(1)
		return
	}
	s.handsh.Add(1)
	go ssh.DiscardRequests(reqs) // keepalives get "failure", as from sshd
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ctx, ch, creqs)
	}
	_ = sconn.Wait()
}

// session answers one session channel: its exec runs in the endpoint's
// shell (shell.go), then EOF, exit-status and close go out in sshd's order.
func (s *server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	s.sess.Add(1)
	pty := false
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			pty = true
			_ = req.Reply(true, nil)
		case "env":
			_ = req.Reply(true, nil)
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs) // signals, window changes: not served
			var stderr io.Writer = ch.Stderr()
			if pty {
				stderr = ch
			}
			sh := newHostShell(&s.shell, ch)
			status := sh.run(ctx, p.Command, ch, stderr)
			if strings.Contains(p.Command, "kill -TERM ") {
				s.kills.Add(1)
			}
			go func() { _, _ = io.Copy(io.Discard, ch) }() // input the command did not read
			if s.trace {
				fmt.Fprintf(os.Stderr, "scale -serve: exit %d: %q\n", status, p.Command)
			}
			if msg := sh.unsup.Load(); msg != nil && s.logged.Add(1) <= 3 { // enough to see what fleet sent that the endpoints lack
				fmt.Fprintf(os.Stderr, "scale -serve: %s in %q\n", *msg, p.Command)
			}
			_ = ch.CloseWrite()
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}
