package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

const logsDescription = `Prints the log of HOST in a run (the latest unless --run): every line of its
output, timestamped, tagged out or err, with fleet's own notes (start, each
recipe step, the end) tagged ---. With -f it follows the log while the run
goes and returns when that host is done. With --failed it prints the logs of
every host that did not succeed, each under a header. With no HOST it lists
the run's hosts and how they ended.

HOST is the host's label as fleet printed it, its [user@]host[:port], or any
part of it that only one host of the run has.

The log keeps the hosts' bytes as they came. On a terminal, control
characters and escape sequences in them are shown as ^[, ^G, ^M (see
--escapes), so a host cannot set your clipboard or clear your screen; piped
or redirected, the log is printed as it is.

EXAMPLES
   fleet logs node01
   fleet logs -f node01                  (while fleet provision runs in another terminal)
   fleet logs --run -1 --failed
   fleet logs --run 20261127-1401
   fleet logs --json node01 | jq -r 'select(.stream == "stderr") | .text'`

func logsCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:        "logs",
		Usage:       "print a host's log from a run, live with -f",
		UsageText:   "fleet logs [--run RUN] [-f] HOST | fleet logs [--run RUN] --failed | fleet logs [--run RUN]",
		Description: logsDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "run", Usage: "the `RUN`: an id, a prefix of one, latest, or -N", Value: "latest"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow the log until the host is done"},
			&cli.BoolFlag{Name: "failed", Usage: "print the logs of every host that did not succeed"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object a line: each log line as {host, time, stream, text}; " +
				"with no HOST, each host's result as run.json has it"},
			escapesFlag(),
		},
		Action: func(c *cli.Context) error {
			mode, err := readEscapes(c)
			if err != nil {
				return err
			}
			r, err := findRun(c.String("run"))
			if err != nil {
				return err
			}
			switch {
			case c.Bool("failed") && c.NArg() > 0:
				return usageError("--failed prints every failed host: give no HOST")
			case c.NArg() > 1:
				return usageError("name one host")
			case c.Bool("json"):
				return logsJSON(c, env.stdout, r)
			}
			// Every path prints the hosts' text: their output, or the
			// reasons they failed with.
			stdout, flush := cleanOnTerminal(env.stdout, mode)
			defer flush()
			switch {
			case c.Bool("failed"):
				return printFailedLogs(stdout, r)
			case c.NArg() == 0:
				return listHosts(stdout, r)
			}
			i, err := r.HostIndex(c.Args().First())
			if err != nil {
				return &statusError{status: exitError, err: err}
			}
			if c.Bool("follow") {
				return followLog(c.Context, stdout, r, i)
			}
			return copyLog(stdout, r.LogPath(i))
		},
	}
}

// logsJSON is fleet logs --json, its arguments checked: the same choices as
// without it, as JSON lines (escaped, so they need no cleaning on a terminal).
func logsJSON(c *cli.Context, stdout io.Writer, r *record.Run) error {
	switch {
	case c.Bool("failed"):
		for i, h := range r.Info.Hosts {
			if h.Outcome == fleet.OK {
				continue
			}
			if _, err := os.Stat(r.LogPath(i)); errors.Is(err, fs.ErrNotExist) {
				continue // never started: its result says so, in the listing
			}
			w := newJSONLogWriter(stdout, h.Host)
			if err := copyLog(w, r.LogPath(i)); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
		return nil
	case c.NArg() == 0:
		enc := newJSONEncoder(stdout)
		for _, h := range r.Info.Hosts {
			if err := enc.Encode(h); err != nil {
				return err
			}
		}
		return nil
	}
	i, err := r.HostIndex(c.Args().First())
	if err != nil {
		return &statusError{status: exitError, err: err}
	}
	w := newJSONLogWriter(stdout, r.Info.Hosts[i].Host)
	if c.Bool("follow") {
		err = followLog(c.Context, w, r, i)
	} else {
		err = copyLog(w, r.LogPath(i))
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyLog prints a log file; a host that left no log yet says so.
func copyLog(w io.Writer, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &statusError{status: exitError, err: fmt.Errorf("no log yet at %s", path),
			hint: "the host has not started or printed anything yet; use -f to wait for it"}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func printFailedLogs(w io.Writer, r *record.Run) error {
	n := 0
	for i, h := range r.Info.Hosts {
		if h.Outcome == fleet.OK {
			continue
		}
		n++
		fmt.Fprintf(w, "==== %s: %s\n", h.Host, cmp.Or(h.Error, h.Outcome.String()))
		if err := copyLog(w, r.LogPath(i)); err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
		}
	}
	if n == 0 {
		fmt.Fprintf(w, "every host of run %s succeeded\n", r.Info.ID)
	}
	return nil
}

// followPoll is how often -f looks for more of the log.
const followPoll = 200 * time.Millisecond

// followLog prints the log as it grows and returns once the host's end note
// is written, or the run is over (it ended, or its process died).
func followLog(ctx context.Context, w io.Writer, r *record.Run, i int) error {
	path := r.LogPath(i)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var partial []byte
	over := false
	buf := make([]byte, 32*1024)
	for {
		if f == nil {
			if opened, err := os.Open(path); err == nil {
				f = opened
			}
		}
		if f != nil {
			for {
				n, err := f.Read(buf)
				if n > 0 {
					data := append(partial, buf[:n]...)
					cut := bytes.LastIndexByte(data, '\n') + 1
					if _, werr := w.Write(data[:cut]); werr != nil {
						return werr
					}
					if hostEnded(data[:cut]) {
						return nil
					}
					partial = append([]byte(nil), data[cut:]...)
				}
				if err != nil {
					break
				}
			}
		}
		if over {
			if f == nil {
				return copyLog(w, path) // the run is over: print what it left
			}
			return nil
		}
		// One more pass after the run ends, so that nothing written between
		// the last read and the end is lost.
		if again, err := record.Load(r.Dir); err != nil || again.State() != "live" {
			over = true
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}

// hostEnded reports whether log lines hold the host's end note.
func hostEnded(lines []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(lines))
	for sc.Scan() {
		if record.IsEndNote(sc.Bytes()) {
			return true
		}
	}
	return false
}
