package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/inventory"
)

const hostsDescription = `Prints, for each host of the list, what fleet will use to reach it, as
ssh -G does for one host, without connecting: address, port, user, identity
files in order, jump host or ProxyCommand, the name its host key is checked
under, the known_hosts files, and where each value came from (the host
list, a flag, -O, ssh_config FILE:LINE, or the default). ssh_config is read
as OpenSSH reads it (Match, Include, tokens; see docs/ssh.md); Match exec
commands run, as they do for ssh -G. A host whose configuration fleet
refuses shows the error, and so does a host whose Ansible inventory asks
for what fleet cannot do (ansible_connection=local, ansible_become, ...),
which other commands refuse to start with; the others are still printed.

EXAMPLES
   fleet hosts -h kube
   fleet hosts -H 'web1 db1' -F ./ssh_config
   fleet hosts -h kube --json | jq -r 'select(.user != "deploy") | .host'`

func hostsCommand(env *environment) *cli.Command {
	flags := append(hostFlags("0"), &cli.BoolFlag{Name: "json", Category: catOutput,
		Usage: "one JSON object a line per host (host, groups, address, port, user, identity_files, ..., sources, error)"})
	return &cli.Command{
		Name:            "hosts",
		Usage:           "show how each host will be reached (address, user, keys, jump, known_hosts), without connecting",
		UsageText:       "fleet hosts [options]",
		Description:     hostsDescription,
		Flags:           flags,
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("fleet hosts takes no arguments, got %q", c.Args().First())
			}
			t, err := readTargets(c, env)
			if err != nil {
				return err
			}
			return showHosts(env, t, c.Bool("json"))
		},
	}
}

// hostLine is one host as --json prints it.
type hostLine struct {
	Host string `json:"host"`
	// Groups are the host's groups in a sectioned host file or an Ansible
	// inventory, which --limit and --exclude select by.
	Groups []string `json:"groups,omitempty"`
	*fleet.Reach
	Error string `json:"error,omitempty"`
}

func showHosts(env *environment, t *targetOptions, asJSON bool) error {
	d, err := fleet.NewDialer(t.dial)
	if err != nil {
		return &statusError{status: exitUsage, err: err}
	}
	defer d.Close()
	out, flush := cleanOnTerminal(env.stdout, t.escapes)
	defer flush()
	failed := 0
	for _, h := range t.hosts {
		info, err := d.Describe(h)
		if err != nil {
			failed++
		}
		if asJSON {
			l := hostLine{Host: h.Label, Groups: h.Groups}
			if err != nil {
				l.Error = err.Error()
			} else {
				l.Reach = &info
			}
			if err := json.NewEncoder(ui.JSONWriter(out)).Encode(l); err != nil {
				return err
			}
			continue
		}
		// One table per host, so that a long value or error does not
		// widen every other host's.
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		printHostTable(tw, h, info, err)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		se := &statusError{status: exitUsage, err: fmt.Errorf("%d of %d hosts cannot be reached as configured", failed, len(t.hosts))}
		if refused := inventory.CheckRefused(t.hosts); refused != nil {
			// Those of them whose inventory fleet refuses: how to leave
			// them out, as the other commands say.
			se.hint = refusedHint(refused)
		}
		return se
	}
	return nil
}

func printHostTable(w io.Writer, h inventory.Host, info fleet.Reach, err error) {
	fmt.Fprintln(w, h.Label)
	if len(h.Groups) > 0 {
		fmt.Fprintf(w, "  groups\t%s\t%s\n", strings.Join(h.Groups, " "), h.Source)
	}
	if err != nil {
		fmt.Fprintf(w, "  error: %s\n\n", err)
		return
	}
	row := func(name, value, source string) { fmt.Fprintf(w, "  %s\t%s\t%s\n", name, value, source) }
	row("address", info.Address, info.Sources["address"])
	row("port", strconv.Itoa(info.Port), info.Sources["port"])
	row("user", info.User, info.Sources["user"])
	row("identity files", cmp.Or(strings.Join(info.IdentityFiles, " "), "-"), info.Sources["identity_files"])
	switch {
	case info.ProxyJump != "":
		row("jump", info.ProxyJump, info.Sources["proxy"])
	case info.ProxyCommand != "":
		row("proxy command", info.ProxyCommand, info.Sources["proxy"])
	default:
		row("jump", "- (direct)", "")
	}
	row("host key name", info.HostKeyName, info.Sources["host_key_name"])
	row("known_hosts", strings.Join(info.KnownHosts, " "), info.Sources["known_hosts"])
	row("host key check", info.StrictHostKeyChecking, info.Sources["strict_host_key_checking"])
	row("connect timeout", info.ConnectTimeout, info.Sources["connect_timeout"])
	fmt.Fprintln(w)
}
