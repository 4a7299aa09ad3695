package main

import (
	"context"
	"fmt"
	"path"
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

// planCopy is fleet.CopyTree without writing: it probes every destination as CopyTree
// would reach it and notes in the host's log what CopyTree would do there.
func planCopy(ctx context.Context, c *fleet.Conn, o *copyOptions, put fleet.PutOptions, log *record.HostLog) (*copyPlan, error) {
	p := &copyPlan{}
	note := func(what, dst, state string) {
		if log != nil {
			log.Note(fmt.Sprintf("dry run: %s %s: %s", what, dst, state))
		}
	}
	into := len(o.sources) > 1 || strings.HasSuffix(o.remote, "/")
	remote := path.Clean(o.remote)
	cur, err := c.Probe(ctx, remote, put.Sudo, put.SudoPassword)
	if err != nil {
		return nil, err
	}
	if into {
		if err := p.folder(cur, remote, note); err != nil {
			return nil, err
		}
	} else {
		into = cur.Dir
	}
	for _, src := range o.sources {
		dst := remote
		if into {
			dst = path.Join(remote, src.Name)
		}
		if src.File != nil {
			if err := p.file(ctx, c, src.File, dst, put, note); err != nil {
				return nil, err
			}
			continue
		}
		cur, err := c.Probe(ctx, dst, put.Sudo, put.SudoPassword)
		if err != nil {
			return nil, err
		}
		if err := p.folder(cur, dst, note); err != nil {
			return nil, err
		}
		for _, it := range src.Items {
			q := path.Join(dst, it.Rel)
			var err error
			switch {
			case it.Dir:
				var cur *fleet.RemoteFile
				if cur, err = c.Probe(ctx, q, put.Sudo, put.SudoPassword); err != nil {
					return nil, err
				}
				err = p.folder(cur, q, note)
			case it.File != nil:
				err = p.file(ctx, c, it.File, q, put, note)
			default:
				// Probe follows links, so their target text is not
				// compared here; say so rather than guess.
				p.links++
				note("link", q, "would point to "+it.Target+" (not compared in a dry run)")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// folder counts a folder that copy would create, and refuses a file in its
// place, as MkdirAll would.
func (p *copyPlan) folder(cur *fleet.RemoteFile, dst string, note func(what, dst, state string)) error {
	switch {
	case !cur.Exists:
		p.mkdir++
		note("folder", dst, "would be created")
	case !cur.Dir:
		return fmt.Errorf("dry run: %s exists and is not a folder", dst)
	default:
		note("folder", dst, "exists")
	}
	return nil
}

// file compares one destination with its source as Put does: same content,
// mode and owner is unchanged; same content otherwise is fixed in place;
// anything else is sent.
func (p *copyPlan) file(ctx context.Context, c *fleet.Conn, src *fleet.LocalFile, dst string, put fleet.PutOptions,
	note func(what, dst, state string)) error {
	cur, err := c.Probe(ctx, dst, put.Sudo, put.SudoPassword)
	if err != nil {
		return err
	}
	if cur.Dir {
		return fmt.Errorf("dry run: %s is a folder", dst)
	}
	mode := put.Mode
	if mode == 0 {
		mode = src.Mode
	}
	switch {
	case !cur.Exists || cur.SHA256 != src.SHA256:
		p.send++
		p.bytes += src.Size
		what := "would be sent"
		if cur.Exists {
			what = "differs (sha256 " + short(cur.SHA256) + ", local " + short(src.SHA256) + "): would be sent"
		}
		note("file", dst, what)
	case cur.Mode != mode || put.Owner != "" && put.Owner != cur.Owner || put.Group != "" && put.Group != cur.Group:
		p.fix++
		note("file", dst, fmt.Sprintf("same content; mode or owner would be set (%04o %s:%s now)", cur.Mode, cur.Owner, cur.Group))
	default:
		p.same++
		note("file", dst, "unchanged")
	}
	return nil
}

// short is the start of a checksum, enough to tell two apart in a note.
func short(sum string) string {
	return sum[:min(len(sum), 12)]
}
