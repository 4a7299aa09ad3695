package fleet

import (
	"bytes"
	"cmp"
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
	// ModTime is the local file's modification time when it was read
	// (zero for content held in memory), for scp -p.
	ModTime time.Time
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
	return &LocalFile{Path: p, Size: n, Mode: st.Mode().Perm(), SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: st.ModTime()}, nil
}

// PutOptions says how to install a file.
type PutOptions struct {
	Mode         os.FileMode // 0: the existing file's mode, else the local file's
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
	// ReplaceLink replaces a destination that is a symbolic link with the
	// file, as Ansible's copy does; otherwise the file is written where
	// the link points, as scp and pscp do.
	ReplaceLink bool
}

// Put installs src at the remote path dst and reports whether it changed
// anything. A destination that already has the same content is not
// rewritten; a mode or owner other than the one asked for is corrected,
// and an existing file keeps its own unless o asks for others. New content
// goes to a temporary file beside the destination (or, with sudo, in a
// private folder), is checked for size and SHA-256, and is then renamed
// over the destination, so a transfer cut half way leaves the old file as
// it was. A destination that is a symbolic link is written through: the
// file it points to is the one replaced (see PutOptions.ReplaceLink).
func (x *Remote) Put(ctx context.Context, src *LocalFile, dst string, o PutOptions) (changed bool, err error) {
	cur, err := x.Probe(ctx, dst, o.Sudo, o.SudoPassword)
	if err != nil {
		return false, err
	}
	if cur.Dir {
		return false, &Error{Kind: errTransfer, Reason: dst + " is a folder"}
	}
	at := dst
	if cur.Target != "" && !o.ReplaceLink {
		at = cur.Target
	}
	a := fileAttrs{mode: o.Mode, owner: o.Owner, group: o.Group}
	if cur.Exists {
		// As scp over an existing file: its mode and owner stay.
		a.mode = cmp.Or(a.mode, cur.Mode)
		a.owner, a.group = cmp.Or(a.owner, cur.Owner), cmp.Or(a.group, cur.Group)
	}
	a.mode = cmp.Or(a.mode, src.Mode)
	if cur.Exists && cur.SHA256 == src.SHA256 {
		if cur.Mode == a.mode && (a.owner == "" || a.owner == cur.Owner) && (a.group == "" || a.group == cur.Group) {
			if o.Progress != nil {
				o.Progress(src.Size)
			}
			return false, nil
		}
		err = x.fixAttributes(ctx, at, a, o)
	} else {
		err = x.write(ctx, src, at, a, o)
	}
	// A failed write was rolled back: the host is as it was.
	return err == nil, err
}

// fileAttrs are the mode and owner a put file gets; "" owner or group
// leaves it to the writer.
type fileAttrs struct {
	mode         os.FileMode
	owner, group string
}

// write writes new content: with one command when it is small, in memory
// and not secret and the Remote says so (a shell), else over SFTP, as root
// through a staging folder when o.Sudo says so.
func (x *Remote) write(ctx context.Context, src *LocalFile, dst string, a fileAttrs, o PutOptions) error {
	switch {
	case x.inline && src.Data != nil && len(src.Data) <= maxShellFile && !o.Private:
		return x.writeInline(ctx, src, dst, a, o)
	case o.Sudo:
		return x.conn.putSudo(ctx, src, dst, a, o)
	default:
		return x.conn.putDirect(ctx, src, dst, a, o)
	}
}

// fixAttributes corrects mode and owner of a file whose content is right.
func (x *Remote) fixAttributes(ctx context.Context, dst string, a fileAttrs, o PutOptions) error {
	script := fmt.Sprintf("chmod %04o -- %s", a.mode, Quote(dst))
	if a.owner != "" || a.group != "" {
		script += fmt.Sprintf(" && chown %s -- %s", Quote(ownerSpec(a.owner, a.group)), Quote(dst))
	}
	return x.script(ctx, "set mode and owner of "+dst, script, o)
}

func ownerSpec(owner, group string) string {
	if group == "" {
		return owner
	}
	return owner + ":" + group
}

// script runs a small remote script, as root when o says so; a failure
// says what failed in the script's own words.
func (x *Remote) script(ctx context.Context, what, script string, o PutOptions) error {
	var errb answer
	err := x.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(script), Stderr: &errb, Sudo: o.Sudo, SudoPassword: o.SudoPassword})
	if err != nil {
		return remoteError(ctx, what, err, errb.String())
	}
	return nil
}

// maxShellFile is the largest file written through a shell: its content
// travels inside the command (as printf escapes, up to four bytes each),
// which maxShellLine bounds.
const maxShellFile = 16 << 10

