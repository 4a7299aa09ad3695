package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

const runsDescription = `Lists the recorded runs, newest first, one a line: id, start, state and
duration, the command, the number of hosts and how they ended. A run whose
process was killed before it could write its end is shown as "killed"; it
can still be rerun. RUN is an id, a unique prefix of one, latest, or -N (N
runs before the latest). OTHER counts hosts that timed out, were cancelled or
never started. "fleet runs show RUN" prints one run and its hosts and, after
a provision, the steps they reached, once per group of hosts whose steps
went the same way (a failed step with its whole stderr).

The newest 100 records are kept (FLEET_KEEP_RUNS changes that), as long as
they take at most 1G together (FLEET_KEEP_SIZE, like 500M or 4G; 0 = no
bound): past it the oldest go first. The run starting and live runs are never
removed. Each host's log keeps at most --max-log (16M) of its output.

EXAMPLES
   fleet runs
   fleet runs show latest
   fleet runs --json | jq -r 'select(.failed > 0) | .id'`

func runsCommand(env *environment) *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "one JSON object a line (runs) or the whole run.json (show)"}
	return &cli.Command{
		Name:        "runs",
		Usage:       "list recorded runs, or show one",
		UsageText:   "fleet runs [--json] | fleet runs show [--json] RUN",
		Description: runsDescription,
		Flags:       []cli.Flag{jsonFlag, escapesFlag()},
		Action: func(c *cli.Context) error {
			mode, err := readEscapes(c)
			if err != nil {
				return err
			}
			dir, err := record.StateDir()
			if err != nil {
				return err
			}
			runs, errs := record.List(dir)
			for _, e := range errs {
				fmt.Fprintf(env.stderr, "fleet: warning: %v\n", e)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(ui.JSONWriter(env.stdout))
				for _, r := range runs {
					if err := enc.Encode(runLine(r)); err != nil {
						return err
					}
				}
				return nil
			}
			stdout, flush := cleanOnTerminal(env.stdout, mode)
			defer flush()
			w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSTART\tSTATE\tHOSTS\tOK\tFAILED\tUNREACHABLE\tOTHER\tCOMMAND")
			for _, r := range runs {
				l := runLine(r)
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", l.ID, r.Info.Start.Local().Format("2006-01-02 15:04:05"),
					l.stateText(), l.Hosts, l.OK, l.Failed, l.Unreachable, l.Other, shorten(l.Command, 60))
			}
			return w.Flush()
		},
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "show one run: its command, options and every host's outcome",
			UsageText: "fleet runs show [--json] RUN",
			Flags:     []cli.Flag{jsonFlag, escapesFlag()},
			Action: func(c *cli.Context) error {
				mode, err := readEscapes(c)
				if err != nil {
					return err
				}
				if c.NArg() > 1 {
					return usageError("name one run")
				}
				r, err := findRun(c.Args().First())
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(ui.JSONWriter(env.stdout))
					enc.SetIndent("", "  ")
					return enc.Encode(r.Info)
				}
				// The hosts' failure reasons are their text.
				stdout, flush := cleanOnTerminal(env.stdout, mode)
				defer flush()
				return showRun(stdout, r)
			},
		}},
	}
}

// findRun resolves RUN, with errors that are the user's (exit 1, a hint).
func findRun(ref string) (*record.Run, error) {
	dir, err := record.StateDir()
	if err != nil {
		return nil, err
	}
	r, err := record.Find(dir, ref)
	if err != nil {
		return nil, &statusError{status: exitError, err: err, hint: "fleet runs lists the recorded runs"}
	}
	return r, nil
}

// runSummary is one line of fleet runs, also its JSON form.
type runSummary struct {
	ID          string  `json:"id"`
	Start       string  `json:"start"`
	State       string  `json:"state"`
	DurationS   float64 `json:"duration_s,omitempty"`
	Command     string  `json:"command"`
	RerunOf     string  `json:"rerun_of,omitempty"`
	Status      *int    `json:"status"`
	Hosts       int     `json:"hosts"`
	OK          int     `json:"ok"`
	Failed      int     `json:"failed"`
	Unreachable int     `json:"unreachable"`
	Other       int     `json:"other"` // timed out, cancelled, not started
}

