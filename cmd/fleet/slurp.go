package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
)

const slurpDescription = `Copies REMOTE from every host to LOCALDIR/<host>/LOCALNAME, over SFTP, as
pslurp does. <host> is the host's label as written in the host list
(user@node01:2222, or node01 when that is all you wrote; a host listed twice
gets node01.1), so folders never collide. Each file is written to a temporary
name and renamed into place: an interrupted run leaves no half file.

WHAT COMES BACK
   A host writes inside its own folder LOCALDIR/<host> and nowhere else:
   fleet refuses that folder when it is a symbolic link, and never follows
   a link found inside it (a link where a file or folder goes is replaced).
   REMOTE may be a symbolic link; it is followed. Without -r it must end at
   a regular file (a folder needs -r). With -r it is a folder that comes
   back whole: folders and regular files, and symbolic links as links when
   their targets stay inside the copied tree (relative, climbing with ..
   only at the start and no higher than the tree's top). Other links, and FIFOs,
   sockets and devices, are skipped, each with a warning on stderr and in
   the host's log; the host still succeeds and its line says how many were
   skipped. --dereference copies instead the regular file each link points
   to, wherever it is (links to anything else are skipped). A FIFO or device given as REMOTE fails the host: it is never opened.
   A file larger than --max-size (per file, default 1G; K, M, G and T are
   powers of 1024; 0 for no cap) fails the host and leaves no partial file.
   -t and Ctrl-C or SIGTERM end a transfer even when the host stops
   answering.

EXAMPLES
   fleet slurp -h kube /etc/os-release os-release        (./node01/os-release, ...)
   fleet slurp -h kube -L logs -r /var/log/docker docker-logs
   fleet slurp -h db --max-size 20G /var/backups/db.dump db.dump`

// defaultMaxSize is --max-size's default: far above the configuration
// files and logs a fleet-wide fetch brings back, low enough that a host
// answering with an endless stream (a file that keeps growing, a device
// swapped in) cannot fill the local disk: 100 hosts at the cap are 100G.
const defaultMaxSize = "1G"

// slurpOptions is what slurp's flags say.
type slurpOptions struct {
	remote, localDir, name string
	recursive, json        bool
	get                    fleet.GetOptions
	dirs                   outDirs
}

func slurpCommand(env *environment) *cli.Command {
	flags := append(hostFlags("0"),
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Category: catRun, Usage: "REMOTE is a folder: copy it and what it holds"},
		&cli.StringFlag{Name: "localdir", Aliases: []string{"L"}, Category: catRun, Value: ".", EnvVars: []string{"PSSH_LOCALDIR"},
			Usage: "put each host's copy under `DIR`/<host>/"},
		&cli.StringFlag{Name: "max-size", Category: catRun, Value: defaultMaxSize,
			Usage: "fail a host whose file is larger than `SIZE` (512K, 100M, 2G, bytes; 0: no cap)"},
		&cli.BoolFlag{Name: "dereference", Category: catRun, Usage: "with -r, copy the file each symbolic link points to instead of the link"},
		&cli.BoolFlag{Name: "json", Category: catOutput, Usage: "print one JSON object a line per host"},
	)
	flags = append(flags, outDirFlags()...)
	return &cli.Command{
		Name:                   "slurp",
		Usage:                  "copy a file from every host (pslurp)",
		UsageText:              "fleet slurp [options] REMOTE LOCALNAME",
		Description:            slurpDescription,
		Flags:                  flags,
		UseShortOptionHandling: true,
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageError("give the REMOTE path and the LOCALNAME to save it as")
			}
			o := &slurpOptions{name: c.Args().Get(1), localDir: c.String("localdir"),
				recursive: psshBool(c, "recursive"), json: c.Bool("json"), dirs: readOutDirs(c)}
			var err error
			if o.remote, err = remotePath(c.Args().Get(0)); err != nil {
				return err
			}
			if o.name == "" || strings.Contains(o.name, "/") || o.name == "." || o.name == ".." {
				return usageError("LOCALNAME %q must be a plain file name", o.name)
			}
			max, err := parseSize(c.String("max-size"), "--max-size")
			if err != nil {
				return err
			}
			o.get = fleet.GetOptions{MaxSize: max, MaxSizeText: c.String("max-size"), Dereference: c.Bool("dereference")}
			t, err := readTargets(c, env)
			if err != nil {
				return err
			}
			o.recursive = o.recursive || t.recursive
			return slurpFromHosts(c.Context, env, t, o)
		},
	}
}

