package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
)

const copyDescription = `Copies LOCAL files (and with -r, folders) to REMOTE on every host, over SFTP on
the host's one SSH connection, as pscp.pssh does. REMOTE is a folder when it
ends in /, when it exists as one, or when several sources are given (a folder
ending in / is created when missing).

Each file is written to a temporary name beside its destination, checked
(size and SHA-256), then renamed over it: a transfer cut half way leaves the
old file as it was. A destination that already has the same content is not
rewritten and the host is reported "unchanged"; a wrong mode or owner is
corrected ("changed"). An existing file keeps its mode and owner unless
--mode or --owner; a new one gets the local file's mode. A destination that
is a symbolic link is written through, as scp does: the file it points to
is replaced (by rename, beside it) and the link stays.

With --sudo the destination may belong to root: the file is uploaded to a
private folder of the login user (${TMPDIR:-/tmp}/.fleet-sudo-UID-RANDOM, mode
0700), then installed as root with install(1) and renamed into place. A
failed install removes that folder; if the host could not be reached to do
so, the next copy --sudo there removes the user's own such folders left
untouched for 10 minutes. With -r, symbolic links are copied as links (their target text, as
cp -a does), not the files they point to.

EXAMPLES
   fleet copy -h kube daemon.json /tmp/daemon.json
   fleet copy -h kube --sudo --mode 0644 --owner root:root daemon.json /etc/docker/daemon.json
   fleet copy -h kube -S --sudo docker.conf /etc/systemd/system/docker.service.d/
   fleet copy -h kube -r ./conf.d /etc/myapp/`

func copyCommand(env *environment) *cli.Command {
	flags := append(hostFlags("0"),
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Category: catRun, Usage: "copy folders and what they hold"},
		&cli.StringFlag{Name: "mode", Category: catRun, Usage: "permission bits of the files, octal `MODE` like 0644 (default: an existing file's, else the local file's)"},
		&cli.StringFlag{Name: "owner", Category: catRun, Usage: "owner of the files, `USER[:GROUP]` (usually with --sudo)"},
		&cli.BoolFlag{Name: "json", Category: catOutput, Usage: "print one JSON object a line per host"},
	)
	flags = append(flags, sudoFlags("write")...)
	return &cli.Command{
		Name:                   "copy",
		Usage:                  "copy files to every host (pscp.pssh), atomically",
		UsageText:              "fleet copy [options] LOCAL... REMOTE",
		Description:            copyDescription,
		Flags:                  flags,
		UseShortOptionHandling: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageErr{err}
		},
		Action: func(c *cli.Context) error {
			o, err := readCopyOptions(c, env)
			if err != nil {
				return err
			}
			return copyToHosts(c.Context, env, o)
		},
	}
}

type copyOptions struct {
	*targetOptions
	sources []*copySource
	remote  string
	put     fleet.PutOptions
	sudo    sudoOptions
	json    bool
	bytes   int64 // sent to each host
}

// copySource is one LOCAL argument, read once for every host.
type copySource struct {
	name  string      // its base name
	isDir bool        // a folder, with -r
	items []*copyItem // what a folder holds, in walk order
	file  *fleet.LocalFile
}

// copyItem is a folder, file or link inside a source folder; rel is its
// slash path under the source.
type copyItem struct {
	rel    string
	dir    bool
	file   *fleet.LocalFile
	target string // for links
}

func readCopyOptions(c *cli.Context, env *environment) (*copyOptions, error) {
	if c.NArg() < 2 {
		return nil, usageError("give at least one LOCAL file and the REMOTE destination")
	}
	t, err := readTargets(c, env)
	if err != nil {
		return nil, err
	}
	args := c.Args().Slice()
	o := &copyOptions{targetOptions: t, remote: args[len(args)-1], sudo: readSudo(c), json: c.Bool("json")}
	if m := c.String("mode"); m != "" {
		mode, err := strconv.ParseUint(m, 8, 32)
		if err != nil || mode > 0o7777 {
			return nil, usageError("--mode %q: want octal permission bits like 0644", m)
		}
		o.put.Mode = fs.FileMode(mode)
	}
	if ow := c.String("owner"); ow != "" {
		o.put.Owner, o.put.Group, _ = strings.Cut(ow, ":")
		if o.put.Owner == "" || strings.ContainsAny(ow, " '\"\\$`") {
			return nil, usageError("--owner %q: want USER or USER:GROUP", ow)
		}
	}
	for _, a := range args[:len(args)-1] {
		src, err := readSource(a, c.Bool("recursive"))
		if err != nil {
			return nil, err
		}
		o.sources = append(o.sources, src)
		o.bytes += src.size()
	}
	return o, nil
}

