package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// SSHD is one more sshd started by StartSSHD for a single test.
type SSHD struct {
	Host Host   // Addr and the port this sshd listens on
	Dir  string // its folder: sshd_config, sshd.log, sshd.pid
	proc *sshdProc
}

// Log is the path of the sshd's log (LogLevel VERBOSE: every accepted or
// failed authentication, with its method, is a line).
func (s *SSHD) Log() string { return filepath.Join(s.Dir, "sshd.log") }

// Stop kills the sshd and reaps it.
func (s *SSHD) Stop() {
	_ = s.proc.cmd.Process.Kill()
	s.proc.waitExit(5 * time.Second)
}

// StartSSHD starts another sshd on h's address and port, configured as h
// is (host keys, users, authorized keys) but with the extra sshd_config
// lines first: sshd takes the first value of a keyword, so they win over
// the usual ones (PasswordAuthentication yes, TrustedUserCAKeys,
// HostCertificate). It returns once the sshd sends its banner; the caller
// Stops it. Only plain (non-distro) hosts.
func (f *Fleet) StartSSHD(ctx context.Context, h Host, port int, extra string) (*SSHD, error) {
	if h.Distro != "" || h.Fault != "" {
		return nil, fmt.Errorf("harness: StartSSHD: %s is a distro or fault host", h.Addr)
	}
	dir, err := os.MkdirTemp(f.hostDir(h), "sshd-"+strconv.Itoa(port)+"-")
	if err != nil {
		return nil, fmt.Errorf("harness: StartSSHD: %w", err)
	}
	h.Port = port
	s := &SSHD{Host: h, Dir: dir}
	cfg := filepath.Join(dir, "sshd_config")
	first := fmt.Sprintf("PidFile %s\n%s\n", configQuote(filepath.Join(dir, "sshd.pid")), extra)
	if err := writeFile(cfg, first+f.sshdConfig(h, versionOptions(ctx)), 0o600); err != nil {
		return nil, err
	}
	if s.proc, err = spawn(sshdCommand(cfg), s.Log()); err != nil {
		return nil, fmt.Errorf("harness: StartSSHD: %w", err)
	}
	if err := waitBanner(ctx, h, s.proc, time.Now().Add(bannerTimeout)); err != nil {
		s.Stop()
		return nil, fmt.Errorf("harness: StartSSHD %s: %w\n%s", h.HostPort(), err, tail(s.Log(), 2000))
	}
	return s, nil
}
