package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
)

const rerunDescription = `Runs the command, copy or recipe of a recorded run again (the latest unless
RUN is given), with the same options, on the hosts that did not succeed in it:
failed, unreachable, timed out, cancelled or never started. --all takes every
host of that run; -g narrows the hosts further. The new run's record names
the run it repeats.

Passwords are never recorded, so a run that asked for one (-A, -S) asks
again. With recipes, steps already done are skipped by their guards, so a
rerun resumes where each host stopped.

EXAMPLES
   fleet rerun                 (the hosts that failed in the latest run)
   fleet rerun -1 --all        (every host of the run before it)
   fleet rerun 20261127-1401 -g 'web*'`

func rerunCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:         "rerun",
		OnUsageError: onUsageError,
		Usage:        "run a recorded run again on the hosts that did not succeed",
		UsageText:    "fleet rerun [--all] [-g PATTERN] [RUN]",
		Description:  rerunDescription,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "every host of the run, not only those that did not succeed"},
			&cli.StringFlag{Name: "host-glob", Aliases: []string{"g"}, Usage: "only the hosts matching the shell `PATTERN`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError("name one run")
			}
			r, err := findRun(c.Args().First())
			if err != nil {
				return err
			}
			var hosts []string
			for _, h := range r.Info.Hosts {
				if c.Bool("all") || h.Outcome != fleet.OK {
					hosts = append(hosts, h.Host)
				}
			}
			if len(hosts) == 0 {
				fmt.Fprintf(env.stderr, "fleet: every host of run %s succeeded: nothing to rerun (--all reruns them all)\n", r.Info.ID)
				return nil
			}
			list, cleanup, err := rerunList(r, hosts, c.Bool("all"))
			if err != nil {
				return err
			}
			defer cleanup()
			args, err := rerunArgs(r.Info.Args, list, r.Info.ID, c.String("host-glob"), commandFlags(env))
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stderr, "fleet: rerunning %s on %d host(s): fleet %s\n", r.Info.ID, len(hosts),
				strings.Join(r.Info.Args, " "))
			if status := Main(append([]string{"fleet"}, args...), env.stdin, env.stdout, env.stderr); status != 0 {
				return withStatus(status)
			}
			return nil
		},
	}
}

// rerunList returns a host file of hosts: the run's own failed file when
// that is what it holds, so that the new run's record names a file that
// stays; otherwise (--all, a run killed before it wrote the file) a
// temporary one, removed by cleanup.
func rerunList(r *fleet.RunRecord, hosts []string, all bool) (path string, cleanup func(), err error) {
	want := strings.Join(hosts, "\n") + "\n"
	failed := filepath.Join(r.Dir, "failed")
	if b, err := os.ReadFile(failed); err == nil && !all && string(b) == want {
		return failed, func() {}, nil
	}
	list, err := os.CreateTemp("", "fleet-rerun-*.hosts")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.Remove(list.Name()) }
	_, err = list.WriteString(want)
	if cerr := list.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return list.Name(), cleanup, nil
}

// rerunArgs rebuilds a recorded command line with its host selection (-h,
// -H, -g, in every spelling) replaced by the host file list. For run, copy
// and slurp the options end at the first argument (what follows is the
// command or the files); provision's may follow its recipe.
func rerunArgs(recorded []string, list, id, glob string, flags map[string][]cli.Flag) ([]string, error) {
	if len(recorded) == 0 {
		return nil, fmt.Errorf("run %s recorded no command line", id)
	}
	sub := recorded[0]
	switch sub {
	case "run", "copy", "slurp", "provision":
	default:
		return nil, fmt.Errorf("run %s was a %q, which fleet rerun cannot repeat", id, sub)
	}
	takesValue := valueFlags(flags[sub])
	out := []string{sub, "--rerun-of", id, "-h", list}
	if glob != "" {
		out = append(out, "-g", glob)
	}
	rest := recorded[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			if sub != "provision" || a == "--" {
				return append(out, rest[i:]...), nil
			}
			out = append(out, a)
			continue
		}
		if name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "="); hostSelection(name) {
			if !hasValue {
				i++ // its value
			}
			continue
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 && !strings.Contains(a, "=") {
			// Combined short options, as in pssh's -ih kube: drop the host
			// selection letters; their value is the next word.
			kept := strings.Map(func(r rune) rune {
				if strings.ContainsRune("hHg", r) {
					return -1
				}
				return r
			}, a[1:])
			if len(kept) != len(a)-1 {
				i++
				if kept != "" {
					out = append(out, "-"+kept)
				}
				continue
			}
		}
		out = append(out, a)
		if name := strings.TrimLeft(a, "-"); takesValue[name] && i+1 < len(rest) {
			i++
			out = append(out, rest[i])
		}
	}
	return out, nil
}

// valueFlags lists the names of the flags that take a value.
func valueFlags(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		if _, isBool := f.(*cli.BoolFlag); !isBool {
			for _, n := range f.Names() {
				m[n] = true
			}
		}
	}
	return m
}

// commandFlags maps each host command to its flags, for rerunArgs.
func commandFlags(env *environment) map[string][]cli.Flag {
	m := map[string][]cli.Flag{}
	for _, c := range []*cli.Command{runCommand(env), copyCommand(env), slurpCommand(env), provisionCommand(env)} {
		m[c.Name] = c.Flags
	}
	return m
}

// hostSelection names the options that choose hosts.
func hostSelection(name string) bool {
	switch name {
	case "h", "hosts", "H", "host", "g", "host-glob", "limit", "exclude", "rerun-of":
		return true
	}
	return false
}
