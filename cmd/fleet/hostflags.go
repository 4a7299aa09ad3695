package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/inventory"
)

// Flag categories group --help output.
const (
	catHosts  = "Hosts"
	catSSH    = "SSH"
	catOutput = "Output"
	catRun    = "Running"
)

// hostFlags are shared by every command that targets hosts. timeout is the
// default of -t: pssh's 60 s for commands, none for transfers, as pscp.
func hostFlags(timeout string) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "hosts", Aliases: []string{"h"}, Category: catHosts,
			Usage: "read hosts from `FILE` ([user@]host[:port] a line, [group] sections, or an Ansible INI inventory; - for stdin); repeatable; $PSSH_HOSTS is read first"},
		&cli.StringSliceFlag{Name: "host", Aliases: []string{"H"}, Category: catHosts,
			Usage: "add `\"[user@]host[:port] ...\"` (ranges like node[01-20] allowed); repeatable"},
		&cli.StringFlag{Name: "user", Aliases: []string{"l"}, Category: catHosts, EnvVars: []string{"PSSH_USER"},
			Usage: "default login `USER` (a user in the host list wins; else ssh_config's User, else yours)"},
		&cli.IntFlag{Name: "par", Aliases: []string{"p"}, Category: catRun, Value: 32, EnvVars: []string{"PSSH_PAR"},
			Usage: "at most `N` hosts at a time"},
		&cli.StringFlag{Name: "timeout", Aliases: []string{"t"}, Category: catRun, Value: timeout, EnvVars: []string{"PSSH_TIMEOUT"},
			Usage: "per-host time limit after connecting, in seconds or like 2m30s (0 = none); a remote command is killed"},
		&cli.StringFlag{Name: "connect-timeout", Category: catSSH, Value: "10",
			Usage: "time limit for TCP connect, SSH handshake and authentication of a host, `SECONDS`"},
		&cli.StringSliceFlag{Name: "option", Aliases: []string{"O"}, Category: catSSH,
			Usage: "ssh_config `Key=Value`, as ssh -o, first (as pssh passes it: -O User= and Port= win over -l and the host list) and before the files (IdentityFile, StrictHostKeyChecking, ProxyJump, ProxyCommand, ...: the keys fleet honours, docs/ssh.md); repeatable"},
		&cli.StringSliceFlag{Name: "extra-args", Aliases: []string{"x"}, Category: catSSH,
			Usage: "pssh's extra `ARGS` for ssh (run) or scp (copy, slurp), split like a shell: what fleet can do is done (ssh -o -p -i -J -l -F -c -m -t -T -A -a -4 -6; scp -l KBITS -p -P -r -o -F -i -J -c -B), what changes nothing is ignored (-q, -C, -v, ...; listed with -v), the rest refused"},
		&cli.StringSliceFlag{Name: "extra-arg", Aliases: []string{"X"}, Category: catSSH,
			Usage: "one extra ssh or scp `ARG` (see -x)"},
		&cli.StringSliceFlag{Name: "identity", Category: catSSH,
			Usage: "private key `FILE` to offer first; repeatable"},
		&cli.StringFlag{Name: "ssh-config", Aliases: []string{"F"}, Category: catSSH,
			Usage: "read ssh_config from `FILE` instead of ~/.ssh/config and /etc/ssh/ssh_config (none = no file); read as OpenSSH does (Match, Include, tokens), and a key fleet cannot honour for a host in the run is an error (docs/ssh.md)"},
		&cli.StringFlag{Name: "jump", Aliases: []string{"J"}, Category: catSSH,
			Usage: "connect through jump host(s) `[user@]host[:port][,...]`, one shared connection; wins over ssh_config's ProxyCommand"},
		&cli.BoolFlag{Name: "askpass", Aliases: []string{"A"}, Category: catSSH,
			Usage: "ask once for a password, used for password logins and key passphrases (pssh's -A; ssh's -A, agent forwarding, is -x -A) [$PSSH_ASKPASS]"},
		&cli.StringFlag{Name: "password-file", Category: catSSH,
			Usage: "read the login password from `FILE` (first line) instead of asking"},
		&cli.StringFlag{Name: "max-log", Category: catOutput, Value: formatSize(defaultMaxLog), EnvVars: []string{"FLEET_MAX_LOG"},
			Usage: "keep at most `SIZE` (512K, 64M, 1G; 0 = no limit) of each host's output in its log in the run record; " +
				"the command goes on past it and the log says what it left out"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catOutput,
			Usage: "say what fleet does for each host on stderr, as ssh -v: where ssh_config sends it, the keys tried, timings [$PSSH_VERBOSE]"},
		escapesFlag(),
		// Reruns recorded by an older fleet (run.json version 1) carry it
		// in their command line, which fleet rerun parses again; fleet
		// rerun itself now passes the run it repeats in the environment.
		&cli.StringFlag{Name: "rerun-of", Hidden: true},
	}, selectionFlags()...) // -g, --limit, --exclude: selection.go
}

