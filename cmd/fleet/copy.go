package main

import (
	"context"
	"io/fs"
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
	flags = append(flags, outDirFlags()...)
	flags = append(flags, sudoFlags("write")...)
	flags = append(flags, append(rolloutFlags(), copyDryRunFlag())...) // --batch, --max-fail: rollout.go; --dry-run: copyplan.go
	return &cli.Command{
		Name:                   "copy",
		Usage:                  "copy files to every host (pscp.pssh), atomically",
		UsageText:              "fleet copy [options] LOCAL... REMOTE",
		Description:            copyDescription,
		Flags:                  flags,
		UseShortOptionHandling: true,
		Action:                 readThenDo(env, readCopyOptions, copyToHosts),
	}
}

type copyOptions struct {
	*targetOptions
	sources []*fleet.CopySource
	remote  string
	put     fleet.PutOptions
	sudo    sudoOptions
	json    bool
	bytes   int64 // sent to each host
	dirs    outDirs
	maxFail int  // --max-fail, in hosts
	dryRun  bool // --dry-run: compare, write nothing
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
	o := &copyOptions{targetOptions: t, sudo: readSudo(c), json: c.Bool("json"), dirs: readOutDirs(c), dryRun: c.Bool("dry-run")}
	if o.remote, err = remotePath(args[len(args)-1]); err != nil {
		return nil, err
	}
	if t.preserve && o.sudo.sudo {
		return nil, usageError("-x -p (scp's preserve times) does not go with --sudo")
	}
	if o.maxFail, err = readRollout(c, t); err != nil {
		return nil, err
	}
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
		src, err := fleet.ReadCopySource(a, psshBool(c, "recursive") || t.recursive)
		if err != nil {
			return nil, usageError("%v", err)
		}
		o.sources = append(o.sources, src)
		o.bytes += src.Size()
	}
	return o, nil
}

func copyToHosts(ctx context.Context, env *environment, o *copyOptions) error {
	pw, err := preparePasswords(o.targetOptions, o.sudo)
	if err != nil {
		return err
	}
	o.put.Sudo, o.put.SudoPassword = o.sudo.sudo, pw
	o.put.InFlight = min(o.par, len(o.hosts))
	if err := o.dirs.make(); err != nil {
		return err
	}
	j := &job{env: env, targets: o.targetOptions, verb: "copy", argv: env.args, json: o.json,
		showChanged: !o.dryRun, totalBytes: o.bytes * int64(len(o.hosts)), onDone: o.dirs.finish, inputs: copyInputs(o.sources),
		maxFail: o.maxFail, options: rolloutRecord(o.maxFail)}
	if o.dryRun {
		j.totalBytes, j.options["dry_run"] = 0, true
		return j.run(ctx, func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
			plan, err := planCopy(ctx, c, o, o.put, j.logs[r.Index])
			if plan != nil {
				r.Detail = plan.detail()
			}
			return err
		})
	}
	return j.run(ctx, func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
		put := o.put
		put.Progress = j.printer.AddBytes
		bw := newBandwidth(ctx, o.bwLimit)
		changed, err := c.CopyTree(ctx, o.sources, o.remote, fleet.CopyOptions{
			Put:          put,
			Preserve:     o.preserve,
			FileProgress: func(f *fleet.LocalFile) func(int64) { return bw.progress(f.Size, put.Progress) },
			Step:         func(s fleet.CopyStep) { j.note(r.Index, s.String()) },
		})
		r.Changed = changed
		return err
	})
}