// readSource stats a local source and checksums its files, once.
func readSource(p string, recursive bool) (*copySource, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, usageError("%v", err)
	}
	src := &copySource{name: filepath.Base(filepath.Clean(p))}
	if !st.IsDir() {
		if src.file, err = fleet.StatLocal(p); err != nil {
			return nil, usageError("%v", err)
		}
		return src, nil
	}
	if !recursive {
		return nil, usageError("%s is a folder (use -r to copy folders)", p)
	}
	src.isDir = true
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, q)
		if rel == "." {
			return nil
		}
		it := &copyItem{rel: filepath.ToSlash(rel)}
		switch {
		case d.IsDir():
			it.dir = true
		case d.Type()&fs.ModeSymlink != 0:
			if it.target, err = os.Readlink(q); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if it.file, err = fleet.StatLocal(q); err != nil {
				return err
			}
		default:
			return nil // sockets, devices: not copied
		}
		src.items = append(src.items, it)
		return nil
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return src, nil
}

func (s *copySource) size() int64 {
	if s.file != nil {
		return s.file.Size
	}
	var n int64
	for _, it := range s.items {
		if it.file != nil {
			n += it.file.Size
		}
	}
	return n
}

func copyToHosts(ctx context.Context, env *environment, o *copyOptions) error {
	pw, err := o.sudo.password()
	if err != nil {
		return err
	}
	if err := preparePassword(o.targetOptions); err != nil {
		return err
	}
	o.put.Sudo, o.put.SudoPassword = o.sudo.sudo, pw
	o.put.InFlight = min(o.par, len(o.hosts))
	j := &job{env: env, targets: o.targetOptions, verb: "copy", argv: env.args, json: o.json,
		showChanged: true, totalBytes: o.bytes * int64(len(o.hosts))}
	return j.run(ctx, func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
		put := o.put
		put.Progress = j.printer.AddBytes
		changed, err := copyTo(ctx, c, o, put, j.logs[r.Index])
		r.Changed = changed
		return err
	})
}

// copyTo copies every source to one host.
func copyTo(ctx context.Context, c *fleet.Conn, o *copyOptions, put fleet.PutOptions, log *fleet.HostLog) (bool, error) {
	into := len(o.sources) > 1 || strings.HasSuffix(o.remote, "/")
	remote := path.Clean(o.remote)
	changed := false
	note := func(what, p string, ch bool, err error) {
		changed = changed || ch
		if log != nil {
			state := "unchanged"
			switch {
			case err != nil:
				state = "failed"
			case ch:
				state = "changed"
			}
			log.Note(fmt.Sprintf("%s %s: %s", what, p, state))
		}
	}
	if into {
		made, err := c.MkdirAll(ctx, remote, put)
		note("folder", remote, made, err)
		if err != nil {
			return changed, err
		}
	} else {
		cur, err := c.Probe(ctx, remote, put.Sudo, put.SudoPassword)
		if err != nil {
			return false, err
		}
		into = cur.Dir
	}
	for _, src := range o.sources {
		dst := remote
		if into {
			dst = path.Join(remote, src.name)
		}
		if src.file != nil {
			ch, err := c.Put(ctx, src.file, dst, put)
			note("file", dst, ch, err)
			if err != nil {
				return changed, err
			}
			continue
		}
		made, err := c.MkdirAll(ctx, dst, put)
		note("folder", dst, made, err)
		if err != nil {
			return changed, err
		}
		for _, it := range src.items {
			p := path.Join(dst, it.rel)
			var ch bool
			switch {
			case it.dir:
				ch, err = c.MkdirAll(ctx, p, put)
				note("folder", p, ch, err)
			case it.file != nil:
				ch, err = c.Put(ctx, it.file, p, put)
				note("file", p, ch, err)
			default:
				ch, err = c.PutLink(ctx, it.target, p, put)
				note("link", p, ch, err)
			}
			if err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}
