package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

// copyDryRunFlag is copy's --dry-run. Telling "would send" from "unchanged"
// takes each destination's checksum, so unlike run's it connects.
func copyDryRunFlag() cli.Flag {
	return &cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Category: catRun,
		Usage: "change nothing: connect and compare each destination's SHA-256, mode and owner, and say what would be sent, " +
			"fixed or is unchanged (the host's log in the run record lists every file)"}
}

// copyPlan is the state of one host's dry run.
type copyPlan struct {
	send, fix, same, mkdir, links int
	bytes                         int64
	log                           *record.HostLog
}

// note says in the host's log what copy would do at dst.
func (p *copyPlan) note(what, dst, state string) {
	if p.log != nil {
		p.log.Note(fmt.Sprintf("dry run: %s %s: %s", what, dst, state))
	}
}

// detail is the one-line summary shown after the host's status.
func (p *copyPlan) detail() string {
	var parts []string
	if p.send > 0 {
		parts = append(parts, fmt.Sprintf("%d to send (%s)", p.send, formatSize(p.bytes)))
	}
	if p.fix > 0 {
		parts = append(parts, fmt.Sprintf("%d to fix mode or owner", p.fix))
	}
	if p.mkdir > 0 {
		parts = append(parts, fmt.Sprintf("%d folders to create", p.mkdir))
	}
	if p.links > 0 {
		parts = append(parts, fmt.Sprintf("%d links not compared", p.links))
	}
	parts = append(parts, fmt.Sprintf("%d unchanged", p.same))
	return "dry run: " + strings.Join(parts, ", ")
}

// planCopy is fleet.CopyTree as a dry run: CopyTree walks the sources and,
// in place of writing, each destination is probed and the host's log told
// what CopyTree would do there.
func planCopy(ctx context.Context, c *fleet.Conn, o *copyOptions, put fleet.PutOptions, log *record.HostLog) (*copyPlan, error) {
	p := &copyPlan{log: log}
	_, err := c.CopyTree(ctx, o.sources, o.remote, fleet.CopyOptions{Put: put, DryRun: func(it *fleet.CopyItem, dst string) error {
		if it.Dir || it.File != nil {
			cur, err := c.Probe(ctx, dst, put.Sudo, put.SudoPassword)
			if err != nil {
				return err
			}
			if it.Dir {
				return p.folder(cur, dst)
			}
			return p.file(cur, it.File, dst, put)
		}
		// Probe follows links, so their target text is not compared
		// here; say so rather than guess.
		p.links++
		p.note("link", dst, "would point to "+it.Target+" (not compared in a dry run)")
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// folder counts a folder that copy would create, and refuses a file in its
// place, as MkdirAll would.
func (p *copyPlan) folder(cur *fleet.RemoteFile, dst string) error {
	switch {
	case !cur.Exists:
		p.mkdir++
		p.note("folder", dst, "would be created")
	case !cur.Dir:
		return fmt.Errorf("dry run: %s exists and is not a folder", dst)
	default:
		p.note("folder", dst, "exists")
	}
	return nil
}

// file compares one destination cur with its source as Put does: same
// content, mode and owner is unchanged; same content otherwise is fixed in
// place; anything else is sent.
func (p *copyPlan) file(cur *fleet.RemoteFile, src *fleet.LocalFile, dst string, put fleet.PutOptions) error {
	if cur.Dir {
		return fmt.Errorf("dry run: %s is a folder", dst)
	}
	mode := cmp.Or(put.Mode, src.Mode)
	switch {
	case !cur.Exists || cur.SHA256 != src.SHA256:
		p.send++
		p.bytes += src.Size
		what := "would be sent"
		if cur.Exists {
			what = "differs (sha256 " + short(cur.SHA256) + ", local " + short(src.SHA256) + "): would be sent"
		}
		p.note("file", dst, what)
	case cur.Mode != mode || put.Owner != "" && put.Owner != cur.Owner || put.Group != "" && put.Group != cur.Group:
		p.fix++
		p.note("file", dst, fmt.Sprintf("same content; mode or owner would be set (%04o %s:%s now)", cur.Mode, cur.Owner, cur.Group))
	default:
		p.same++
		p.note("file", dst, "unchanged")
	}
	return nil
}

// short is the start of a checksum, enough to tell two apart in a note.
func short(sum string) string {
	return sum[:min(len(sum), 12)]
}
