package fleet

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// MkdirAll creates the remote folder dir and its parents, as root with
// sudo, and reports whether it had to.
func (c *Conn) MkdirAll(ctx context.Context, dir string, o PutOptions) (bool, error) {
	cur, err := c.Probe(ctx, dir, o.Sudo, o.SudoPassword)
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
	err = c.run(ctx, "mkdir "+dir, script, o)
	return err == nil, err
}

// PutLink makes dst a symbolic link to target, replacing what is there by
// rename, and reports whether it changed anything.
func (c *Conn) PutLink(ctx context.Context, target, dst string, o PutOptions) (bool, error) {
	tmp := tempName(path.Dir(dst), path.Base(dst))
	t, d := Quote(target), Quote(dst)
	script := fmt.Sprintf(`if [ -L %[2]s ] && [ "$(readlink -- %[2]s)" = %[1]s ]; then echo same; `+
		`else ln -s -- %[1]s %[3]s && mv -Tf -- %[3]s %[2]s && echo made || { rm -f -- %[3]s; exit 1; }; fi`, t, d, Quote(tmp))
	var out, errb strings.Builder
	err := c.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(script), Stdout: &out, Stderr: &errb, Sudo: o.Sudo, SudoPassword: o.SudoPassword})
	if err != nil {
		return false, remoteError(ctx, "link "+dst, err, errb.String())
	}
	return lastLine(out.String()) == "made", nil
}
