package main

import (
	"context"
	"io"
	"sync"

	"github.com/urfave/cli/v2"
)

const appDescription = `fleet runs commands on many hosts at once over SSH, copies files to them and
provisions them, one SSH connection per host, with bounded parallelism. It
reads pssh host files and takes pssh's flags and exit statuses, so that

   pssh -ih kube 'uptime'          becomes    fleet run -ih kube 'uptime'

Every run is recorded under ~/.local/state/fleet/runs (FLEET_STATE_DIR
overrides): run.json, one log per host written as output arrives, and the
"failed" and "succeeded" host files, so that

   fleet run -h ~/.local/state/fleet/runs/latest/failed 'uptime'

runs again on the hosts that failed.

HOSTS
   A host file has one [user@]host[:port] a line (or pssh's legacy
   "host[:port] user"), blank lines and # comments; IPv6 as [2001:db8::1]:22
   or bare; ranges as pdsh writes them: node[01-20], web[1-3,7].example.com.
   A host listed twice is contacted twice and labelled host, host.1.
   [group] sections group the lines, and an Ansible INI inventory
   (ansible_host, ansible_user, ansible_port, children, :vars) is read as it
   is. -g PATTERN (shell globs, repeatable: any), --limit 'web:&prod:!db'
   (Ansible's patterns) and --exclude PATTERN pick hosts; fleet hosts shows
   what they pick.

SSH
   Authentication, host keys and settings follow OpenSSH: ssh-agent, the
   IdentityFile keys, ~/.ssh/config (or -F), known_hosts. An unknown host key
   is recorded (StrictHostKeyChecking accept-new); a changed key fails that
   host and is never retried (only StrictHostKeyChecking=no connects anyway,
   with a warning). ssh_config is read as OpenSSH reads it (Host, every Match
   criterion, Include, tokens, first value wins); Ciphers, MACs,
   KexAlgorithms, HostKeyAlgorithms, PubkeyAcceptedAlgorithms,
   CASignatureAlgorithms and RequiredRSASize are honoured (+, -, ^ lists), so
   crypto-policies apply; a key fleet cannot honour (BindAddress,
   RemoteCommand, ...) for a host in the run is an error naming FILE:LINE;
   docs/ssh.md lists what is honoured, refused and ignored. fleet hosts shows what each host gets, and from where.

OUTPUT ON A TERMINAL
   The hosts' output, failure reasons and logs reach a terminal with their
   control characters shown, not obeyed: ESC as ^[, BEL as ^G, a lone CR as
   ^M, bytes that are not UTF-8 as U+FFFD. A host cannot set your clipboard
   (OSC 52), retitle the window or clear the screen. --escapes color keeps
   their colours, --escapes raw prints them as sent (FLEET_ESCAPES sets
   either). Piped or redirected output, the -o/-e files and the run record
   always keep the bytes as sent.

EXIT STATUS
   0    every host succeeded
   1    fleet's own error
   2    usage error (bad flag, bad host file, no hosts)
   3    at least one host timed out or was killed
   4    at least one host could not be reached or authenticated
   5    everything ran, but at least one command exited non-zero
   130  interrupted (Ctrl-C, SIGTERM)
   When several apply, the first in the order 3, 4, 5 wins, as with pssh.

ENVIRONMENT
   PSSH_HOSTS, PSSH_PAR, PSSH_USER, PSSH_TIMEOUT, PSSH_OPTIONS, PSSH_OUTDIR,
   PSSH_ERRDIR, PSSH_LOCALDIR, PSSH_INLINE, PSSH_PRINT, PSSH_VERBOSE,
   PSSH_ASKPASS, PSSH_RECURSIVE: defaults, as pssh reads them; any value turns
   a yes/no one on; PSSH_HOSTS and PSSH_OPTIONS come before -h and -O.
   FLEET_STATE_DIR   where run records go
   FLEET_KEEP_RUNS   how many run records to keep
   FLEET_KEEP_SIZE   how many bytes of run records to keep
   FLEET_MAX_LOG     --max-log
   FLEET_ESCAPES     --escapes: replace, color or raw
   NO_COLOR          no colour even on a terminal`

// newApp builds the command tree. Each command fills an options struct and
// calls a function that does the work with the injected streams.
func newApp(args []string, stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	setCLIGlobals()
	env := &environment{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 1 {
		env.args = args[1:]
	}
	app := baseApp(env, runCommand(env), copyCommand(env), slurpCommand(env), provisionCommand(env),
		recipesCommand(env), runsCommand(env), logsCommand(env), rerunCommand(env), hostsCommand(env),
		helpCommand(), completionCommand(env), manCommand(env), completeCommand(env))
	app.Usage = "run commands, copy files and provision many hosts over SSH"
	app.UsageText = "fleet COMMAND [options] [arguments...]"
	app.Description, app.Version = appDescription, version
	// urfave/cli adds --help only when it adds its own help command.
	app.Flags = []cli.Flag{&cli.BoolFlag{Name: "h", Hidden: true}, cli.HelpFlag}
	app.Before, app.Action = rootBefore, rootAction
	app.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return &usageHint{err: err, hint: flagSuggestion(err, c.App.Flags)}
	}
	return app
}

// baseApp is what fleet's app and fleet rerun's (runJob) share: their
// streams, cmds with usage errors (exit 2) for their flags, and no exit
// of urfave/cli's own.
func baseApp(env *environment, cmds ...*cli.Command) *cli.App {
	app := &cli.App{
		Name:                      "fleet",
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true, // a comma belongs to host ranges: web[1-3,7]
		Reader:                    env.stdin,
		Writer:                    env.stdout,
		ErrWriter:                 env.stderr,
		ExitErrHandler:            func(*cli.Context, error) {}, // Main decides exit statuses
		Commands:                  cmds,
	}
	setUsageErrors(app.Commands, "")
	return app
}

// setCLIGlobals sets urfave/cli's package globals, once. That does not make
// two Main in one process safe: each parse still writes to the one shared
// HelpFlag (urfave/cli's BoolFlag.Apply), so tests that run fleets side by
// side run them as child processes.
var setCLIGlobals = sync.OnceFunc(func() {
	// -h is the hosts file, as in pssh; help is --help, fleet help, and
	// fleet -h where no command reads it (rootBefore).
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Usage: "show help"}
	cli.HelpPrinter = printHelp   // wrapped to the terminal, else 80 columns
	cli.FlagStringer = flagString // a repeatable flag's names once
})

// readThenDo is the Action of a command that reads its options, then does
// the work with them (run, copy, provision).
func readThenDo[O any](env *environment, read func(*cli.Context, *environment) (O, error),
	do func(context.Context, *environment, O) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		o, err := read(c, env)
		if err != nil {
			return err
		}
		return do(c.Context, env, o)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// environment is what commands read and write instead of the process's
// globals, so tests can run them in-process.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	args           []string // the command line without the program name, for the run record
	rerun          *rerun   // set when fleet rerun repeats a recorded run (rerun.go)
}
