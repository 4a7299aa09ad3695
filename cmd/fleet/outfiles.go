package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
)

// outDirs are pssh's -o and -e folders: each host's stdout and stderr in a
// file named by its label, for run, copy and slurp alike (pscp and pslurp
// write scp's output there).
type outDirs struct {
	out, err string
	// opened are the labels whose files this run has created or
	// emptied already (run opens them as a host starts); finish empties
	// the others', so that no file keeps an earlier run's text. Set by
	// make; the hosts add to it at once.
	opened *sync.Map
}

// make creates the folders that are set.
func (d *outDirs) make() error {
	d.opened = &sync.Map{}
	for _, dir := range []string{d.out, d.err} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("output folder: %w", err)
			}
		}
	}
	return nil
}

// hostFiles are one host's -o/-e files.
type hostFiles struct{ out, err *os.File }

// open creates (or empties) the host's files.
func (d outDirs) open(label string) (*hostFiles, error) {
	f := &hostFiles{}
	var err error
	d.opened.Store(label, true)
	if d.out != "" {
		if f.out, err = os.Create(filepath.Join(d.out, label)); err != nil {
			return nil, err
		}
	}
	if d.err != "" {
		if f.err, err = os.Create(filepath.Join(d.err, label)); err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (f *hostFiles) close() {
	for _, file := range []*os.File{f.out, f.err} {
		if file != nil {
			file.Close()
		}
	}
}

// finish runs once a host has its result. Every host that was started has
// both files, as in pssh, also one that was never reached; and the -e file
// ends with why the host failed when it was not the command's own doing (no
// connection, a transfer refused), where pssh's file holds ssh's or scp's
// message.
func (d outDirs) finish(r *fleet.Result) {
	if r.Outcome == fleet.NotStarted || (d.out == "" && d.err == "") {
		return
	}
	// A host whose files this run did not open (copy and slurp write
	// only here; a host not reached never started its command) gets
	// them emptied, as pssh opens them for every host it starts.
	how := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if _, seen := d.opened.LoadOrStore(r.Host.Label, true); !seen {
		how = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	appendTo := func(dir, text string) {
		if dir == "" {
			return
		}
		f, err := os.OpenFile(filepath.Join(dir, r.Host.Label), how, 0o644)
		if err != nil {
			return // the host's result says what happened; the file is a copy
		}
		defer f.Close()
		if text != "" {
			fmt.Fprintln(f, text)
		}
	}
	appendTo(d.out, "")
	reason := ""
	if r.Err != nil && (r.Outcome == fleet.Unreachable || (r.Outcome == fleet.Failed && r.ExitCode < 0)) {
		reason = "fleet: " + r.Reason()
	}
	appendTo(d.err, reason)
}

// outDirFlags are -o and -e, for run, copy and slurp.
func outDirFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "outdir", Aliases: []string{"o"}, Category: catOutput, EnvVars: []string{"PSSH_OUTDIR"},
			Usage: "write each host's stdout to `DIR`/<host>, all of it (no --max-output or --max-log there)"},
		&cli.StringFlag{Name: "errdir", Aliases: []string{"e"}, Category: catOutput, EnvVars: []string{"PSSH_ERRDIR"},
			Usage: "write each host's stderr to `DIR`/<host>, all of it, and why the host failed when it was not reached or a transfer failed"},
	}
}

// readOutDirs reads -o and -e.
func readOutDirs(c *cli.Context) outDirs {
	return outDirs{out: c.String("outdir"), err: c.String("errdir")}
}
