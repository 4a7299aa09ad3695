package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/urfave/cli/v2"
)

// manCommand is `fleet man`: fleet(1), made from the same command
// definitions as --help (names, usage, descriptions, flags, defaults,
// environment variables), written as Markdown and rendered to roff by
// go-md2man. make install writes it to $(PREFIX)/share/man/man1/fleet.1.
func manCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:      "man",
		Usage:     "print fleet's manual page (roff, for man -l - or $(PREFIX)/share/man/man1)",
		UsageText: "fleet man | man -l -",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("fleet man takes no argument")
			}
			_, err := env.stdout.Write(md2man.Render([]byte(manMarkdown(c.App))))
			return err
		},
	}
}

// manMarkdown is the manual page as Markdown.
func manMarkdown(app *cli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%% FLEET 1 \"\" \"fleet %s\"\n\n", app.Version)
	fmt.Fprintf(&b, "# NAME\n\nfleet - %s\n\n", mdEscape(app.Usage))
	b.WriteString("# SYNOPSIS\n\n**fleet** *COMMAND* \\[*options*\\] \\[*arguments*...\\]\n\n")
	b.WriteString("# DESCRIPTION\n\n")
	b.WriteString(mdText(app.Description, "#"))
	b.WriteString("# COMMANDS\n\n")
	manCommands(&b, app.Commands, "fleet")
	return b.String()
}

func manCommands(b *strings.Builder, cmds []*cli.Command, parent string) {
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" && parent != "fleet" { // urfave/cli's own, added to commands that ran
			continue
		}
		name := parent + " " + c.Name
		fmt.Fprintf(b, "### %s\n\n%s.\n\n", name, mdEscape(c.Usage))
		if c.UsageText != "" {
			fmt.Fprintf(b, "    %s\n\n", c.UsageText)
		}
		if c.Description != "" {
			b.WriteString(mdText(c.Description, ""))
		}
		if flags := c.VisibleFlags(); len(flags) > 0 {
			b.WriteString("**Options**\n\n")
			for _, f := range flags {
				manFlag(b, f)
			}
		}
		manCommands(b, c.Subcommands, name)
	}
}

// manFlag writes one flag as a definition: its names with the value's
// placeholder, then its usage, default and environment variables.
func manFlag(b *strings.Builder, f cli.Flag) {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return
	}
	placeholder, usage := unquoteUsage(d.GetUsage())
	if d.TakesValue() && placeholder == "" {
		placeholder = "VALUE"
	}
	var names []string
	for _, n := range f.Names() {
		s := "**" + mdEscape(dashed(n)) + "**"
		if d.TakesValue() {
			s += " *" + mdEscape(placeholder) + "*"
		}
		names = append(names, s)
	}
	text := mdEscape(usage)
	if def := d.GetDefaultText(); def != "" && def != "false" && def != `""` {
		text += " (default: " + mdEscape(def) + ")"
	}
	if envs := d.GetEnvVars(); len(envs) > 0 {
		text += " \\[$" + strings.Join(envs, ", $") + "\\]"
	}
	fmt.Fprintf(b, "%s\n: %s\n\n", strings.Join(names, ", "), text)
}

// unquoteUsage splits a flag's usage into its `PLACEHOLDER` and the text
// without the backquotes, as urfave/cli's help does.
func unquoteUsage(usage string) (string, string) {
	before, rest, ok := strings.Cut(usage, "`")
	name, after, ok2 := strings.Cut(rest, "`")
	if !ok || !ok2 {
		return "", usage
	}
	return name, before + name + after
}

var (
	heading = regexp.MustCompile(`^[A-Z][A-Z /]+$`)
	gap     = regexp.MustCompile(`\S {2,}\S`)
)

// mdText turns a help description into Markdown: an upper-case line alone
// is a heading (at level h, or in bold when h is ""), a paragraph of plain lines is prose, and one
// with an indented line, a column gap or an example command is kept as it
// is, in a code block.
func mdText(desc, h string) string {
	var b strings.Builder
	for _, block := range strings.Split(desc, "\n\n") {
		lines := strings.Split(strings.Trim(block, "\n"), "\n")
		if heading.MatchString(lines[0]) {
			if h == "" {
				fmt.Fprintf(&b, "**%s**\n\n", lines[0])
			} else {
				fmt.Fprintf(&b, "%s %s\n\n", h, lines[0])
			}
			lines = lines[1:]
		}
		if len(lines) == 0 {
			continue
		}
		indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
		prose := true
		for _, l := range lines {
			t := strings.TrimLeft(l, " ")
			if len(l)-len(t) != indent || gap.MatchString(t) || indent > 0 && isExample("    "+t) || strings.HasPrefix(t, "[") {
				prose = false
			}
		}
		if prose {
			for i, l := range lines {
				lines[i] = strings.TrimSpace(l)
			}
			b.WriteString(mdEscape(strings.Join(lines, " ")) + "\n\n")
			continue
		}
		for _, l := range lines {
			if len(l) >= indent {
				l = l[indent:]
			}
			b.WriteString("    " + l + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// mdEscape keeps Markdown from reading prose as markup.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>#|", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
