package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/inventory"
)

// rolloutFlags are --batch and --max-fail for run and copy, with the
// meaning provision gives them: a rolling restart is run's job.
func rolloutFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "batch", Category: catRun,
			Usage: "at most `N` or N% of the hosts in flight at once (a rolling rollout; overrides -p)"},
		&cli.StringFlag{Name: "max-fail", Category: catRun,
			Usage: "stop starting hosts once `N` or N% of them have failed; hosts in flight finish, those not started are reported"},
	}
}

// readRollout applies --batch to t.par and returns --max-fail's count of
// hosts (0: never stop).
func readRollout(c *cli.Context, t *targetOptions) (maxFail int, err error) {
	if b := c.String("batch"); b != "" {
		if t.par, err = countOrPercent(b, len(t.hosts), "--batch"); err != nil {
			return 0, err
		}
		t.dial.Parallel = t.par
	}
	if m := c.String("max-fail"); m != "" {
		if maxFail, err = countOrPercent(m, len(t.hosts), "--max-fail"); err != nil {
			return 0, err
		}
	}
	return maxFail, nil
}

// rolloutRecord is what run.json records of --max-fail (--batch is the
// recorded par): nothing when it is not given, as before it existed.
func rolloutRecord(maxFail int) map[string]any {
	m := map[string]any{}
	if maxFail > 0 {
		m["max_fail"] = maxFail
	}
	return m
}

// dryRunFlag is run's --dry-run.
func dryRunFlag() cli.Flag {
	return &cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Category: catRun,
		Usage: "connect to nothing: print each host as listed and the command it would get, with its PSSH_ variables"}
}

// plannedCommand is what one host would get, as --dry-run --json prints it.
type plannedCommand struct {
	Host    string            `json:"host"`   // the label
	Target  string            `json:"target"` // [user@]host[:port] as the list gave it
	Command string            `json:"command"`
	Env     map[string]string `json:"env"`
	Sudo    bool              `json:"sudo"`
	PTY     bool              `json:"pty"`
	Stdin   int               `json:"stdin_bytes,omitempty"` // -I
}

// runEnv is the environment fleet run gives the command on host i of n,
// as pssh does.
func runEnv(h inventory.Host, i, n int) [][2]string {
	return [][2]string{{"PSSH_NODENUM", strconv.Itoa(i)}, {"PSSH_NUMNODES", strconv.Itoa(n)}, {"PSSH_HOST", h.Name}}
}

// printRunPlan is fleet run --dry-run: the hosts, in order, and what each
// would run, without dialling any of them. The user and port are those of
// the host list; ssh_config may still change them (fleet hosts shows that).
func printRunPlan(w io.Writer, o *runOptions, input []byte) error {
	n := len(o.hosts)
	if o.json {
		enc := json.NewEncoder(ui.JSONWriter(w))
		for i, h := range o.hosts {
			p := plannedCommand{Host: h.Label, Target: h.String(), Command: o.command, Env: map[string]string{},
				Sudo: o.sudo.sudo, PTY: o.pty, Stdin: len(input)}
			for _, kv := range runEnv(h, i, n) {
				p.Env[kv[0]] = kv[1]
			}
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
		return nil
	}
	how := []string{fmt.Sprintf("at most %d at a time", o.par)}
	if o.sudo.sudo {
		how = append(how, "through sudo")
	}
	if o.pty {
		how = append(how, "on a pty")
	}
	if o.sendInput {
		how = append(how, fmt.Sprintf("with %d bytes of input", len(input)))
	}
	if o.maxFail > 0 {
		how = append(how, fmt.Sprintf("no new host after %d failed", o.maxFail))
	}
	fmt.Fprintf(w, "dry run: nothing connected; %d hosts would run, %s:\n  %s\n\n", n, strings.Join(how, ", "), o.command)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tREACHED AS\tENVIRONMENT")
	for i, h := range o.hosts {
		var env []string
		for _, kv := range runEnv(h, i, n) {
			env = append(env, kv[0]+"="+kv[1])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Label, h.String(), strings.Join(env, " "))
	}
	return tw.Flush()
}
