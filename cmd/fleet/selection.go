package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/inventory"
)

// selectionFlags choose hosts from the list that -h and -H give: pssh's -g,
// and --limit and --exclude with Ansible's host patterns (groups come from
// host files with [group] sections and Ansible INI inventories).
func selectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "host-glob", Aliases: []string{"g"}, Category: catHosts,
			Usage: "keep only hosts matching the shell glob `PATTERN` (*, ?, [a-c], [!x]); repeatable: a host matching any -g is kept"},
		&cli.StringSliceFlag{Name: "limit", Category: catHosts,
			Usage: "keep the hosts of Ansible's host `PATTERN`: groups, hosts, globs, ~regexp; web:db (or), web:&prod (and), web:!db (not); repeatable, as if joined with ':' (each split on its own)"},
		&cli.StringSliceFlag{Name: "exclude", Category: catHosts,
			Usage: "leave out the hosts of `PATTERN` (a group, host or glob, several with ':' or ','); repeatable"},
	}
}

// selection is what -g, --limit and --exclude ask for.
type selection struct {
	globs, limit, exclude []string
	// keepRefused keeps the hosts whose inventory fleet refuses (see
	// inventory.Host.Refused) for fleet hosts, which shows each with its
	// error; every other command refuses to start with one selected.
	keepRefused bool
}

// readSelection reads -g, --limit and --exclude.
func readSelection(c *cli.Context) selection {
	return selection{globs: c.StringSlice("host-glob"), limit: c.StringSlice("limit"), exclude: c.StringSlice("exclude")}
}

// selectHosts applies -g, --limit and --exclude to the hosts read.
func selectHosts(c *cli.Context, hosts []inventory.Host) ([]inventory.Host, error) {
	s := readSelection(c)
	s.keepRefused = c.Command != nil && c.Command.Name == "hosts"
	return s.apply(hosts, "fleet hosts with the same options lists what they select")
}

// apply keeps the hosts selected, in list order: those matching any -g,
// then --limit's pattern without --exclude's. A pattern that selects
// nothing is a usage error, and so is a selection that leaves no host,
// with noneHint, and one that keeps a host fleet refuses to reach.
func (s selection) apply(hosts []inventory.Host, noneHint string) ([]inventory.Host, error) {
	hosts, err := s.pick(hosts, noneHint)
	if err != nil || s.keepRefused {
		return hosts, err
	}
	if err := inventory.CheckRefused(hosts); err != nil {
		return nil, &statusError{status: exitUsage, err: err, hint: refusedHint(err)}
	}
	return hosts, nil
}

// refusedHint says how to leave the refused hosts out.
func refusedHint(err error) string {
	var re *inventory.RefusedError
	them := "it"
	if errors.As(err, &re) && len(re.Hosts) > 1 {
		them = "them"
	}
	var terms []string
	if re != nil {
		terms = re.Exclude()
	}
	if len(terms) == 0 {
		return "leave " + them + " out with --exclude (their names or groups); fleet hosts shows each host's error"
	}
	nots := make([]string, len(terms))
	for i, t := range terms {
		nots[i] = "!" + t
	}
	return fmt.Sprintf("leave %s out with --exclude %s (or --limit '%s')", them, strings.Join(terms, ","), strings.Join(nots, ","))
}

// pick applies -g, --limit and --exclude.
func (s selection) pick(hosts []inventory.Host, noneHint string) ([]inventory.Host, error) {
	if len(s.globs) == 0 && len(s.limit) == 0 && len(s.exclude) == 0 {
		return hosts, nil
	}
	n := len(hosts)
	var err error
	if len(s.globs) > 0 {
		if hosts, err = inventory.Filter(hosts, s.globs...); err != nil {
			return nil, usageError("-g: %v", err)
		}
	}
	if len(s.limit) > 0 || len(s.exclude) > 0 {
		// Each --limit is split on its own (one may use ",", another
		// ":"); their terms add up as if joined with ":".
		if hosts, err = inventory.Select(hosts, s.limit, s.exclude); err != nil {
			return nil, &statusError{status: exitUsage, err: err,
				hint: "--limit and --exclude name groups ([group] sections of host files, Ansible inventories), hosts or globs; fleet hosts shows what they select"}
		}
	}
	if len(hosts) == 0 && n > 0 {
		return nil, &statusError{status: exitUsage, err: fmt.Errorf("-g, --limit and --exclude left none of the %d hosts", n),
			hint: noneHint}
	}
	return hosts, nil
}
