package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// errHelpShown ends a command line that asked for help (fleet -h): Main
// exits 0 without a message.
var errHelpShown = errors.New("help shown")

// helpCommand is `fleet help [COMMAND [SUBCOMMAND]]`, as git and go have it.
// urfave/cli's own help command is hidden (HideHelpCommand) because its
// "No help topic" is an exit status 3 with no suggestion.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of fleet or of one command",
		UsageText: "fleet help [COMMAND [SUBCOMMAND]]",
		Action: func(c *cli.Context) error {
			return showHelp(c, c.Args().Slice())
		},
	}
}

// showHelp prints the help of the command that path names (none: fleet's).
func showHelp(c *cli.Context, path []string) error {
	if len(path) == 0 {
		return cli.ShowAppHelp(c)
	}
	cmds, parent := c.App.Commands, c.App.HelpName
	var cmd *cli.Command
	for _, name := range path {
		cmd = findCommand(cmds, name)
		if cmd == nil {
			return unknownCommand(strings.TrimPrefix(parent+" ", c.App.HelpName+" "), name, cmds)
		}
		if cmd.HelpName == "" {
			cmd.HelpName = parent + " " + cmd.Name
		}
		parent, cmds = cmd.HelpName, cmd.Subcommands
	}
	templ := cli.CommandHelpTemplate
	if len(cmd.Subcommands) > 0 {
		templ = cli.SubcommandHelpTemplate
	}
	cli.HelpPrinter(c.App.Writer, templ, cmd)
	return nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) && !c.Hidden {
			return c
		}
	}
	return nil
}

// unknownCommand is the usage error for a command name that is not one,
// with the nearest name when one is near: "did you mean run?".
func unknownCommand(parent, name string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	what := strings.TrimSpace("fleet " + parent)
	hint := fmt.Sprintf("'%s' lists the commands", strings.Replace(what, "fleet", "fleet help", 1))
	if s := nearest(name, names); s != "" {
		hint = "did you mean " + what + " " + s + "?"
	}
	return &statusError{status: exitUsage, err: fmt.Errorf("%q is not a command of %s", name, what), hint: hint}
}

// nearest is the first candidate closest to s when it is close enough to
// be what was meant: at most two edits (a letter added, dropped, changed or
// two swapped), fewer than s has letters. urfave/cli's own suggestion
// offers the closest whatever the distance.
func nearest(s string, candidates []string) string {
	best, dist := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < dist && d < len(s) {
			best, dist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

var undefinedFlag = regexp.MustCompile(`flag provided but not defined: -+(\S+)`)

// flagSuggestion is the hint for a mistyped flag: the nearest flag of the
// command.
func flagSuggestion(err error, flags []cli.Flag) string {
	m := undefinedFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	if s := nearest(m[1], names); s != "" {
		return "did you mean " + dashed(s) + "?"
	}
	return ""
}

// setUsageErrors makes every command's flag errors usage errors (exit 2)
// with a suggestion for a mistyped flag, and a word that is not one of a
// command's subcommands (fleet runs shw) the same usage error as a
// mistyped command: "did you mean fleet runs show?". parent is the path of
// the commands given, "" at the top.
func setUsageErrors(cmds []*cli.Command, parent string) {
	for _, cmd := range cmds {
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return &usageHint{err: err, hint: flagSuggestion(err, cmd.Flags)}
		}
		path := strings.TrimSpace(parent + " " + cmd.Name)
		if len(cmd.Subcommands) > 0 && cmd.Action != nil {
			// urfave/cli runs the parent's action with a word that names
			// no subcommand; these parents take no arguments of their own.
			action := cmd.Action
			cmd.Action = func(c *cli.Context) error {
				if c.NArg() > 0 {
					return unknownCommand(path, c.Args().First(), cmd.Subcommands)
				}
				return action(c)
			}
		}
		setUsageErrors(cmd.Subcommands, path)
	}
}

// usageHint is a flag error (exit status 2) with a hint for the user in
// place of the generic pointer to --help.
type usageHint struct {
	err  error
	hint string
}

func (e *usageHint) Error() string { return e.err.Error() }
func (e *usageHint) Unwrap() error { return e.err }

// rootAction runs when no command matched: fleet alone prints its help; a
// word that is not a command is a usage error.
func rootAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.ShowAppHelp(c)
	}
	return unknownCommand("", c.Args().First(), c.App.Commands)
}

