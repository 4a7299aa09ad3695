package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pkg/sftp"
)

// sftpServers are where distributions install OpenSSH's sftp-server.
var sftpServers = []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
	"/usr/lib/ssh/sftp-server", "/usr/libexec/sftp-server"}

// SFTP returns the connection's SFTP client, opened on first use and kept
// for the rest of the run (one session). When the login shell prints text
// before the SFTP stream starts (a chatty .bashrc, which breaks the protocol
// with "packet too long"), it starts sftp-server itself behind a marker
// line and skips whatever comes before it.
func (c *Conn) SFTP(ctx context.Context) (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	type res struct {
		cl  *sftp.Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		cl, err := sftp.NewClient(c.client, sftpOptions()...)
		if sftpPacketTooLong(err) {
			cl, err = c.sftpBehindMarker()
		}
		ch <- res{cl, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("sftp: %w", r.err)
		}
		c.sftp = r.cl
		return r.cl, nil
	case <-ctx.Done():
		c.client.Close() // pkg/sftp has no cancellation: closing is the way out
		if r := <-ch; r.cl != nil {
			r.cl.Close()
		}
		return nil, ctx.Err()
	}
}

func sftpOptions() []sftp.ClientOption {
	// Concurrent writes pipeline a file's packets: deps.md measured 1.8x on
	// loopback, much more on real latency. The temp-then-rename write makes
	// their one drawback (holes after an error) harmless.
	return []sftp.ClientOption{sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true)}
}

// sftpBehindMarker runs sftp-server in an exec session after printing a
// marker line, and starts the SFTP protocol after the marker.
func (c *Conn) sftpBehindMarker() (*sftp.Client, error) {
	sess, err := c.client.NewSession()
	if err != nil {
		return nil, err
	}
	m := newMarkers()
	var script strings.Builder
	script.WriteString("for p in")
	for _, p := range sftpServers {
		script.WriteString(" " + p)
	}
	fmt.Fprintf(&script, "; do if [ -x \"$p\" ]; then printf '%%s\\n' %s; exec \"$p\"; fi; done; echo 'no sftp-server found' >&2; exit 127", Quote(m.ready))
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	if err := sess.Start("/bin/sh -c " + Quote(script.String())); err != nil {
		sess.Close()
		return nil, err
	}
	r := bufio.NewReader(stdout)
	for i := 0; ; i++ {
		line, err := r.ReadString('\n')
		if err != nil || i > 1000 {
			sess.Close()
			return nil, errShellNoise
		}
		if strings.TrimRight(line, "\r\n") == m.ready {
			break
		}
	}
	cl, err := sftp.NewClientPipe(r, stdin, sftpOptions()...)
	if err != nil {
		sess.Close()
		return nil, errShellNoise
	}
	return cl, nil
}

var errShellNoise = errors.New("the login shell prints text before SFTP starts and no sftp-server could be started behind it; " +
	"make the shell's start-up files print only in interactive shells (e.g. [ -z \"$PS1\" ] && return at the top of ~/.bashrc)")

// closeSFTP closes the SFTP client if one was opened.
func (c *Conn) closeSFTP() {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		c.sftp.Close()
		c.sftp = nil
	}
}
