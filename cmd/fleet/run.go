package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
)

const runDescription = `Runs COMMAND on every host, as "ssh host 'COMMAND'" would, at most -p hosts at
a time, on one SSH connection per host. Options go before the command; words
after it belong to the command.

Not on a terminal, each host is reported as it finishes, in pssh's format:

   [1] 12:00:01 [SUCCESS] root@node01
   [2] 12:00:02 [FAILURE] node02 Exited with error code 5

On a terminal a progress bar counts the hosts and the results follow, failures
last. A timeout (-t) or Ctrl-C kills the remote command, not just the wait.

EXAMPLES
   fleet run -ih kube 'uptime'
   fleet run -h kube -P 'journalctl -u kubelet -n 20'
   fleet run -h kube --sudo 'systemctl restart docker'
   fleet run -h kube -S --sudo 'apt-get update'        (asks for the sudo password once)
   fleet run -H "node[01-20]" --gather 'cat /etc/os-release'
   fleet run -h kube --json 'df -h /' | jq -r 'select(.exit_code != 0) | .host'
   fleet run -h ~/.local/state/fleet/runs/latest/failed 'uptime'     (the hosts that failed last time)`

func runCommand(env *environment) *cli.Command {
	flags := append(hostFlags("60"),
		&cli.BoolFlag{Name: "inline", Aliases: []string{"i"}, Category: catOutput,
			Usage: "print each host's output after its status line (pssh -i) [$PSSH_INLINE]"},
		&cli.BoolFlag{Name: "inline-stdout", Category: catOutput, Usage: "like -i, standard output only"},
		&cli.BoolFlag{Name: "print", Aliases: []string{"P"}, Category: catOutput,
			Usage: "stream every output line as it arrives, prefixed with \"host: \" [$PSSH_PRINT]"},
		&cli.StringFlag{Name: "max-output", Category: catOutput, Value: formatSize(defaultMaxOutput),
			Usage: "-i, --gather and --json show at most `SIZE` of each host's stdout and of its stderr (0 = no limit): " +
				"the first and last halves, with a mark saying how much was cut and which log has it"},
		&cli.StringFlag{Name: "max-output-total", Category: catOutput, Value: formatSize(defaultOutputTotal),
			Usage: "the output kept to show (see --max-output) takes at most `SIZE` of memory for all hosts together (0 = no limit); " +
				"past it a host keeps its first 4K"},
		&cli.BoolFlag{Name: "gather", Category: catOutput,
			Usage: "after the run, show identical outputs once under a folded host list (node[01-05]), like dshbak -c"},
		&cli.BoolFlag{Name: "json", Category: catOutput,
			Usage: "print one JSON object a line per host (host, target, port, outcome, kind, exit_code, error, stdout, stderr, start, end)"},
		&cli.BoolFlag{Name: "send-input", Aliases: []string{"I"}, Category: catRun,
			Usage: "read standard input once and send it to every host's command"},
	)
	flags = append(flags, outDirFlags()...)
	flags = append(flags, sudoFlags("run the command")...)
	flags = append(flags, append(rolloutFlags(), dryRunFlag())...) // --batch, --max-fail, --dry-run: rollout.go
	return &cli.Command{
		Name:                   "run",
		Usage:                  "run a command on every host (pssh)",
		UsageText:              "fleet run [options] COMMAND...",
		Description:            runDescription,
		Flags:                  flags,
		UseShortOptionHandling: true,
		HideHelpCommand:        true,
		Action:                 readThenDo(env, readRunOptions, runHosts),
	}
}

// stdinScript is the command of -I without one: the user's login shell
// reading the script from standard input, as ssh runs it without a command.
const stdinScript = `exec "${SHELL:-/bin/sh}" -s`

// runOptions is everything `fleet run` was told.
type runOptions struct {
	*targetOptions
	command      string
	argv         []string
	inline       bool
	inlineStdout bool
	print        bool
	gather       bool
	json         bool
	dirs         outDirs // -o, -e
	sendInput    bool
	sudo         sudoOptions
	maxOutput    int64
	outputTotal  int64
	maxFail      int  // --max-fail, in hosts
	dryRun       bool // --dry-run: print the plan, connect to nothing
}

