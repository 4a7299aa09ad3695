package main

import (
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
			Usage: "keep the hosts of Ansible's host `PATTERN`: groups, hosts, globs, ~regexp; web:db (or), web:&prod (and), web:!db (not); repeatable, joined with ':'"},
		&cli.StringSliceFlag{Name: "exclude", Category: catHosts,
			Usage: "leave out the hosts of `PATTERN` (a group, host or glob, several with ':' or ','); repeatable"},
	}
}

// selectHosts applies -g, --limit and --exclude to the hosts read, in list
// order. A pattern that selects nothing is a usage error, and so is a
// selection that leaves no host.
func selectHosts(c *cli.Context, hosts []inventory.Host) ([]inventory.Host, error) {
	globs, limit, exclude := c.StringSlice("host-glob"), c.StringSlice("limit"), c.StringSlice("exclude")
	if len(globs) == 0 && len(limit) == 0 && len(exclude) == 0 {
		return hosts, nil
	}
	n := len(hosts)
	var err error
	if len(globs) > 0 {
		if hosts, err = inventory.Filter(hosts, globs...); err != nil {
			return nil, usageError("-g: %v", err)
		}
	}
	if len(limit) > 0 || len(exclude) > 0 {
		if len(limit) > 0 {
			limit = []string{strings.Join(limit, ":")}
		}
		if hosts, err = inventory.Select(hosts, limit, exclude); err != nil {
			return nil, &statusError{status: exitUsage, err: err,
				hint: "--limit and --exclude name groups ([group] sections of host files, Ansible inventories), hosts or globs; fleet hosts shows what they select"}
		}
	}
	if len(hosts) == 0 && n > 0 {
		return nil, &statusError{status: exitUsage, err: fmt.Errorf("-g, --limit and --exclude left none of the %d hosts", n),
			hint: "fleet hosts with the same options lists what they select"}
	}
	return hosts, nil
}