// targetOptions is what the host flags say.
type targetOptions struct {
	hosts        []inventory.Host
	par          int
	timeout      time.Duration
	pty          bool
	dial         fleet.Options
	passwordFile string
	askpass      bool
	rerunOf      string     // the run this one repeats (fleet rerun)
	escapes      ui.Escapes // --escapes: applied to the hosts' text on a terminal
	maxLog       int64      // --max-log: bytes of output each host's log keeps
	verbose      bool       // -v

	// From -x/-X (see sshopts.go).
	ignored   []string // options accepted that change nothing, for -v's note
	family    string   // ssh -4 or -6: "4", "6" or ""
	bwLimit   int64    // scp -l: bytes a second per host (0: no limit)
	preserve  bool     // scp -p: keep times and modes
	recursive bool     // scp -r
}

// psshEnv are the environment variables that turn a bool flag on, as pssh
// reads them: any value that is not empty is on ("yes", "1", even "0"),
// since pssh only asks whether the variable is set. urfave/cli's EnvVars
// would refuse "yes" and end every run, so they are read here.
var psshEnv = map[string]string{"askpass": "PSSH_ASKPASS", "verbose": "PSSH_VERBOSE", "inline": "PSSH_INLINE",
	"print": "PSSH_PRINT", "recursive": "PSSH_RECURSIVE"}

// psshBool is the bool flag name, on when given or when its pssh
// environment variable is set.
func psshBool(c *cli.Context, name string) bool {
	if c.IsSet(name) {
		return c.Bool(name)
	}
	return os.Getenv(psshEnv[name]) != ""
}

// defaultMaxLog is --max-log's default: as much as fleet used to keep in
// memory per stream for -i, which reads as plenty for a log that a person
// pages through, while 20 hosts printing endlessly fill 320 MiB of the
// 1 GiB that the run records keep (FLEET_KEEP_SIZE). -o/-e files get all.
const defaultMaxLog = 16 << 20

// readTargets reads the host flags: the host list, parallelism, timeouts and
// the SSH options. Everything wrong here is a usage error.
func readTargets(c *cli.Context, env *environment) (*targetOptions, error) {
	t := &targetOptions{par: c.Int("par")}
	if t.par < 1 {
		return nil, usageError("-p/--par must be at least 1, not %d", t.par)
	}
	var err error
	if t.maxLog, err = parseSize(c.String("max-log"), "--max-log"); err != nil {
		return nil, err
	}
	if t.timeout, err = parseSeconds(c.String("timeout"), "-t/--timeout"); err != nil {
		return nil, err
	}
	if t.dial.ConnectTimeout, err = parseSeconds(c.String("connect-timeout"), "--connect-timeout"); err != nil {
		return nil, err
	}
	if t.dial.ConnectTimeout == 0 {
		return nil, usageError("--connect-timeout must be more than 0")
	}
	if !c.IsSet("connect-timeout") {
		// Unset: ssh_config's ConnectTimeout applies, else 10 s (as ssh).
		t.dial.ConnectTimeout = 0
	}
	t.dial.Parallel = t.par
	if t.hosts, err = env.hosts(c); err != nil {
		return nil, err
	}
	t.dial.User = c.String("user")
	if t.dial.User != "" {
		// The same rule as a host line's user, so that the run record's
		// failed file, which names each host with its user, reads back.
		if err := inventory.CheckUser(t.dial.User); err != nil {
			return nil, usageError("--user: %v", err)
		}
	}
	t.dial.IdentityFiles = c.StringSlice("identity")
	t.dial.ConfigFile = c.String("ssh-config")
	t.dial.ProxyJump = c.String("jump")
	if t.escapes, err = readEscapes(c); err != nil {
		return nil, err
	}
	// Warnings name hosts and files from the user's lists; whole lines,
	// so nothing is ever held back to flush.
	t.dial.Warn, _ = cleanOnTerminal(env.stderr, t.escapes)
	// Match exec commands are the user's, but what they print may come
	// from anywhere (a host's answer, a file): cleaned as the hosts' text.
	t.dial.ExecStderr = cleanLines(env.stderr, t.escapes)
	t.dial.Trace = verboseTrace(psshBool(c, "verbose"), env.stderr, t.escapes)
	// pssh's PSSH_OPTIONS is the first of -O's list, not replaced by it
	// (optparse appends to the default); the first value of a key wins,
	// as with ssh -o.
	opts := c.StringSlice("option")
	if v := os.Getenv("PSSH_OPTIONS"); v != "" {
		opts = append([]string{v}, opts...)
	}
	for _, o := range opts {
		kv, err := parseOption(o)
		if err != nil {
			return nil, err
		}
		t.addOverride(kv, "-O")
	}
	var extra []string
	for _, x := range c.StringSlice("extra-args") {
		words, err := splitWords(x)
		if err != nil {
			return nil, usageError("-x %q: %v", x, err)
		}
		extra = append(extra, words...)
	}
	extra = append(extra, c.StringSlice("extra-arg")...)
	// pscp and pslurp pass -x to scp, pssh to ssh.
	scp := c.Command != nil && (c.Command.Name == "copy" || c.Command.Name == "slurp")
	if err := applyExtraArgs(extra, t, scp); err != nil {
		return nil, err
	}
	if err := checkFamily(t); err != nil {
		return nil, err
	}
	// pssh's -t bounds a host's whole time, connecting included: a host
	// that does not answer fails within -t, not after the connect timeout
	// (unless --connect-timeout says how long).
	t.dial.MaxConnectTimeout = t.timeout
	t.askpass = psshBool(c, "askpass")
	t.verbose = psshBool(c, "verbose")
	if t.verbose && len(t.ignored) > 0 {
		fmt.Fprintf(env.stderr, "fleet: note: ignored, as they change nothing fleet does: %s\n", strings.Join(t.ignored, "; "))
	}
	t.dial.Passphrase = terminalPassphrase()
	t.rerunOf = c.String("rerun-of")
	t.passwordFile = c.String("password-file")
	return t, nil
}

