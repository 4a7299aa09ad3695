package fleet

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
)

// Shells runs a host's commands, probes and small file writes through two
// long-lived shells of one connection, the login user's and root's, each
// started on first use (see Shell). It has the methods of *Conn that
// recipes use, so a recipe of many steps costs the host two sessions and
// one sudo instead of a few sessions and a sudo per step. What a shell
// cannot carry (a command reading standard input, one asking for a
// terminal, a very long one, a large file) goes through the connection as
// before.
type Shells struct {
	conn *Conn

	mu     sync.Mutex
	shells [2]*Shell // [0] the login user's, [1] root's
}

// Shells returns a Shells for c. Close it when done.
func (c *Conn) Shells() *Shells { return &Shells{conn: c} }

// maxShellFile is the largest file written through a shell: its content
// travels inside the command (as printf escapes, up to four bytes each),
// which maxShellLine bounds.
const maxShellFile = 16 << 10

// Exec runs cmd through the shell for cmd.Sudo, as Conn.Exec would run it.
func (s *Shells) Exec(ctx context.Context, cmd *Command) error {
	if cmd.Stdin != nil || cmd.PTY || len(cmd.Line) > maxShellLine {
		return s.conn.Exec(ctx, cmd)
	}
	sh, err := s.shell(ctx, cmd.Sudo, cmd.SudoPassword)
	if err != nil {
		return err
	}
	return sh.Run(ctx, cmd)
}

// shell returns the started shell of that kind, starting it on first use.
// A shell that failed to start is tried again by the next command: the
// failure (a timeout, sudo refusing) belongs to the step that met it.
func (s *Shells) shell(ctx context.Context, sudo bool, password []byte) (*Shell, error) {
	i := 0
	if sudo {
		i = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shells[i] != nil {
		return s.shells[i], nil
	}
	sh, err := s.conn.StartShell(ctx, sudo, password)
	if err != nil {
		return nil, err
	}
	s.shells[i] = sh
	return sh, nil
}

// Probe reads the state of a remote path, as Conn.Probe does.
func (s *Shells) Probe(ctx context.Context, path string, sudo bool, sudoPassword []byte) (*RemoteFile, error) {
	return probe(ctx, s, path, sudo, sudoPassword)
}

// Put installs src at dst, as Conn.Put does. Content held in memory and
// small enough is written by one command of the shell; other files go
// over SFTP.
func (s *Shells) Put(ctx context.Context, src *LocalFile, dst string, o PutOptions) (changed bool, err error) {
	return putFile(ctx, s, src, dst, o, s.write)
}

// write writes new content through the shell: into a private temporary
// file beside dst, checked against its SHA-256, given its mode and owner,
// then renamed over dst; a failure removes the temporary file.
func (s *Shells) write(ctx context.Context, src *LocalFile, dst string, mode os.FileMode, owner, group string, o PutOptions) error {
	if src.Data == nil || len(src.Data) > maxShellFile || o.Private {
		return s.conn.write(ctx, src, dst, mode, owner, group, o)
	}
	template := path.Join(path.Dir(dst), "."+path.Base(dst)+".fleet-XXXXXX")
	attrs := fmt.Sprintf(`chmod %04o "$t"`, mode)
	if owner != "" || group != "" {
		attrs += " && chown " + Quote(ownerSpec(owner, group)) + ` "$t"`
	}
	script := fmt.Sprintf(`umask 077; t=$(mktemp %s) || exit 1; `+
		`printf %s > "$t" && set -- $(sha256sum < "$t") && `+
		`if [ "$1" != %s ]; then echo "checksum mismatch: sent sha256 %.12[3]s, wrote $1" >&2; false; fi && `+
		`%s && mv -f -- "$t" %s; rc=$?; [ $rc = 0 ] || rm -f -- "$t"; exit $rc`,
		Quote(template), printfFormat(src.Data), src.SHA256, attrs, Quote(dst))
	err := runScript(ctx, s, "write "+dst, script, o)
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

// Close ends the shells.
func (s *Shells) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sh := range s.shells {
		if sh != nil {
			sh.Close()
			s.shells[i] = nil
		}
	}
}
