package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
	"github.com/fleet-sh/fleet/inventory"
	"github.com/fleet-sh/fleet/recipes"
)

const provisionDescription = `Applies a recipe to every host: on one SSH connection per host, fleet learns
the host's facts (/etc/os-release, architecture, init system, whether sudo
wants a password, the container runtime's cgroup driver, whether the host has
joined a cluster), picks the recipe's steps for its distribution, then for
each step checks whether the work is already done (a guard, a checksum),
applies it if not, and records it as changed, unchanged or skipped. The first
failed step stops that host; the others go on. A second run changes nothing.

RECIPE is a built-in recipe (fleet recipes lists them) or, with --recipe, a
file of your own (see docs/recipes.md). Steps run as root in one shell per
host that sudo starts once; use -S when the hosts' sudo wants a password.

Each step's output goes to the host's log in the run record under a header
naming the step (fleet's run records: see fleet --help).

EXAMPLES
   fleet provision -h kube docker
   fleet provision -h kube docker --var docker_version=18.06.2 --var http_proxy=http://192.168.6.200:3128/
   fleet provision -h kube --dry-run kubernetes --var k8s_version=1.31
   fleet provision -h kube --dry-run --diff --recipe ./app.yaml
   fleet provision -h kube --batch 25% --max-fail 2 containerd
   fleet provision -h kube --recipe ./chrony.yaml
   fleet provision -h kube --recipe ./app.yaml --secret-var token=@./token.txt --secret-var db_pw=env:DB_PW

VALUES IN COMMANDS
A variable or fact in a step's run or unless never becomes part of the
command's text: fleet parses the command as shell and passes each value in
an environment variable that the command refers to, so no quote, $( ),
backquote or newline in a value can run anything. A value inside single
quotes, a quoted here-document, a comment, ${...}, an argument of eval or
sh -c, or arithmetic (unless it is a plain number) is refused with the line
and what to write instead (see docs/recipes.md).

DIFFS
With --diff, every file a put step would change (with --dry-run) or changed
is shown as a unified diff, once per group of hosts whose diffs are the
same. The host's current file is read as the step writes it (as root when
the step runs as root); a file over 1 MiB or a binary one is told by its
sizes instead. Secret variables' values are masked as <secret>, in the new
content and in the host's current file. With --json the diffs are in each
host's steps ("diff"), not on stdout.

SECRETS
A variable declared {default: "", secret: true}, or set with --secret-var,
travels to the host on the remote shell's standard input and in SFTP, never
in a command line; the run record, the logs, plans and messages show
<secret>. --var refuses a secret variable: its value would be in ps and in
your shell's history.`

func provisionCommand(env *environment) *cli.Command {
	flags := append(hostFlags("0"),
		&cli.StringFlag{Name: "recipe", Category: catRun, Usage: "apply the recipe in `FILE` instead of a built-in one"},
		&cli.StringSliceFlag{Name: "var", Category: catRun, Usage: "set a recipe variable, `KEY=VALUE`; repeatable"},
		&cli.StringSliceFlag{Name: "secret-var", Category: catRun,
			Usage: "set a secret recipe variable from a file or the environment, `KEY=@FILE` or KEY=env:NAME " +
				"(a file's last newline dropped; one that others can read is refused); its value stays out of command lines, the run record, logs and plans; repeatable"},
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Category: catRun,
			Usage: "change nothing: show, per group of hosts, which steps would run and which are already done"},
		&cli.BoolFlag{Name: "force", Category: catRun,
			Usage: "change the container runtime's cgroup driver even on hosts that have joined a cluster"},
		&cli.BoolFlag{Name: "diff", Category: catOutput,
			Usage: "show a unified diff of every file a step would change (with --dry-run) or changed, per group of hosts; secret values masked"},
		&cli.BoolFlag{Name: "json", Category: catOutput,
			Usage: "print one JSON object a line per host, with its steps (and their diffs); nothing else on stdout"},
	)
	flags = append(flags, rolloutFlags()...)
	flags = append(flags, sudoFlags("apply the steps")[1:]...) // steps run through sudo anyway: -S and the file only
	return &cli.Command{
		Name:                   "provision",
		Usage:                  "apply a recipe (docker, kubernetes, containerd, or your own) to every host",
		UsageText:              "fleet provision [options] RECIPE | fleet provision [options] --recipe FILE",
		Description:            provisionDescription,
		Flags:                  flags,
		UseShortOptionHandling: true,
		Action:                 readThenDo(env, readProvisionOptions, provisionHosts),
	}
}

