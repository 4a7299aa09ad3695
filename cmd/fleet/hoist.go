package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// normaliseArgs is the one pass over a command line before urfave/cli sees
// it: provision's options written after its recipe are hoisted in front of
// it, and short options written with their value attached, as Python's
// optparse takes them and pssh users write them (-t0, -p4, -lroot, -hFILE,
// -ofoo, -ih kube), are split, since urfave/cli v2 does not split them.
func normaliseArgs(args []string) []string {
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range newApp(nil, nil, nil, nil).Commands {
		if c.Name == args[1] {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	rest := args[2:]
	if cmd.Name == "provision" {
		rest = hoistFlags(rest, cmd.Flags)
	}
	return append(args[:2:2], splitAttached(rest, cmd.Flags)...)
}

// flagKinds maps every name of flags (without dashes) to whether it takes
// a value.
func flagKinds(flags []cli.Flag) map[string]bool {
	takesValue := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	return takesValue
}

// splitAttached splits short options from an attached value: -t0 becomes
// -t 0, -ihFILE becomes -ih FILE. It stops at the first argument that is
// not an option (the command, for run) and at "--", and never looks inside
// an option's value (-x -q stays: -q is -x's value). A letter that is no
// option of the command leaves the word as it is, for the parser to refuse.
func splitAttached(args []string, flags []cli.Flag) []string {
	takesValue := flagKinds(flags)
	out := make([]string, 0, len(args)+2)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		// A long name written with one dash (-outdir DIR, -timeout=5) is
		// that option, as Go's flag package and urfave/cli read it, not
		// short options run together.
		if long, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "="); strings.HasPrefix(a, "--") || len(long) > 1 && hasName(takesValue, long) {
			out = append(out, a)
			if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		word, value, needsNext := splitShort(a, takesValue)
		out = append(out, word)
		switch {
		case value != "":
			out = append(out, value)
		case needsNext && i+1 < len(args):
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// hasName reports whether name is one of the flags' names.
func hasName(takesValue map[string]bool, name string) bool {
	_, ok := takesValue[name]
	return ok
}

// splitShort reads one word of short options: the options up to the first
// that takes a value, that value when attached, and whether the value is
// the next word instead.
func splitShort(a string, takesValue map[string]bool) (word, value string, needsNext bool) {
	for j := 1; j < len(a); j++ {
		v, known := takesValue[a[j:j+1]]
		if !known {
			return a, "", false
		}
		if v {
			if j+1 < len(a) {
				return a[:j+1], a[j+1:], false
			}
			return a, "", true
		}
	}
	return a, "", false
}

// hoistFlags moves options written after a command's argument in front of
// it: `fleet provision docker --var k=v --dry-run` reads as the issue and
// Ansible users write it, while urfave/cli stops at the first argument. It
// is only for commands whose arguments are not commands to run (run keeps
// pssh's rule: everything after the command is the command's).
func hoistFlags(args []string, flags []cli.Flag) []string {
	takesValue := flagKinds(flags)
	var opts, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || a == "-" || name == "" {
			rest = append(rest, a)
			continue
		}
		opts = append(opts, a)
		// The next word is the value of a long option that takes one, or
		// of the last of short options run together (-nh FILE).
		next := !strings.Contains(name, "=") && takesValue[name]
		if _, known := takesValue[name]; !known && !strings.HasPrefix(a, "--") {
			_, _, next = splitShort(a, takesValue)
		}
		if next && i+1 < len(args) {
			i++
			opts = append(opts, args[i])
		}
	}
	return append(opts, rest...)
}
