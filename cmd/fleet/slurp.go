package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
)

const slurpDescription = `Copies REMOTE from every host to LOCALDIR/<host>/LOCALNAME, over SFTP, as
pslurp does. <host> is the host's label as written in the host list
(user@node01:2222, or node01 when that is all you wrote; a host listed twice
gets node01.1), so folders never collide. Each file is written to a temporary
name and renamed into place: an interrupted run leaves no half file. With -r,
REMOTE is a folder and comes back whole (symbolic links as links).

EXAMPLES
   fleet slurp -h kube /etc/os-release os-release        (./node01/os-release, ...)
   fleet slurp -h kube -L logs -r /var/log/docker docker-logs`

func slurpCommand(env *environment) *cli.Command {
	flags := append(hostFlags("0"),
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Category: catRun, Usage: "REMOTE is a folder: copy it and what it holds"},
		&cli.StringFlag{Name: "localdir", Aliases: []string{"L"}, Category: catRun, Value: ".", EnvVars: []string{"PSSH_LOCALDIR"},
			Usage: "put each host's copy under `DIR`/<host>/"},
		&cli.BoolFlag{Name: "json", Category: catOutput, Usage: "print one JSON object a line per host"},
	)
	return &cli.Command{
		Name:                   "slurp",
		Usage:                  "copy a file from every host (pslurp)",
		UsageText:              "fleet slurp [options] REMOTE LOCALNAME",
		Description:            slurpDescription,
		Flags:                  flags,
		UseShortOptionHandling: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageErr{err}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageError("give the REMOTE path and the LOCALNAME to save it as")
			}
			remote, name := c.Args().Get(0), c.Args().Get(1)
			if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
				return usageError("LOCALNAME %q must be a plain file name", name)
			}
			t, err := readTargets(c, env)
			if err != nil {
				return err
			}
			return slurpFromHosts(c.Context, env, t, remote, c.String("localdir"), name, c.Bool("recursive"), c.Bool("json"))
		},
	}
}

func slurpFromHosts(ctx context.Context, env *environment, t *targetOptions, remote, localDir, name string, recursive, json bool) error {
	if err := preparePassword(t); err != nil {
		return err
	}
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return err
	}
	j := &job{env: env, targets: t, verb: "slurp", argv: env.args, json: json}
	return j.run(ctx, func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
		dir := filepath.Join(localDir, r.Host.Label)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		dst := filepath.Join(dir, name)
		if log := j.logs[r.Index]; log != nil {
			log.Note("fetch " + remote + " -> " + dst)
		}
		r.Changed = true
		if recursive {
			return c.GetTree(ctx, remote, dst, nil)
		}
		return c.Get(ctx, remote, dst, nil)
	})
}