func runLine(r *record.Run) runSummary {
	s := runSummary{ID: r.Info.ID, Start: r.Info.Start.Format(time.RFC3339), State: r.State(),
		Command: strings.Join(r.Info.Args, " "), RerunOf: r.Info.RerunOf, Status: r.Info.Status, Hosts: len(r.Info.Hosts)}
	if r.Info.End != nil {
		s.DurationS = r.Info.End.Sub(r.Info.Start).Round(10 * time.Millisecond).Seconds()
	}
	for _, h := range r.Info.Hosts {
		switch h.Outcome {
		case fleet.OK:
			s.OK++
		case fleet.Failed:
			s.Failed++
		case fleet.Unreachable:
			s.Unreachable++
		default:
			s.Other++
		}
	}
	return s
}

func (s runSummary) stateText() string {
	if s.State == "done" {
		return fmt.Sprintf("%.1fs", s.DurationS)
	}
	return s.State
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// showRun prints one run for people.
func showRun(w io.Writer, r *record.Run) error {
	l := runLine(r)
	fmt.Fprintf(w, "run      %s\n", l.ID)
	fmt.Fprintf(w, "command  fleet %s\n", l.Command)
	fmt.Fprintf(w, "start    %s\n", r.Info.Start.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(w, "state    %s", l.State)
	if l.Status != nil {
		fmt.Fprintf(w, ", exit status %d, %s", *l.Status, l.stateText())
	}
	fmt.Fprintln(w)
	if l.RerunOf != "" {
		fmt.Fprintf(w, "reruns   %s\n", l.RerunOf)
	}
	fmt.Fprintf(w, "record   %s\n", r.Dir)
	fmt.Fprintf(w, "hosts    %d: %d ok, %d failed, %d unreachable, %d other\n\n", l.Hosts, l.OK, l.Failed, l.Unreachable, l.Other)
	if err := listHosts(w, r); err != nil {
		return err
	}
	return listSteps(w, r.Info.Hosts)
}

// listHosts prints a run's hosts with their outcomes, one a line.
func listHosts(w io.Writer, r *record.Run) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, h := range r.Info.Hosts {
		outcome := h.Outcome.String()
		if r.State() == "live" && !h.Ended {
			outcome = "running or waiting"
		} else if r.State() == "killed" && !h.Ended {
			outcome = "unfinished (the run was killed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Host, outcome, cmp.Or(h.Error, h.Detail))
	}
	return tw.Flush()
}

// stepGroup is hosts whose steps went the same way: the same steps, in the
// same order, with the same outcomes, reasons and stderr (not durations).
type stepGroup struct {
	labels []string
	steps  []fleet.Step
}

// groupSteps groups the hosts that have steps (provision's) by how their
// steps went, in the order of each group's first host.
func groupSteps(hosts []record.Host) []*stepGroup {
	var groups []*stepGroup
	byKey := map[string]*stepGroup{}
	for _, h := range hosts {
		if len(h.Steps) == 0 {
			continue
		}
		var key strings.Builder
		for _, st := range h.Steps {
			// NUL cannot be in a step's name or outcome; it ends each field.
			fmt.Fprintf(&key, "%s\x00%s\x00%s\x00%d:%s", st.Name, st.Outcome, st.Reason, len(st.Stderr), st.Stderr)
		}
		g := byKey[key.String()]
		if g == nil {
			g = &stepGroup{steps: h.Steps}
			byKey[key.String()] = g
			groups = append(groups, g)
		}
		g.labels = append(g.labels, h.Host)
	}
	return groups
}

// listSteps prints the steps each group of hosts reached, as the dry run's
// plan does: once per group of identical hosts, under their folded labels,
// a failed step with its whole stderr below it. Hosts without steps (other
// commands than provision, hosts never reached) are left out.
func listSteps(w io.Writer, hosts []record.Host) error {
	for _, g := range groupSteps(hosts) {
		n := "1 host"
		if len(g.labels) > 1 {
			n = fmt.Sprintf("%d hosts", len(g.labels))
		}
		fmt.Fprintf(w, "\n== steps of %s (%s)\n", ui.Fold(g.labels), n)
		for _, st := range g.steps {
			line := fmt.Sprintf("%-11s %s", st.Outcome, st.Name)
			if st.Reason != "" {
				line += " (" + st.Reason + ")"
			}
			fmt.Fprintln(w, line)
			if st.Stderr == "" {
				continue
			}
			for _, l := range strings.Split(strings.TrimRight(st.Stderr, "\n"), "\n") {
				fmt.Fprintf(w, "            | %s\n", l)
			}
		}
	}
	return nil
}