// maxSkipNotices bounds the skipped-file warnings printed per host; the
// host's log has them all.
const maxSkipNotices = 10

func slurpFromHosts(ctx context.Context, env *environment, t *targetOptions, o *slurpOptions) error {
	if _, err := preparePasswords(t, sudoOptions{}); err != nil {
		return err
	}
	if err := os.MkdirAll(o.localDir, 0o755); err != nil {
		return err
	}
	if err := o.dirs.make(); err != nil {
		return err
	}
	j := &job{env: env, targets: t, verb: "slurp", argv: env.args, json: o.json, onDone: o.dirs.finish,
		options: map[string]any{"max_size": o.get.MaxSize, "dereference": o.get.Dereference}}
	return j.run(ctx, func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
		dir := filepath.Join(o.localDir, r.Host.Label)
		root, err := openHostDir(dir)
		if err != nil {
			return err
		}
		defer root.Close()
		j.note(r.Index, "fetch "+o.remote+" -> "+filepath.Join(dir, o.name))
		var skipped atomic.Int64
		get := o.get
		get.Skipped = func(remote, reason string) {
			// %q: names come from the host and may hold control characters.
			line := fmt.Sprintf("skipped %q: %s", remote, reason)
			j.note(r.Index, line)
			if n := skipped.Add(1); n <= maxSkipNotices {
				j.printer.Notice(fmt.Sprintf("fleet: warning: %s: %s", r.Host.Label, line))
			} else if n == maxSkipNotices+1 {
				j.printer.Notice(fmt.Sprintf("fleet: warning: %s: more files skipped; the host's log lists them all", r.Host.Label))
			}
		}
		r.Changed = true
		if bw := newBandwidth(ctx, t.bwLimit); bw != nil {
			get.Progress = func(n int64) { bw.take(n) }
		}
		if o.recursive {
			err = c.GetTree(ctx, o.remote, root, o.name, get)
		} else {
			err = c.Get(ctx, o.remote, root, o.name, get)
		}
		if err == nil && t.preserve {
			err = preserveLocal(ctx, c, root, o.remote, o.name, o.recursive)
		}
		if n := skipped.Load(); n > 0 {
			r.Detail = fmt.Sprintf("(%d skipped: see the warnings)", n)
		}
		return err
	})
}

// openHostDir creates the host's folder if need be and opens it as the
// root of every write for that host. A symbolic link there is refused: it
// would send the host's files wherever it points.
func openHostDir(dir string) (*os.Root, error) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("local: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("local: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, &fleet.Error{Kind: errLocalDir, Reason: dir + " is a symbolic link; slurp writes only into a real folder",
			Hint: "remove the link, or choose another -L"}
	case !fi.IsDir():
		return nil, &fleet.Error{Kind: errLocalDir, Reason: dir + " exists and is not a folder"}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	// Between Lstat and OpenRoot the folder could have become a link: the
	// root must be the folder that Lstat saw.
	now, _ := os.Lstat(dir)
	if st, err := root.Stat("."); err != nil || now == nil || !os.SameFile(st, now) {
		root.Close()
		return nil, &fleet.Error{Kind: errLocalDir, Reason: dir + " changed while it was opened"}
	}
	return root, nil
}

// errLocalDir is the kind of a host failure caused by its local folder.
var errLocalDir = errors.New("local folder")
