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
		&cli.StringSliceFlag{Name: "hosts", Aliases: []string{"h"}, Category: catHosts, EnvVars: []string{"PSSH_HOSTS"},
			Usage: "read hosts from `FILE` ([user@]host[:port] a line, [group] sections, or an Ansible INI inventory; - for stdin); repeatable"},
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
			Usage: "ssh_config `Key=Value`, as ssh -o, before the files (IdentityFile, StrictHostKeyChecking, ProxyJump, ProxyCommand, ...: the keys fleet honours, docs/ssh.md); repeatable"},
		&cli.StringSliceFlag{Name: "extra-args", Aliases: []string{"x"}, Category: catSSH,
			Usage: "pssh's extra ssh `ARGS`, split like a shell; -o, -p, -i, -J, -l, -t, -T, -A (forward the agent), -a are understood"},
		&cli.StringSliceFlag{Name: "extra-arg", Aliases: []string{"X"}, Category: catSSH,
			Usage: "one extra ssh `ARG` (see -x)"},
		&cli.StringSliceFlag{Name: "identity", Category: catSSH,
			Usage: "private key `FILE` to offer first; repeatable"},
		&cli.StringFlag{Name: "ssh-config", Aliases: []string{"F"}, Category: catSSH,
			Usage: "read ssh_config from `FILE` instead of ~/.ssh/config and /etc/ssh/ssh_config (none = no file); read as OpenSSH does (Match, Include, tokens), and a key fleet cannot honour for a host in the run is an error (docs/ssh.md)"},
		&cli.StringFlag{Name: "jump", Aliases: []string{"J"}, Category: catSSH,
			Usage: "connect through jump host(s) `[user@]host[:port][,...]`, one shared connection; wins over ssh_config's ProxyCommand"},
		&cli.BoolFlag{Name: "askpass", Aliases: []string{"A"}, Category: catSSH, EnvVars: []string{"PSSH_ASKPASS"},
			Usage: "ask once for a password, used for password logins and key passphrases (pssh's -A; ssh's -A, agent forwarding, is -x -A)"},
		&cli.StringFlag{Name: "password-file", Category: catSSH,
			Usage: "read the login password from `FILE` (first line) instead of asking"},
		&cli.StringFlag{Name: "max-log", Category: catOutput, Value: formatSize(defaultMaxLog), EnvVars: []string{"FLEET_MAX_LOG"},
			Usage: "keep at most `SIZE` (512K, 64M, 1G; 0 = no limit) of each host's output in its log in the run record; " +
				"the command goes on past it and the log says what it left out"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catOutput, EnvVars: []string{"PSSH_VERBOSE"},
			Usage: "say more about what fleet does"},
		escapesFlag(),
		// fleet rerun passes the run it repeats, for the new record.
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
	if t.hosts, err = readHosts(c, env.stdin); err != nil {
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
	for _, o := range c.StringSlice("option") {
		kv, err := parseOption(o)
		if err != nil {
			return nil, err
		}
		t.dial.Overrides = append(t.dial.Overrides, kv)
	}
	if v := os.Getenv("PSSH_OPTIONS"); v != "" && !c.IsSet("option") {
		kv, err := parseOption(v)
		if err != nil {
			return nil, usageError("PSSH_OPTIONS: %v", err)
		}
		t.dial.Overrides = append(t.dial.Overrides, kv)
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
	if err := applySSHArgs(extra, t); err != nil {
		return nil, err
	}
	t.askpass = c.Bool("askpass")
	t.dial.Passphrase = terminalPassphrase()
	t.rerunOf = c.String("rerun-of")
	t.passwordFile = c.String("password-file")
	return t, nil
}

// readHosts gathers -h files, -H strings, applies -g, --limit and --exclude
// and labels the hosts.
func readHosts(c *cli.Context, stdin io.Reader) ([]inventory.Host, error) {
	var hosts []inventory.Host
	for _, name := range c.StringSlice("hosts") {
		var r io.Reader
		if name == "-" {
			r, name = stdin, "stdin"
		} else {
			f, err := os.Open(name)
			if err != nil {
				return nil, usageError("hosts file: %v", err)
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
		if !c.IsSet("hosts") && !c.IsSet("host") {
			return nil, &statusError{status: exitUsage, err: fmt.Errorf("no hosts given"),
				hint: "name them with -h FILE (one [user@]host[:port] a line) or -H \"host1 host2\""}
		}
		return nil, usageError("the host list is empty")
	}
	inventory.Label(hosts)
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

// parseOption reads Key=Value (or "Key Value", as ssh_config writes it).
func parseOption(s string) ([2]string, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "= \t")
	if i <= 0 {
		return [2]string{}, usageError("ssh option %q: want Key=Value", s)
	}
	return [2]string{s[:i], strings.TrimSpace(strings.TrimLeft(s[i:], "= \t"))}, nil
}

// applySSHArgs honours the common ssh options pssh users pass with -x/-X
// and refuses the rest, so nothing is silently ignored.
func applySSHArgs(args []string, t *targetOptions) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-t" || a == "-tt" {
			t.pty = true
			continue
		}
		if a == "-T" {
			t.pty = false
			continue
		}
		// ssh's -A and -a (agent forwarding on, off): fleet's own -A is
		// pssh's askpass, so forwarding is asked for as pssh users do,
		// with -x -A (or -O ForwardAgent=yes).
		if a == "-A" || a == "-a" {
			t.dial.ForwardAgent = map[string]string{"-A": "yes", "-a": "no"}[a]
			continue
		}
		if len(a) < 2 || a[0] != '-' || !strings.ContainsRune("opiJl", rune(a[1])) {
			return usageError("ssh argument %q is not supported by fleet (understood: -o, -p, -i, -J, -l, -t, -tt, -T, -A, -a)", a)
		}
		val := a[2:]
		if val == "" {
			if i+1 == len(args) {
				return usageError("ssh argument %s needs a value", a)
			}
			i++
			val = args[i]
		}
		switch a[1] {
		case 'o':
			kv, err := parseOption(val)
			if err != nil {
				return err
			}
			t.dial.Overrides = append(t.dial.Overrides, kv)
		case 'p':
			p, err := strconv.Atoi(val)
			if err != nil || p < 1 || p > 65535 {
				return usageError("ssh -p: invalid port %q", val)
			}
			t.dial.Port = p
		case 'i':
			t.dial.IdentityFiles = append(t.dial.IdentityFiles, val)
		case 'J':
			t.dial.ProxyJump = val
		case 'l':
			t.dial.User = val
		}
	}
	return nil
}

// splitWords splits s like a POSIX shell does (quotes and backslashes), as
// pssh splits -x with shlex.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %c quote", ch)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
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
