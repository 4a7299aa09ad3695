package fleet

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/pkg/sftp"
)

// SFTP returns the connection's SFTP client, opened on first use and kept
// for the rest of the run (one session). sshd starts the sftp subsystem
// through the login shell, so a chatty ~/.bashrc prints its text ahead of
// the SFTP stream (breaking it with "packet too long" in other clients):
// whatever comes before the server's version packet is skipped and kept
// apart as the connection's Banner, bounded in memory and in size.
func (c *Conn) SFTP(ctx context.Context) (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	cl, err := bounded(ctx, c, c.openSFTP) // pkg/sftp has no cancellation
	if err != nil {
		return nil, err
	}
	c.sftp = cl
	return cl, nil
}

// openSFTP starts the sftp subsystem, as pkg/sftp's NewClient does, but
// reads the server's stream through an sftpStart. The session's stderr
// (where the login shell may print too) is drained and dropped.
func (c *Conn) openSFTP() (_ *sftp.Client, err error) {
	sess, err := c.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	defer func() {
		if err != nil {
			sess.Close()
			err = fmt.Errorf("sftp: %w", err)
		}
	}()
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		return nil, err
	}
	seen := &banner{}
	start := &sftpStart{r: stdout, banner: seen}
	// Concurrent writes pipeline a file's packets: deps.md measured 1.8x on
	// loopback, much more on real latency. The temp-then-rename write makes
	// their one drawback (holes after an error) harmless.
	cl, err := sftp.NewClientPipe(start, sessionWriter{stdin, sess}, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
	c.noteBanner(seen)
	if err != nil {
		return nil, cmp.Or(start.err, err)
	}
	return cl, nil
}

// sessionWriter is the SFTP stream's input: closing it (the client's
// Close) ends the session too.
type sessionWriter struct {
	io.WriteCloser
	sess interface{ Close() error }
}

func (w sessionWriter) Close() error {
	err := w.WriteCloser.Close()
	w.sess.Close()
	return err
}

// sftpStart reads the SFTP stream from the server's version packet on:
// uint32 length, byte SSH_FXP_VERSION (2), uint32 version 3. Whatever
// comes first (text, which holds no NUL byte) goes to banner; at most
// maxBanner bytes of it are read through, and never more than a packet's
// worth is held.
type sftpStart struct {
	r       io.Reader
	banner  *banner
	found   bool
	held    []byte // read but not returned yet: from the version packet on, once found
	skipped int64
	err     error // why the stream never started, in fleet's words
}

// sftpVersion is the start of SSH_FXP_VERSION's body, version 3.
var sftpVersion = []byte{2, 0, 0, 0, 3}

func (s *sftpStart) Read(p []byte) (int, error) {
	for !s.found {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	if len(s.held) > 0 {
		n := copy(p, s.held)
		s.held = s.held[n:]
		return n, nil
	}
	return s.r.Read(p)
}

// fill reads a chunk and looks for the version packet in it.
func (s *sftpStart) fill() error {
	buf := make([]byte, 32<<10)
	n, err := s.r.Read(buf)
	data := append(s.held, buf[:n]...)
	if i := versionAt(data); i >= 0 {
		_, _ = s.banner.Write(data[:i])
		s.held, s.found = data[i:], true
		return nil
	}
	// The last bytes may be the start of the packet.
	keep := min(len(data), 4+len(sftpVersion)-1)
	_, _ = s.banner.Write(data[:len(data)-keep])
	s.skipped += int64(len(data) - keep)
	s.held = append(make([]byte, 0, 16), data[len(data)-keep:]...)
	switch {
	case s.skipped > maxBanner:
		s.err = &Error{Kind: errTransfer, Reason: fmt.Sprintf("the login shell printed more than %d MiB before the SFTP stream started", maxBanner>>20),
			Hint: bannerHint(s.banner.text())}
		return s.err
	case err != nil:
		_, _ = s.banner.Write(s.held)
		s.held = nil
		if t := s.banner.text(); t != "" {
			s.err = &Error{Kind: errTransfer, Reason: "the sftp subsystem ended before it started; the login shell printed: " + t,
				Hint: bannerHint(""), Err: err}
			return s.err
		}
		return err
	}
	return nil
}

// versionAt is where in data the version packet starts (a length under
// 64 KiB, as every server's is), or -1.
func versionAt(data []byte) int {
	for off := 0; ; {
		j := bytes.Index(data[off:], sftpVersion)
		if j < 0 {
			return -1
		}
		j += off
		if i := j - 4; i >= 0 && data[i] == 0 && data[i+1] == 0 && int(data[i+2])<<8|int(data[i+3]) >= 5 {
			return i
		}
		off = j + 1
	}
}

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