// writeInline writes new content with one command: into a private temporary
// file beside dst, checked against its SHA-256, given its mode and owner,
// then renamed over dst; a failure removes the temporary file.
func (x *Remote) writeInline(ctx context.Context, src *LocalFile, dst string, a fileAttrs, o PutOptions) error {
	template := path.Join(path.Dir(dst), "."+path.Base(dst)+".fleet-XXXXXX")
	attrs := fmt.Sprintf(`chmod %04o "$t"`, a.mode)
	if a.owner != "" || a.group != "" {
		attrs += " && chown " + Quote(ownerSpec(a.owner, a.group)) + ` "$t"`
	}
	script := fmt.Sprintf(`umask 077; t=$(mktemp %s) || exit 1; `+
		`printf %s > "$t" && set -- $(sha256sum < "$t") && `+
		`if [ "$1" != %s ]; then echo "checksum mismatch: sent sha256 %.12[3]s, wrote $1" >&2; false; fi && `+
		`%s && mv -f -- "$t" %s; rc=$?; [ $rc = 0 ] || rm -f -- "$t"; exit $rc`,
		Quote(template), printfFormat(src.Data), src.SHA256, attrs, Quote(dst))
	err := x.script(ctx, "write "+dst, script, o)
	if o.Progress != nil && err == nil {
		o.Progress(src.Size)
	}
	return err
}

// printfFormat quotes data as a printf(1) format that prints it exactly:
// printable ASCII as itself, % and \ escaped, everything else as a
// three-digit octal escape, all in single quotes. A leading - is escaped
// too, so that printf does not take the format for an option.
func printfFormat(data []byte) string {
	var b strings.Builder
	b.Grow(len(data) + len(data)/8 + 2)
	b.WriteByte('\'')
	for i, c := range data {
		switch {
		case i == 0 && c == '-':
			b.WriteString(`\055`)
		case c == '%':
			b.WriteString("%%")
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\'' || c < ' ' || c > '~':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// MkdirAll creates the remote folder dir and its parents, as root with
// sudo, and reports whether it had to.
func (x *Remote) MkdirAll(ctx context.Context, dir string, o PutOptions) (bool, error) {
	cur, err := x.Probe(ctx, dir, o.Sudo, o.SudoPassword)
	if err != nil {
		return false, err
	}
	if cur.Dir {
		return false, nil
	}
	if cur.Exists {
		return false, &Error{Kind: errTransfer, Reason: dir + " exists and is not a folder"}
	}
	script := "mkdir -p -- " + Quote(dir)
	if o.Owner != "" || o.Group != "" {
		script += " && chown " + Quote(ownerSpec(o.Owner, o.Group)) + " -- " + Quote(dir)
	}
	err = x.script(ctx, "mkdir "+dir, script, o)
	return err == nil, err
}

// PutLink makes dst a symbolic link to target, replacing what is there by
// rename, and reports whether it changed anything.
func (x *Remote) PutLink(ctx context.Context, target, dst string, o PutOptions) (bool, error) {
	tmp := tempName(dst)
	t, d := Quote(target), Quote(dst)
	script := fmt.Sprintf(`if [ -L %[2]s ] && [ "$(readlink -- %[2]s)" = %[1]s ]; then echo same; `+
		`else ln -s -- %[1]s %[3]s && mv -Tf -- %[3]s %[2]s && echo made || { rm -f -- %[3]s; exit 1; }; fi`, t, d, Quote(tmp))
	var out, errb answer
	err := x.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(script), Stdout: &out, Stderr: &errb, Sudo: o.Sudo, SudoPassword: o.SudoPassword})
	if err != nil {
		return false, remoteError(ctx, "link "+dst, err, errb.String())
	}
	return lastLine(out.String()) == "made", nil
}

// tempName is a hidden name beside the slash path p, unique to this write.
func tempName(p string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(p), "."+path.Base(p)+".fleet-"+hex.EncodeToString(b))
}

// putDirect writes as the login user over SFTP.
func (c *Conn) putDirect(ctx context.Context, src *LocalFile, dst string, a fileAttrs, o PutOptions) (err error) {
	if _, err := c.SFTP(ctx); err != nil {
		return err
	}
	tmp := tempName(dst)
	defer func() {
		if err != nil {
			c.removeTemp(tmp)
		}
	}()
	got, err := c.upload(ctx, src, tmp, o.Progress, o.InFlight)
	if err != nil {
		return err
	}
	if err := c.cancellable(ctx, func(cl *sftp.Client) error { return cl.Chmod(tmp, a.mode) }); err != nil {
		return sftpError("chmod "+dst, err)
	}
	if a.owner != "" && a.owner != got.Owner || a.group != "" && a.group != got.Group {
		if err := c.script(ctx, "chown "+dst, fmt.Sprintf("chown %s -- %s", Quote(ownerSpec(a.owner, a.group)), Quote(tmp)), o); err != nil {
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
func (c *Conn) putSudo(ctx context.Context, src *LocalFile, dst string, a fileAttrs, o PutOptions) error {
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
	tmp := tempName(dst)
	inst := fmt.Sprintf("install -m %04o", a.mode)
	if a.owner != "" {
		inst += " -o " + Quote(a.owner)
	}
	if a.group != "" {
		inst += " -g " + Quote(a.group)
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
	if err := c.script(ctx, "install "+dst, script, o); err != nil {
		// The script cleans up after itself when it runs to its end; not
		// when sudo refused it, a timeout killed it or the connection
		// died under it.
		c.removeSudoTemps(tmp, dir, o)
		return err
	}
	return nil
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
