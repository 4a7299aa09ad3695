package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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

// sendBudget bounds the memory of all transfers together: each outstanding
// SFTP write holds a 32 KiB packet, and pkg/sftp keeps up to 64 per file, so
// without a shared budget memory would grow with the hosts in flight.
const (
	sendBudget  = 32 << 20
	sftpPacket  = 32 << 10
	minRequests = 4
	maxRequests = 64
)

// sendConcurrency is the SFTP requests in flight per file when inFlight
// hosts share the budget.
func sendConcurrency(inFlight int) int {
	n := sendBudget / sftpPacket / max(inFlight, 1)
	return min(max(n, minRequests), maxRequests)
}

// upload sends src to the remote path tmp, checks size and SHA-256 of what
// arrived, and returns what the host says of the new file.
func (c *Conn) upload(ctx context.Context, src *LocalFile, tmp string, progress func(int64), inFlight int) (*RemoteFile, error) {
	if err := c.send(ctx, src, tmp, progress, inFlight); err != nil {
		return nil, err
	}
	got, err := c.Probe(ctx, tmp, false, nil)
	if err != nil {
		return nil, err
	}
	if got.Size != src.Size || got.SHA256 != src.SHA256 {
		return nil, &Error{Kind: errTransfer, Reason: fmt.Sprintf("checksum mismatch: sent %d bytes (sha256 %.12s), %s has %d (sha256 %.12s)",
			src.Size, src.SHA256, tmp, got.Size, got.SHA256)}
	}
	return got, nil
}

// send streams src to the remote path tmp: created, never overwritten, and
// private (0600) while incomplete.
func (c *Conn) send(ctx context.Context, src *LocalFile, tmp string, progress func(int64), inFlight int) error {
	in, err := src.open()
	if err != nil {
		return err
	}
	defer in.Close()
	// A host's sftp-server that never answers (a hung disk, a FIFO swapped
	// in) must not outlive -t or Ctrl-C: the connection closes with ctx
	// from the first request on, as in Get.
	return c.cancellable(ctx, func(cl *sftp.Client) error {
		f, err := cl.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return sftpError("create "+tmp, err)
		}
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return sftpError("chmod "+tmp, err)
		}
		// A LimitedReader keeps pkg/sftp's concurrent writes on (it needs
		// to know the length) while the wrapper counts progress.
		n, err := f.ReadFromWithConcurrency(&io.LimitedReader{R: &progressReader{r: in, progress: progress}, N: src.Size},
			sendConcurrency(inFlight))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return sftpWriteError(tmp, err)
		}
		if n != src.Size {
			return &Error{Kind: errTransfer, Reason: fmt.Sprintf("sent %d bytes of %d: the local file changed while it was sent", n, src.Size)}
		}
		return nil
	})
}

type progressReader struct {
	r        io.Reader
	progress func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.progress != nil {
		p.progress(int64(n))
	}
	return n, err
}
