package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
	"github.com/fleet-sh/fleet/inventory"
)

const rerunDescription = `Runs the command, copy or recipe of a recorded run again (the latest unless
RUN is given), with the same options, on the hosts that did not succeed in it:
failed, unreachable, timed out, cancelled or never started. --all takes every
host of that run; -g, --limit and --exclude narrow them further, as they
narrow a host list (several -g keep the hosts matching any; --limit and
--exclude know the groups the run's host list gave). The new run's record
names the run it repeats.

The run is repeated as it was started: in the folder it was started in, so
that its relative paths (copy's files, --recipe, -o, --password-file) name
the same files wherever fleet rerun is typed. The hosts are the recorded
run's, not its host file read again. A local file the run sent (a copied
file, a recipe and its files) that has changed or gone since is refused,
named, before any host is contacted: start a new run to send the new content.
A run with -I reads standard input again, and it must be the same.

Passwords are never recorded, so a run that asked for one (-A, -S) asks
again. With recipes, steps already done are skipped by their guards, so a
rerun resumes where each host stopped.

EXAMPLES
   fleet rerun                 (the hosts that failed in the latest run)
   fleet rerun -1 --all        (every host of the run before it)
   fleet rerun 20261127-1401 -g 'web*' -g 'db*'
   fleet rerun --all --limit web --exclude web03`

func rerunCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:        "rerun",
		Usage:       "run a recorded run again on the hosts that did not succeed",
		UsageText:   "fleet rerun [--all] [-g PATTERN] [--limit PATTERN] [--exclude PATTERN] [RUN]",
		Description: rerunDescription,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "every host of the run, not only those that did not succeed"},
		}, selectionFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError("name one run")
			}
			r, err := findRun(c.Args().First())
			if err != nil {
				return err
			}
			spec, err := newRerun(r, c.Bool("all"), readSelection(c))
			if err != nil || spec == nil {
				if spec == nil && err == nil {
					fmt.Fprintf(env.stderr, "fleet: every host of run %s succeeded: nothing to rerun (--all reruns them all)\n", r.Info.ID)
				}
				return err
			}
			return spec.run(c.Context, env)
		},
	}
}

// rerun is what fleet rerun repeats: the recorded job and the hosts to run
// it on. A job's options are read from the recorded command line by the
// command's own flags, as when it was typed; the hosts come from here
// (environment.hosts), and the record's inputs are checked against the
// job's (job.checkInputs).
type rerun struct {
	of     *record.Run
	hosts  []inventory.Host
	inputs map[string]string // path: sha256, as recorded
}

// newRerun picks the hosts of run r to repeat it on: those that did not
// succeed, or all, narrowed by sel (-g, --limit, --exclude, as for a
// host list; the groups are the ones the run's host list gave). It
// returns nil when there are none to pick from.
func newRerun(r *record.Run, all bool, sel selection) (*rerun, error) {
	info := r.Info
	switch {
	case len(info.Args) == 0:
		return nil, fmt.Errorf("run %s recorded no command line", info.ID)
	case hostCommands[info.Args[0]] == nil:
		return nil, fmt.Errorf("run %s was a %q, which fleet rerun cannot repeat", info.ID, info.Args[0])
	}
	var picked []record.Host
	for _, h := range info.Hosts {
		if all || h.Outcome != fleet.OK {
			picked = append(picked, h)
		}
	}
	if len(picked) == 0 {
		return nil, nil
	}
	// The hosts as reached, so that the same accounts are reached again;
	// their labels stay the run's, so that -o files and logs keep their
	// names.
	var list strings.Builder
	for _, h := range picked {
		list.WriteString(h.Target + "\n")
	}
	hosts, err := inventory.ParseFile(strings.NewReader(list.String()), "run "+info.ID)
	if err != nil || len(hosts) != len(picked) {
		return nil, fmt.Errorf("run %s: its hosts do not read back: %v", info.ID, err)
	}
	for i := range hosts {
		// The label names the host's -o/-e files and its log in the new
		// record: one file name, as inventory.Label makes them, or a
		// run.json edited by hand could write outside those folders.
		if l := picked[i].Host; l == "" || l == "." || l == ".." || strings.ContainsAny(l, "/\x00") {
			return nil, fmt.Errorf("run %s: host label %q is not a file name; the record was not written by fleet", info.ID, l)
		}
		hosts[i].Label = picked[i].Host
		hosts[i].Groups = picked[i].Groups
	}
	none := "fleet runs show " + info.ID + " lists the run's hosts"
	if !all {
		none += "; --all picks from all of them, not only those that did not succeed"
	}
	if hosts, err = sel.apply(hosts, none); err != nil {
		return nil, err
	}
	spec := &rerun{of: r, hosts: hosts, inputs: map[string]string{}}
	for _, in := range info.Inputs {
		spec.inputs[in.Path] = in.SHA256
	}
	return spec, nil
}

