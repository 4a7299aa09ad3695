package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// hoistFlags moves options written after a command's argument in front of
// it: `fleet provision docker --var k=v --dry-run` reads as the issue and
// Ansible users write it, while urfave/cli stops at the first argument. It
// is only for commands whose arguments are not commands to run (run keeps
// pssh's rule: everything after the command is the command's).
func hoistFlags(args []string, flags []cli.Flag) []string {
	takesValue := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
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
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(args) {
			i++
			opts = append(opts, args[i])
		}
	}
	return append(opts, rest...)
}
