package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
)

// screenOptions decides how a run meets the terminal, from what stdout and
// stderr are:
//
//   - The progress line is drawn on stderr when stderr is a terminal that
//     can take it (TERM is not "dumb") and stdout is not a pipe: what reads
//     a pipe (grep, jq) most often prints on the same screen, and its lines
//     would run into the bar.
//   - The run's text (stdout, or stderr under --json) takes the terminal's
//     form (the bar, then the results with failures last; -i blocks as the
//     hosts finish) when it goes to a terminal and the bar is drawn, and
//     pssh's stream of status lines otherwise: `fleet run ... | grep` gets
//     the status lines although stderr is a terminal.
//   - Colours need the text to go to a terminal, TERM not "dumb" and
//     NO_COLOR unset (https://no-color.org).
func screenOptions(stdout, stderr io.Writer, json bool, escapes ui.Escapes) ui.Options {
	dumb := os.Getenv("TERM") == "dumb"
	errTTY, outTTY := isTerminal(stderr), isTerminal(stdout)
	bar := errTTY && !dumb && !isPipe(stdout)
	textTTY := outTTY
	if json {
		textTTY = errTTY
	}
	return ui.Options{
		Stdout: stdout, Stderr: stderr,
		Terminal: bar && textTTY, Bar: bar, Width: terminalWidth(stderr),
		Color:         textTTY && !dumb && os.Getenv("NO_COLOR") == "",
		StdoutEscapes: ui.OnTerminal(outTTY, escapes),
		StderrEscapes: ui.OnTerminal(errTTY, escapes),
	}
}

// isPipe reports whether w is a pipe or a socket.
func isPipe(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0
}

// terminalWidth asks the terminal w for its width at each call, so that
// the progress line follows resizes; nil when w is no file.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	return func() int {
		cols, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0
		}
		return cols
	}
}

// noticeWriter sends the dialer's warnings, whole lines, above the
// progress line once the printer draws it; before, to stderr as they are.
type noticeWriter struct {
	j *job
	w io.Writer
}

func (n *noticeWriter) Write(b []byte) (int, error) {
	if p := n.j.printer; p != nil {
		for _, line := range strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") {
			p.Notice(ui.CleanString(strings.TrimSuffix(line, "\n"), n.j.screen.StderrEscapes))
		}
		return len(b), nil
	}
	return n.w.Write(b)
}

// hostKeyLines says, once per file, how many host keys the run recorded,
// as ssh's "Permanently added" does per host: "fleet: recorded 3 new host
// keys in ~/.ssh/known_hosts".
func hostKeyLines(recorded map[string]int) []string {
	home, _ := os.UserHomeDir()
	var lines []string
	for _, f := range slices.Sorted(maps.Keys(recorded)) {
		shown := f
		if rel, err := filepath.Rel(home, f); home != "" && err == nil && !strings.HasPrefix(rel, "..") {
			shown = filepath.Join("~", rel)
		}
		noun := "keys"
		if recorded[f] == 1 {
			noun = "key"
		}
		lines = append(lines, fmt.Sprintf("fleet: recorded %d new host %s in %s", recorded[f], noun, shown))
	}
	return lines
}

// reportHostKeys prints hostKeyLines for the dialer once every host is
// done, through the printer: above the progress line, and without waiting
// for a reader that does not read.
func (j *job) reportHostKeys(d *fleet.Dialer) {
	for _, line := range hostKeyLines(d.RecordedHostKeys()) {
		j.printer.Notice(ui.CleanString(line, j.screen.StderrEscapes))
	}
}
