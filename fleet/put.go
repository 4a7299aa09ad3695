package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// LocalFile is a local file to install on hosts: a path, or content in
// memory (a rendered template). Its checksum is computed once, before the
// run, not once per host.
type LocalFile struct {
	Path   string
	Data   []byte // when not nil, the content; Path only names it in messages
	Size   int64
	Mode   os.FileMode // permission bits of the local file
	SHA256 string      // hex
}

// BytesFile describes content held in memory.
func BytesFile(name string, data []byte, mode os.FileMode) *LocalFile {
	sum := sha256.Sum256(data)
	return &LocalFile{Path: name, Data: data, Size: int64(len(data)), Mode: mode, SHA256: hex.EncodeToString(sum[:])}
}

// open returns the content to send.
func (f *LocalFile) open() (io.ReadCloser, error) {
	if f.Data != nil {
		return io.NopCloser(bytes.NewReader(f.Data)), nil
	}
	return os.Open(f.Path)
}

// StatLocal reads size, mode and checksum of a local file.
func StatLocal(p string) (*LocalFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	return &LocalFile{Path: p, Size: n, Mode: st.Mode().Perm(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// PutOptions says how to install a file.
type PutOptions struct {
	Mode         os.FileMode // 0: the local file's mode
	Owner, Group string      // "": the existing file's, else the writer's
	Sudo         bool        // write as root: through a private temporary folder and install(1)
	SudoPassword []byte
	// Progress, when set, is told about every chunk of bytes sent.
	Progress func(n int64)
	// Private marks content that is secret: it is sent over SFTP only,
	// never inside a command line.
	Private bool
	// InFlight is how many hosts transfer at once; it divides a fixed
	// memory budget between them (see sendConcurrency). 0 means 1.
	InFlight int
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

// Put installs src at the remote path dst and reports whether it changed
// anything. A destination that already has the same content is not
// rewritten; a wrong mode or owner is corrected. New content goes to a
// temporary file beside the destination (or, with sudo, in a private
// folder), is checked for size and SHA-256, and is then renamed over the
// destination, so a transfer cut half way leaves the old file as it was.
func (c *Conn) Put(ctx context.Context, src *LocalFile, dst string, o PutOptions) (changed bool, err error) {
	return putFile(ctx, c, src, dst, o, c.write)
}

// writeFunc writes new content to dst with the given mode and owner.
type writeFunc func(ctx context.Context, src *LocalFile, dst string, mode os.FileMode, owner, group string, o PutOptions) error

// putFile is Put with the remote commands run by ex and new content written by
// write.
func putFile(ctx context.Context, ex executor, src *LocalFile, dst string, o PutOptions, write writeFunc) (changed bool, err error) {
	mode := o.Mode
	if mode == 0 {
		mode = src.Mode
	}
	cur, err := probe(ctx, ex, dst, o.Sudo, o.SudoPassword)
	if err != nil {
		return false, err
	}
	if cur.Dir {
		return false, &Error{Kind: errTransfer, Reason: dst + " is a folder"}
	}
	owner, group := o.Owner, o.Group
	if cur.Exists {
		owner, group = firstNonEmpty(owner, cur.Owner), firstNonEmpty(group, cur.Group)
	}
	if cur.Exists && cur.SHA256 == src.SHA256 {
		if cur.Mode == mode && (owner == "" || owner == cur.Owner) && (group == "" || group == cur.Group) {
			if o.Progress != nil {
				o.Progress(src.Size)
			}
			return false, nil
		}
		err = fixAttributes(ctx, ex, dst, mode, owner, group, o)
	} else {
		err = write(ctx, src, dst, mode, owner, group, o)
	}
	// A failed write was rolled back: the host is as it was.
	return err == nil, err
}

// write sends new content over SFTP, as root through a staging folder when
// o.Sudo says so.
func (c *Conn) write(ctx context.Context, src *LocalFile, dst string, mode os.FileMode, owner, group string, o PutOptions) error {
	if o.Sudo {
		return c.putSudo(ctx, src, dst, mode, owner, group, o)
	}
	return c.putDirect(ctx, src, dst, mode, owner, group, o)
}

// fixAttributes corrects mode and owner of a file whose content is right.
func fixAttributes(ctx context.Context, ex executor, dst string, mode os.FileMode, owner, group string, o PutOptions) error {
	script := fmt.Sprintf("chmod %04o -- %s", mode, Quote(dst))
	if owner != "" || group != "" {
		script += fmt.Sprintf(" && chown %s -- %s", Quote(ownerSpec(owner, group)), Quote(dst))
	}
	return runScript(ctx, ex, "set mode and owner of "+dst, script, o)
}

func ownerSpec(owner, group string) string {
	if group == "" {
		return owner
	}
	return owner + ":" + group
}

// run runs a small remote script, as root when o says so.
func (c *Conn) run(ctx context.Context, what, script string, o PutOptions) error {
	return runScript(ctx, c, what, script, o)
}

func runScript(ctx context.Context, ex executor, what, script string, o PutOptions) error {
	var errb strings.Builder
	err := ex.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(script), Stderr: &errb, Sudo: o.Sudo, SudoPassword: o.SudoPassword})
	if err != nil {
		return remoteError(ctx, what, err, errb.String())
	}
	return nil
}

// tempName is a hidden name beside p, unique to this write.
func tempName(dir, base string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(dir, "."+base+".fleet-"+hex.EncodeToString(b))
}

// putDirect writes as the login user over SFTP.
func (c *Conn) putDirect(ctx context.Context, src *LocalFile, dst string, mode os.FileMode, owner, group string, o PutOptions) (err error) {
	if _, err := c.SFTP(ctx); err != nil {
		return err
	}
	tmp := tempName(path.Dir(dst), path.Base(dst))
	defer func() {
		if err != nil {
			c.removeTemp(tmp)
		}
	}()
	got, err := c.upload(ctx, src, tmp, o.Progress, o.InFlight)
	if err != nil {
		return err
	}
	if err := c.cancellable(ctx, func(cl *sftp.Client) error { return cl.Chmod(tmp, mode) }); err != nil {
		return sftpError("chmod "+dst, err)
	}
	if owner != "" && owner != got.Owner || group != "" && group != got.Group {
		if err := c.run(ctx, "chown "+dst, fmt.Sprintf("chown %s -- %s", Quote(ownerSpec(owner, group)), Quote(tmp)), o); err != nil {
			return err
		}
	}
	err = c.cancellable(ctx, func(cl *sftp.Client) error {
		if _, ok := cl.HasExtension("posix-rename@openssh.com"); ok {
			return cl.PosixRename(tmp, dst)
		}
		_ = cl.Remove(dst) // SFTPv3 rename refuses to replace: not atomic, but the only way
		return cl.Rename(tmp, dst)
	})
	return sftpError("rename into "+dst, err)
}

// putSudo uploads into a private folder of the login user (0700: nothing
// readable by others on the way, named so that a later run can find it if
// this one is cut off; see stagingScript), then installs the file as root
// with the right mode and owner under a temporary name beside the
// destination, and renames it into place. A failure removes both
// temporaries, through a fresh connection when this one is gone.
func (c *Conn) putSudo(ctx context.Context, src *LocalFile, dst string, mode os.FileMode, owner, group string, o PutOptions) error {
	if _, err := c.SFTP(ctx); err != nil { // before the staging folder: nothing to clean up
		return err
	}
	dir, err := c.makeStaging(ctx)
	if err != nil {
		return err
	}
	staged := path.Join(dir, "data")
	if err := c.send(ctx, src, staged, o.Progress, o.InFlight); err != nil {
		c.removeTemp(dir)
		return err
	}
	tmp := tempName(path.Dir(dst), path.Base(dst))
	inst := fmt.Sprintf("install -m %04o", mode)
	if owner != "" {
		inst += " -o " + Quote(owner)
	}
	if group != "" {
		inst += " -g " + Quote(group)
	}
	// One root session checks what arrived, installs it under a temporary
	// name beside the destination, renames it into place and removes the
	// staging folder, whatever happens: a session per step costs the host
	// a fork of sshd and of sudo. It first touches the folder, which tells
	// another run's sweep that it is in use.
	script := fmt.Sprintf(`touch -- %[3]s 2>/dev/null; set -- $(sha256sum < %[1]s); if [ "$1" != %[2]s ]; then `+
		`echo "checksum mismatch: sent sha256 %.12[2]s, received $1" >&2; rm -rf -- %[3]s; exit 1; fi; `+
		`%[4]s -- %[1]s %[5]s && mv -f -- %[5]s %[6]s; rc=$?; [ $rc = 0 ] || rm -f -- %[5]s; rm -rf -- %[3]s; exit $rc`,
		Quote(staged), src.SHA256, Quote(dir), inst, Quote(tmp), Quote(dst))
	if err := c.run(ctx, "install "+dst, script, o); err != nil {
		// The script cleans up after itself when it runs to its end; not
		// when sudo refused it, a timeout killed it or the connection
		// died under it.
		c.removeSudoTemps(tmp, dir, o)
		return err
	}
	return nil
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

// removeTemp removes a temporary file or folder of the login user after a
// failure.
func (c *Conn) removeTemp(p string) { c.cleanUp(&Command{Line: "rm -rf -- " + Quote(p)}) }

// cleanUp runs a clean-up command after a failure and reports whether it
// ran and whether the host could be reached for it. When the connection
// itself is gone, it opens a new one for that (bounded), so that a transfer
// cut half way leaves nothing behind.
func (c *Conn) cleanUp(cmd *Command) (ran, reached bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Exec(ctx, cmd)
	if err == nil {
		return true, true
	}
	var exit *ssh.ExitError
	if errors.As(err, &exit) || errors.Is(err, errSudo) {
		return false, true // the host answered: another connection would not do better
	}
	if c.dialer == nil {
		return false, false
	}
	fresh, err := c.dialer.Dial(ctx, c.host)
	if err != nil {
		return false, false
	}
	defer fresh.Close()
	return fresh.Exec(ctx, cmd) == nil, true
}

// lastLine is the last non-empty line of a command's output, past whatever
// the login shell printed first.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