// rootBefore honours fleet -h (help, as -h is only the hosts file inside
// run, copy and slurp): fleet -h, fleet -h run.
func rootBefore(c *cli.Context) error {
	if !c.Bool("h") {
		return nil
	}
	if err := showHelp(c, c.Args().Slice()[:min(c.NArg(), 1)]); err != nil {
		return err
	}
	return errHelpShown
}

// helpWidth is the width help is wrapped to: the terminal's, else 80.
func helpWidth(w io.Writer) int {
	if isTerminal(w) {
		if cols := terminalWidth(w)(); cols >= 40 {
			return cols
		}
	}
	return 80
}

// defaultFlagString is urfave/cli's own flag rendering, which flagString
// corrects.
var defaultFlagString = cli.FlagStringer

// flagString is cli.FlagStringer: urfave/cli's rendering, except that a
// flag that may be given several times shows its names once, not twice
// ("--host X, -H X [ --host X, -H X ]"), and its text says "repeatable".
func flagString(f cli.Flag) string {
	s := defaultFlagString(f)
	sf, ok := f.(cli.DocGenerationSliceFlag)
	if !ok || !sf.IsSliceFlag() {
		return s
	}
	names, text, ok := strings.Cut(s, "\t")
	if !ok {
		return s
	}
	if half := (len(names) - len(" [  ]")) / 2; half > 0 && names == names[:half]+" [ "+names[:half]+" ]" {
		names = names[:half]
	}
	if !strings.Contains(text, "repeatable") {
		text = strings.TrimSpace(text + "; repeatable")
	}
	return names + "\t" + text
}

// printHelp is cli.HelpPrinter: urfave/cli's rendering, wrapped to the
// width (its flag lines are never wrapped; its prose only at 10,000).
func printHelp(w io.Writer, templ string, data any) {
	var b bytes.Buffer
	cli.HelpPrinterCustom(&b, templ, data, nil)
	io.WriteString(w, wrapHelp(b.String(), helpWidth(w)))
}

// column splits a help line into its indent and, when it has one, its
// first column (a flag's names, a command, an example) ended by a gap of two
// spaces or more; the line's text follows.
var column = regexp.MustCompile(`^( *)(\S(?:\S| \S)*  +)?`)

// wrapHelp wraps the lines longer than width. Prose is refilled with the
// rest of its paragraph; a line with a first column (flags, commands, exit
// statuses) keeps its text in that column, or, when the column is past half
// the width, goes on below it. An example command (fleet ..., $ ...) is
// never broken, so that it can be pasted.
func wrapHelp(text string, width int) string {
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if len(line) <= width {
			out = append(out, line)
			continue
		}
		m := column.FindStringSubmatch(line)
		indent, first := m[1], strings.TrimRight(m[2], " ")
		rest := strings.Fields(line[len(m[0]):])
		switch {
		case isExample(line) && first == "":
			out = append(out, line)
		case first == "":
			for i+1 < len(lines) && isProse(lines[i+1], indent) {
				i++
				rest = append(rest, strings.Fields(lines[i])...)
			}
			out = append(out, fill(rest, indent, indent, width)...)
		case len(m[0]) <= width/2:
			out = append(out, fill(rest, m[0], strings.Repeat(" ", len(m[0])), width)...)
		default:
			if isExample(line) {
				out = append(out, indent+first)
			} else {
				out = append(out, fill(strings.Fields(first), indent, indent+"   ", width)...)
			}
			below := strings.Repeat(" ", len(indent)+6)
			out = append(out, fill(rest, below, below, width)...)
		}
	}
	return strings.Join(out, "\n")
}

// isExample tells a command line shown as an example: indented inside a
// description (NAME and USAGE lines, at 3, are not examples).
func isExample(line string) bool {
	t := strings.TrimLeft(line, " ")
	return len(line)-len(t) > 3 &&
		(strings.HasPrefix(t, "fleet ") || strings.HasPrefix(t, "$ ") || strings.HasPrefix(t, "pssh "))
}

// isProse tells whether line continues a paragraph indented by indent.
func isProse(line, indent string) bool {
	if !strings.HasPrefix(line, indent) || len(line) == len(indent) || line[len(indent)] == ' ' || isExample(line) {
		return false
	}
	return column.FindStringSubmatch(line)[2] == ""
}

// fill lays words out in lines of at most width (a longer word gets a line
// of its own), the first starting with lead, the others with pad.
func fill(words []string, lead, pad string, width int) []string {
	var out []string
	cur, empty := lead, true
	for _, w := range words {
		if !empty && len(cur)+1+len(w) > width {
			out = append(out, cur)
			cur, empty = pad, true
		}
		if !empty {
			cur += " "
		}
		cur += w
		empty = false
	}
	return append(out, cur)
}