// readHosts gathers -h files, -H strings, applies -g, --limit and --exclude
// and labels the hosts.
func readHosts(c *cli.Context, stdin io.Reader, stderr io.Writer) ([]inventory.Host, error) {
	var hosts []inventory.Host
	files := c.StringSlice("hosts")
	if v := os.Getenv("PSSH_HOSTS"); v != "" {
		// pssh's PSSH_HOSTS is the first of -h's files, not replaced by
		// them (optparse appends to the default).
		files = append([]string{v}, files...)
	}
	for _, name := range files {
		var r io.Reader
		if name == "-" {
			r, name = stdin, "stdin"
		} else {
			f, err := os.Open(name)
			if err != nil {
				// pssh exits 1 for a host file it cannot open.
				return nil, &statusError{status: exitError, err: fmt.Errorf("hosts file: %w", err)}
			}
			defer f.Close()
			r = f
		}
		hs, err := inventory.ParseFile(r, name)
		if err != nil {
			return nil, &statusError{status: exitUsage, err: err}
		}
		hosts = append(hosts, hs...)
	}
	for _, s := range c.StringSlice("host") {
		hs, err := inventory.ParseArgs(s, "-H")
		if err != nil {
			return nil, &statusError{status: exitUsage, err: err}
		}
		hosts = append(hosts, hs...)
	}
	if len(hosts) > inventory.MaxExpansion {
		return nil, usageError("%d hosts is more than fleet takes at once (%d)", len(hosts), inventory.MaxExpansion)
	}
	hosts, err := selectHosts(c, hosts) // -g, --limit, --exclude: selection.go
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		if len(files) == 0 && !c.IsSet("host") {
			return nil, &statusError{status: exitUsage, err: fmt.Errorf("no hosts given"),
				hint: "name them with -h FILE (one [user@]host[:port] a line) or -H \"host1 host2\""}
		}
		// An empty list is nothing to do, as in pssh (exit 0): the failed
		// file of a run where every host succeeded is empty.
		fmt.Fprintln(stderr, "fleet: the host list is empty: nothing to do")
		return nil, withStatus(exitOK)
	}
	inventory.LabelAs(hosts, c.String("user"))
	return hosts, nil
}

// parseSeconds reads pssh's whole seconds, or a Go duration like 2m30s.
func parseSeconds(s, flag string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usageError("%s: %q is not a number of seconds or a duration like 2m30s", flag, s)
	}
	return d, nil
}

// sudoFlags are shared by the commands that can act as root.
func sudoFlags(what string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "sudo", Category: catRun,
			Usage: what + " as root through sudo (passwordless unless -S)"},
		&cli.BoolFlag{Name: "sudo-password", Aliases: []string{"S"}, Category: catRun,
			Usage: "ask once for the sudo password and give it to sudo when it asks (implies --sudo)"},
		&cli.StringFlag{Name: "sudo-password-file", Category: catRun,
			Usage: "read the sudo password from `FILE` (first line, mode 0600) instead of asking (implies --sudo)"},
	}
}

// sudoOptions is what the sudo flags say; the password is asked for (or
// read) once, by Password, before the run.
type sudoOptions struct {
	sudo   bool
	source func() ([]byte, error)
}

func readSudo(c *cli.Context) sudoOptions {
	o := sudoOptions{sudo: c.Bool("sudo")}
	if c.Bool("sudo-password") || c.IsSet("sudo-password-file") {
		o.sudo = true
		o.source = secretSource(c.String("sudo-password-file"), "sudo password")
	}
	return o
}

// password returns the sudo password, nil when none is to be given.
func (o sudoOptions) password() ([]byte, error) {
	if o.source == nil {
		return nil, nil
	}
	return o.source()
}