func readRunOptions(c *cli.Context, env *environment) (*runOptions, error) {
	command := strings.Join(c.Args().Slice(), " ")
	if c.NArg() == 0 {
		if !c.Bool("send-input") {
			return nil, usageError("no command given")
		}
		// pssh -I without a command: ssh runs the login shell, which
		// reads the script from standard input.
		command = stdinScript
	}
	t, err := readTargets(c, env)
	if err != nil {
		return nil, err
	}
	o := &runOptions{targetOptions: t, command: command, argv: env.args,
		inline: psshBool(c, "inline"), inlineStdout: c.Bool("inline-stdout"), print: psshBool(c, "print"),
		gather: c.Bool("gather"), json: c.Bool("json"), dirs: readOutDirs(c),
		sendInput: c.Bool("send-input"), sudo: readSudo(c)}
	if o.maxFail, err = readRollout(c, t); err != nil {
		return nil, err
	}
	o.dryRun = c.Bool("dry-run")
	if o.maxOutput, err = parseSize(c.String("max-output"), "--max-output"); err != nil {
		return nil, err
	}
	if o.outputTotal, err = parseSize(c.String("max-output-total"), "--max-output-total"); err != nil {
		return nil, err
	}
	if o.json {
		// PSSH_INLINE and PSSH_PRINT are defaults, for pssh; --json
		// given says how to print. Typed with it, -i and -P are refused.
		o.inline = o.inline && c.IsSet("inline")
		o.print = o.print && c.IsSet("print")
	}
	if o.json && (o.inline || o.inlineStdout || o.print || o.gather) {
		return nil, usageError("--json prints the output itself; it does not go with -i, --inline-stdout, -P or --gather")
	}
	if o.sendInput && slices.Contains(c.StringSlice("hosts"), "-") {
		return nil, usageError("-I reads standard input, so the host list cannot come from it too (-h -)")
	}
	return o, nil
}

// runHosts runs the command everywhere and turns the results into the exit
// status.
func runHosts(ctx context.Context, env *environment, o *runOptions) error {
	var input []byte
	if o.sendInput {
		var err error
		if input, err = io.ReadAll(env.stdin); err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	}
	if o.dryRun {
		out, flush := cleanOnTerminal(env.stdout, o.escapes)
		defer flush()
		return printRunPlan(out, o, input)
	}
	sudoPassword, err := preparePasswords(o.targetOptions, o.sudo)
	if err != nil {
		return err
	}
	if err := o.dirs.make(); err != nil {
		return err
	}
	job := &job{onDone: o.dirs.finish, env: env, targets: o.targetOptions, verb: "run", argv: o.argv,
		capture: o.inline || o.inlineStdout || o.json || o.gather, maxOutput: o.maxOutput, outputTotal: o.outputTotal,
		print: o.print, inline: o.inline, inlineStdout: o.inlineStdout, gather: o.gather, json: o.json,
		maxFail: o.maxFail, options: rolloutRecord(o.maxFail), inputs: stdinInputs(o.sendInput, input)}
	n := len(o.hosts)
	task := func(ctx context.Context, c *fleet.Conn, r *fleet.Result) error {
		out := job.outputs(r)
		defer out.close()
		files, err := o.dirs.open(r.Host.Label)
		if err != nil {
			return err
		}
		defer files.close()
		cmd := &fleet.Command{
			Line: o.command,
			Env:  runEnv(r.Host, r.Index, n),
			PTY:  o.pty, Sudo: o.sudo.sudo, SudoPassword: sudoPassword,
			// As ssh and pssh: a chatty ~/.bashrc's text is output too.
			Raw: true,
		}
		cmd.Stdout, cmd.Stderr = out.streams(files.out, files.err)
		if o.sendInput {
			cmd.Stdin = bytes.NewReader(input)
		}
		err = c.Exec(ctx, cmd)
		out.finish(r)
		return err
	}
	return job.run(ctx, task)
}

// preparePasswords asks for the sudo password, then the -A one, now,
// before any progress is drawn, so the prompts are not lost under the bar.
func preparePasswords(t *targetOptions, sudo sudoOptions) (sudoPassword []byte, err error) {
	if sudoPassword, err = sudo.password(); err != nil {
		return nil, err
	}
	if !t.askpass && t.passwordFile == "" {
		return sudoPassword, nil
	}
	pw, err := secretSource(t.passwordFile, "password")()
	if err != nil {
		return nil, err
	}
	t.dial.Password = func() ([]byte, error) { return pw, nil }
	return sudoPassword, nil
}