type provisionOptions struct {
	*targetOptions
	recipe     *recipes.Recipe
	recipeFile string // --recipe, "" for a built-in recipe
	dryRun     bool
	diff       bool
	force      bool
	json       bool
	sudo       sudoOptions
	maxFail    int
}

func readProvisionOptions(c *cli.Context, env *environment) (*provisionOptions, error) {
	var rec *recipes.Recipe
	var err error
	switch file := c.String("recipe"); {
	case file != "" && c.NArg() == 0:
		rec, err = recipes.Load(file)
	case file == "" && c.NArg() == 1:
		rec, err = recipes.Builtin(c.Args().First())
	default:
		return nil, usageError("name one built-in RECIPE (see fleet recipes) or give --recipe FILE")
	}
	if err != nil {
		return nil, &statusError{status: exitUsage, err: err}
	}
	vars := map[string]string{}
	for _, kv := range c.StringSlice("var") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("--var %q: want KEY=VALUE", kv)
		}
		vars[k] = v
	}
	if err := rec.SetVars(vars); err != nil {
		return nil, &statusError{status: exitUsage, err: err}
	}
	for _, kv := range c.StringSlice("secret-var") {
		k, v, err := readSecretVar(kv, env)
		if err != nil {
			return nil, err
		}
		if err := rec.SetSecret(k, v); err != nil {
			return nil, &statusError{status: exitUsage, err: err}
		}
	}
	t, err := readTargets(c, env)
	if err != nil {
		return nil, err
	}
	o := &provisionOptions{targetOptions: t, recipe: rec, recipeFile: c.String("recipe"), dryRun: c.Bool("dry-run"), force: c.Bool("force"),
		diff: c.Bool("diff"), json: c.Bool("json"), sudo: readSudo(c)}
	if o.maxFail, err = readRollout(c, t); err != nil {
		return nil, err
	}
	return o, nil
}

// readSecretVar reads --secret-var KEY=@FILE or KEY=env:NAME. The value
// itself is never on fleet's command line, where ps and the shell's
// history would show it.
func readSecretVar(kv string, env *environment) (key, value string, err error) {
	k, src, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return "", "", usageError("--secret-var %q: want KEY=@FILE or KEY=env:NAME", kv)
	}
	switch {
	case strings.HasPrefix(src, "@") && len(src) > 1:
		b, err := readSmallFile(src[1:])
		if err != nil {
			return "", "", &statusError{status: exitUsage, err: fmt.Errorf("--secret-var %s: %w", k, err)}
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		return k, v, nil
	case strings.HasPrefix(src, "env:") && len(src) > 4:
		v, ok := os.LookupEnv(src[4:])
		if !ok {
			return "", "", usageError("--secret-var %s: the environment has no %s", k, src[4:])
		}
		return k, v, nil
	}
	return "", "", usageError("--secret-var %s: want %s=@FILE or %s=env:NAME, not the value itself (it would be in ps and your shell's history)", k, k, k)
}

// maxSecretFile bounds a --secret-var file: a key or a token, not a disk.
const maxSecretFile = 64 << 10

