package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// recipeFile is the recipe provisioned at scale: five steps, as a real one
// has them: guards that let the step run (unless, creates), one that skips
// it, output on both streams, and a when_changed step, which makes the
// engine record and clear a pending trigger on the host. Per host that is
// the facts command, the pending-trigger read, nine guard and step commands
// and the trigger's write and removal: 13 sessions on one connection.
const recipeFile = `name: scale
description: five steps for the scale harness (e2e/cmd/scale)
steps:
  - name: config folder
    run: mkdir -p /etc/scale
    creates: /etc/scale
  - name: agent
    run: echo installing scale-agent; echo "scale-agent $PSSH_HOST" >&2
    unless: test -e /usr/bin/scale-agent
  - name: agent config
    run: printf '%s\n' "listen 0.0.0.0:9100" "workers 4"
    unless: "false"
  - name: already there
    run: echo never
    unless: "true"
  - name: restart agent
    run: echo restarted
    when_changed: [agent, agent config]
`

// setupDir writes the keys, the recipe and HOME for fleet into dir.
func setupDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "home"), filepath.Join(dir, "profiles")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	for name, key := range map[string]ed25519.PrivateKey{hostKeyFile: hostPriv, clientKeyFile: clientPriv} {
		block, err := ssh.MarshalPrivateKey(key, "fleet scale harness")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	pub, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, clientPubFile), ssh.MarshalAuthorizedKey(pub), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "scale.yaml"), []byte(recipeFile), 0o600)
}

// writeHostFiles writes the pssh host file and known_hosts for the
// endpoints the server listed, and returns their addresses.
func writeHostFiles(dir string) ([]string, error) {
	pemBytes, err := os.ReadFile(filepath.Join(dir, hostKeyFile))
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, err
	}
	keyText := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	eps, err := os.ReadFile(filepath.Join(dir, endpointsFile))
	if err != nil {
		return nil, err
	}
	var hosts, known strings.Builder
	addrs := strings.Fields(string(eps))
	for _, addr := range addrs {
		host, port, _ := strings.Cut(addr, ":")
		fmt.Fprintf(&hosts, "%s@%s\n", serverUser, addr)
		fmt.Fprintf(&known, "[%s]:%s %s\n", host, port, keyText)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts.String()), 0o600); err != nil {
		return nil, err
	}
	return addrs, os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known.String()), 0o600)
}

// serverProc is the endpoint server child.
type serverProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startServer starts this binary in -serve mode and waits for "ready".
func startServer(ctx context.Context, dir string, n, port int) (*serverProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, serveFlag, dir, strconv.Itoa(n), strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group, so a Ctrl-C of the terminal reaches it only
	// through us (closing its stdin), after fleet is stopped.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serverProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	ready := make(chan error, 1)
	go func() {
		if s.out.Scan() && s.out.Text() == "ready" {
			ready <- nil
			return
		}
		ready <- errors.New("endpoint server exited before it was ready")
	}()
	select {
	case err = <-ready:
	case <-time.After(2 * time.Minute):
		err = errors.New("endpoint server not ready after 2 minutes")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stats asks the server for its counters; it answers within a moment.
func (s *serverProc) stats() (serverStats, error) {
	var st serverStats
	if _, err := io.WriteString(s.stdin, "stats\n"); err != nil {
		return st, err
	}
	if !s.out.Scan() {
		return st, errors.New("endpoint server gone")
	}
	return st, json.Unmarshal(s.out.Bytes(), &st)
}

// cpu is the server's user+sys CPU so far.
func (s *serverProc) cpu() time.Duration { return procstat.CPU(s.cmd.Process.Pid) }

// stop closes the server's stdin, which ends it, and kills it if it lingers.
func (s *serverProc) stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}