// hostCommands are the commands a run record can repeat.
var hostCommands = map[string]func(*environment) *cli.Command{
	"run": runCommand, "copy": copyCommand, "slurp": slurpCommand, "provision": provisionCommand,
}

// run repeats the job in the folder it was started in, with the same
// options, on the picked hosts.
func (s *rerun) run(ctx context.Context, env *environment) error {
	info := s.of.Info
	if err := s.checkFiles(); err != nil {
		return err
	}
	if info.Dir == "" {
		// Written by a fleet before records kept their folder.
		fmt.Fprintf(env.stderr, "fleet: warning: run %s was recorded without the folder it ran in (an older fleet): "+
			"its relative paths are read from this folder, and its files are not checked\n", info.ID)
	} else {
		back, err := os.Getwd()
		if err != nil {
			return err
		}
		// The new record goes where this fleet's state is, not under the
		// run's folder when FLEET_STATE_DIR is relative.
		if d := os.Getenv("FLEET_STATE_DIR"); d != "" && !filepath.IsAbs(d) {
			os.Setenv("FLEET_STATE_DIR", filepath.Join(back, d))
		}
		if err := os.Chdir(info.Dir); err != nil {
			return &statusError{status: exitError, err: fmt.Errorf("run %s was started in %s: %w", info.ID, info.Dir, err),
				hint: "fleet rerun reads the run's relative paths there; start a new run instead"}
		}
		defer os.Chdir(back)
	}
	fmt.Fprintf(env.stderr, "fleet: rerunning %s on %d host(s): fleet %s\n", info.ID, len(s.hosts), strings.Join(info.Args, " "))
	sub := &environment{stdin: env.stdin, stdout: env.stdout, stderr: env.stderr, args: info.Args, rerun: s}
	return runJob(ctx, sub, info.Args)
}

// checkFiles refuses a rerun when a file the run sent has changed or gone,
// so that fleet rerun never sends other content than the run it repeats.
func (s *rerun) checkFiles() error {
	for _, in := range s.of.Info.Inputs {
		if in.Path == stdinPath {
			continue // read again by the job, and checked then (checkInputs)
		}
		sum, err := fileSHA256(in.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return s.changed(in.Path, "was removed since run %s")
		case err != nil:
			return &statusError{status: exitError, err: fmt.Errorf("run %s: %w", s.of.Info.ID, err)}
		case sum != in.SHA256:
			return s.changed(in.Path, "has changed since run %s")
		}
	}
	return nil
}

// checkInputs refuses a rerun whose job would send a file the recorded run
// did not (a file added to a folder copied with -r).
func (s *rerun) checkInputs(inputs []record.Input) error {
	if s.of.Info.Dir == "" {
		return nil // an older fleet's record: no inputs to check against
	}
	for _, in := range inputs {
		want, ok := s.inputs[in.Path]
		switch {
		case in.Path == stdinPath && ok && want != in.SHA256:
			return s.changed("standard input (-I)", "has changed since run %s")
		case in.Path == stdinPath: // the same, or a record from before fleet kept it
		case !ok:
			return s.changed(in.Path, "is new: run %s did not send it")
		case want != in.SHA256:
			return s.changed(in.Path, "has changed since run %s")
		}
	}
	return nil
}

// changed refuses the rerun for a file; how says what happened to it, with
// a %s for the run's id.
func (s *rerun) changed(path, how string) error {
	return &statusError{status: exitError,
		err:  fmt.Errorf("%s "+how+": fleet rerun sends only what the run it repeats sent", path, s.of.Info.ID),
		hint: "restore it, or start a new run to send the new content"}
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hosts is the host list of a job: the host flags' (-h, -H, -g), or, when
// fleet rerun repeats a run, the hosts it picked from the record.
func (env *environment) hosts(c *cli.Context) ([]inventory.Host, error) {
	if env.rerun != nil {
		return env.rerun.hosts, nil
	}
	return readHosts(c, env.stdin, env.stderr)
}

// runJob runs the host command args[0] with its options args[1:], as typed
// then: its own flags read them into its options, and its action calls the
// job function (runHosts, copyToHosts, slurpHosts, provisionHosts). It is
// how fleet rerun repeats a recorded run without going through Main.
func runJob(ctx context.Context, env *environment, args []string) error {
	command := hostCommands[args[0]]
	if command == nil {
		return fmt.Errorf("%q is not a host command", args[0])
	}
	// A recorded command line that no longer parses (a flag renamed
	// since) is a usage error, as when it is typed (baseApp).
	return baseApp(env, command(env)).RunContext(ctx, append([]string{"fleet"}, args...))
}
