package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
)

// escapesFlag is --escapes, shared by every command that prints the hosts'
// text: their output, their failure reasons, their logs.
func escapesFlag() cli.Flag {
	return &cli.StringFlag{Name: "escapes", Category: catOutput, Value: "replace", EnvVars: []string{"FLEET_ESCAPES"},
		Usage: "on a terminal, show control characters in the hosts' output and messages as `MODE`: " +
			"replace (^[ ^G ^M), color (keep colour codes, replace the rest) or raw (as sent); " +
			"pipes and files always get the bytes as sent"}
}

// readEscapes reads --escapes.
func readEscapes(c *cli.Context) (ui.Escapes, error) {
	mode, err := ui.ParseEscapes(c.String("escapes"))
	if err != nil {
		return ui.Raw, usageError("--escapes: %v", err)
	}
	return mode, nil
}

// cleanOnTerminal returns w as it is when w is not a terminal or mode is
// Raw, and else w behind a CleanWriter; flush must be called when the
// output ends (it writes a CR or a partial character held back).
func cleanOnTerminal(w io.Writer, mode ui.Escapes) (out io.Writer, flush func()) {
	mode = ui.OnTerminal(isTerminal(w), mode)
	if mode == ui.Raw {
		return w, func() {}
	}
	cw := ui.NewCleanWriter(w, mode)
	return cw, func() { _ = cw.Flush() }
}

// cleanLines returns a function that writes a line to w, cleaned as
// cleanOnTerminal does when w is a terminal; lines written from several
// goroutines at once stay whole.
func cleanLines(w io.Writer, mode ui.Escapes) func(string) {
	mode = ui.OnTerminal(isTerminal(w), mode)
	var mu sync.Mutex
	return func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, ui.CleanString(line, mode))
	}
}
