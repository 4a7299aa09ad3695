package fleet

import (
	"context"
	"fmt"
	"time"
)

// stagingPrefix starts the name of every private folder that Put with sudo
// uploads into, followed by the login user's uid and a random part
// ("/tmp/.fleet-sudo-1000-Ab3dE5gH7j"): a later run finds the folders a
// lost connection left behind by that name, and a person looking at /tmp
// can tell whose they are and what made them.
const stagingPrefix = ".fleet-sudo-"

// stagingStale is how long a staging folder and everything in it must have
// been left untouched before another run takes it for abandoned. An upload
// in progress writes to it all the time and the install step touches it
// when it starts, so only a folder whose run is gone gets that old; if one
// were taken from a run still installing it, that install fails cleanly
// (install(1) finds no source) and the destination keeps its old content.
const stagingStale = 10 * time.Minute

// stagingScript removes the login user's abandoned staging folders from
// ${TMPDIR:-/tmp} and makes a new one (mktemp -d: mode 0700 from its
// creation, so what is uploaded into it is never readable by others), whose
// path it prints. Only folders that are the user's own (find -user: /tmp is
// shared, and another user's temporary files are theirs to keep) and stale
// are removed; a symbolic link of that name is not a folder to find and is
// left alone.
func stagingScript() string {
	return fmt.Sprintf(`d=${TMPDIR:-/tmp}; u=$(id -u) || exit 1; `+
		`for x in "$d"/%[1]s"$u"-*; do `+
		`[ -n "$(find "$x" -prune -type d -user "$u" 2>/dev/null)" ] || continue; `+
		`[ -z "$(find "$x" -mmin -%[2]d 2>/dev/null | head -n 1)" ] && rm -rf -- "$x"; `+
		`done; umask 077; mktemp -d "$d/%[1]s$u-XXXXXXXXXX"`,
		stagingPrefix, int(stagingStale/time.Minute))
}

// makeStaging sweeps abandoned staging folders and makes a fresh one, in one
// session of the login user, and returns its path.
func (c *Conn) makeStaging(ctx context.Context) (string, error) {
	var out, errb answer
	if err := c.Exec(ctx, &Command{Line: "/bin/sh -c " + Quote(stagingScript()), Stdout: &out, Stderr: &errb}); err != nil {
		return "", remoteError(ctx, "make a staging folder", err, errb.String())
	}
	dir := lastLine(out.String())
	if len(dir) < 2 || dir[0] != '/' {
		return "", &Error{Kind: errTransfer, Reason: fmt.Sprintf("mktemp answered %q", dir)}
	}
	return dir, nil
}

// removeSudoTemps removes what a failed install step may have left: the
// root-owned temporary file beside the destination (when the step was
// killed half way, by a timeout) and the staging folder, as root, over
// this connection or, when it is gone, a fresh one. When root cannot do it
// the login user removes the staging folder, which is its own; when the
// host cannot be reached at all, the next Put with sudo there sweeps it.
func (c *Conn) removeSudoTemps(tmp, dir string, o PutOptions) {
	root := &Command{Line: "rm -rf -- " + Quote(tmp) + " " + Quote(dir), Sudo: true, SudoPassword: o.SudoPassword}
	if ran, reached := c.cleanUp(root); !ran && reached {
		c.removeTemp(dir)
	}
}