// readSmallFile reads a --secret-var file of at most maxSecretFile bytes,
// refusing one that others can read, as --password-file does.
func readSmallFile(p string) ([]byte, error) {
	f, err := openSecretFile(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err == nil && len(b) > maxSecretFile {
		err = fmt.Errorf("%s is larger than 64 KiB", p)
	}
	return b, err
}

// recordedVars is the variables as the run record keeps them: a secret's
// value as <secret>.
func recordedVars(r *recipes.Recipe) map[string]string {
	out := make(map[string]string, len(r.Vars))
	for k, v := range r.Vars {
		if r.IsSecret(k) {
			v = "<secret>"
		}
		out[k] = v
	}
	return out
}

// countOrPercent reads N or N% of total (rounded up, at least 1).
func countOrPercent(s string, total int, flag string) (int, error) {
	pct := strings.HasSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || n < 1 || pct && n > 100 {
		return 0, usageError("%s %q: want a number of hosts or a percentage like 25%%", flag, s)
	}
	if pct {
		n = int(math.Ceil(float64(total) * float64(n) / 100))
	}
	return max(n, 1), nil
}

func provisionHosts(ctx context.Context, env *environment, o *provisionOptions) error {
	pw, err := preparePasswords(o.targetOptions, o.sudo)
	if err != nil {
		return err
	}
	inputs, err := recipeInputs(o.recipeFile, o.recipe)
	if err != nil {
		return err
	}
	j := &job{env: env, targets: o.targetOptions, verb: "provision", argv: env.args, json: o.json,
		showChanged: !o.dryRun, maxFail: o.maxFail, inputs: inputs,
		options: map[string]any{"recipe": o.recipe.Name, "recipe_source": o.recipe.Source, "vars": recordedVars(o.recipe),
			"dry_run": o.dryRun, "diff": o.diff, "force": o.force, "max_fail": o.maxFail}}
	var mu sync.Mutex
	plans := map[int]*recipes.Report{}
	err = j.run(ctx, func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
		facts, err := recipes.GatherFacts(ctx, c)
		if err != nil {
			return fmt.Errorf("facts: %w", err)
		}
		opts := recipes.Options{DryRun: o.dryRun, Diff: o.diff, Force: o.force, SudoPassword: pw, Host: r.Host.Label, PersistTriggers: true}
		if l := j.logs[r.Index]; l != nil {
			opts.Log = stepLog{l}
		}
		// The steps, their guards and probes run in long-lived shells of
		// this connection: a session and a sudo per host, not per step.
		shells := c.Shells()
		defer shells.Close()
		report, err := recipes.Apply(ctx, shells, o.recipe, facts, opts)
		if report != nil {
			var unsupported *recipes.UnsupportedError
			if !errors.As(err, &unsupported) { // its error says it all
				r.Changed = report.Changed()
				r.Steps = report.Records()
				r.Detail = report.Summary()
				var ee *fleet.ExitError
				if err != nil && !errors.As(err, &ee) {
					// The error names the failed step already; an exit
					// status is shown in pssh's words, which do not.
					r.Detail = report.Brief()
				}
			}
			mu.Lock()
			plans[r.Index] = report
			mu.Unlock()
		}
		return err
	})
	// --json has it all in the hosts' objects (their steps and diffs):
	// nothing else goes to stdout.
	if !o.json && (o.dryRun || o.diff) {
		// A plan quotes the hosts: owners, reasons a probe failed, files.
		stdout, flush := cleanOnTerminal(env.stdout, o.escapes)
		if o.dryRun {
			printPlans(stdout, o.hosts, plans)
		} else {
			printDiffs(stdout, o.hosts, plans)
		}
		flush()
	}
	return err
}

// planGroup is the hosts that share a plan (or a run's diffs).
type planGroup struct {
	labels []string
	report *recipes.Report // the first host's; the others' read the same
}

// groupPlans groups the hosts whose reports give the same key, in the
// order of each group's first host.
func groupPlans(hosts []inventory.Host, plans map[int]*recipes.Report, key func(*recipes.Report) string) []*planGroup {
	var out []*planGroup
	groups := map[string]*planGroup{}
	for i, h := range hosts {
		rep := plans[i]
		if rep == nil {
			continue
		}
		k := key(rep)
		if k == "" {
			continue
		}
		g := groups[k]
		if g == nil {
			g = &planGroup{report: rep}
			groups[k] = g
			out = append(out, g)
		}
		g.labels = append(g.labels, h.Label)
	}
	for _, g := range out {
		slices.Sort(g.labels)
	}
	return out
}

// printDiffs shows, after a run with --diff, the diffs of the files it
// changed, once per group of hosts whose changes are the same.
func printDiffs(w io.Writer, hosts []inventory.Host, plans map[int]*recipes.Report) {
	for _, g := range groupPlans(hosts, plans, (*recipes.Report).Diffs) {
		fmt.Fprintf(w, "== changes on %s:\n%s", ui.Fold(g.labels), g.report.Diffs())
	}
}

// printPlans shows a dry run's plan once per group of hosts that share it.
func printPlans(w io.Writer, hosts []inventory.Host, plans map[int]*recipes.Report) {
	key := func(rep *recipes.Report) string { return rep.Summary() + "\n" + rep.Plan() } // same distribution and same steps
	for _, g := range groupPlans(hosts, plans, key) {
		if g.report.NothingToDo() {
			// Nothing would change: the steps that are done need no list.
			fmt.Fprintf(w, "== plan for %s: %s: nothing to do\n", ui.Fold(g.labels), g.report.Summary())
			continue
		}
		fmt.Fprintf(w, "== plan for %s: %s\n%s", ui.Fold(g.labels), g.report.Summary(), g.report.Plan())
	}
}

// stepLog writes step headers and output into a host's log.
type stepLog struct{ l *record.HostLog }

func (s stepLog) Step(name string)  { s.l.Note("step " + name) }
func (s stepLog) Stdout() io.Writer { return s.l.Stdout() }
func (s stepLog) Stderr() io.Writer { return s.l.Stderr() }
