package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/fleet/record"
	"github.com/fleet-sh/fleet/recipes"
)

// Shell completion: `fleet completion bash|zsh|fish` prints a small script
// that asks `fleet __complete -- WORDS...` for the candidates of the word
// being typed. The candidates come from the command definitions themselves
// (commands, subcommands, flags) and from the state: recipe names, run IDs,
// the host labels of a run. __complete only reads: it never runs a command,
// whatever the words are.

const completionDescription = `Prints a script that completes fleet's commands, flags, recipe names, run IDs
(rerun, runs show, logs --run) and the host labels of a run (logs) in SHELL,
bash, zsh or fish. make install puts them where each shell looks; by hand:

   bash   source <(fleet completion bash)                 (in ~/.bashrc)
   zsh    fleet completion zsh > "${fpath[1]}/_fleet"
   fish   fleet completion fish > ~/.config/fish/completions/fleet.fish`

func completionCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:        "completion",
		Usage:       "print the shell completion script for bash, zsh or fish",
		UsageText:   "fleet completion bash|zsh|fish",
		Description: completionDescription,
		Action: func(c *cli.Context) error {
			script, ok := completionScripts[c.Args().First()]
			if c.NArg() != 1 || !ok {
				return usageError("name the shell: bash, zsh or fish")
			}
			_, err := io.WriteString(env.stdout, script)
			return err
		},
	}
}

// completeCommand is the hidden `fleet __complete -- WORDS...`: the words
// after "fleet", the last one being the word under the cursor (maybe
// empty); it prints one candidate a line.
func completeCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:            "__complete",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			words := c.Args().Slice()
			if len(words) > 0 && words[0] == "--" {
				words = words[1:]
			}
			for _, s := range complete(c.App, words) {
				fmt.Fprintln(env.stdout, s)
			}
			return nil
		},
	}
}

// complete returns the candidates for the last of words.
func complete(app *cli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, done := words[len(words)-1], words[:len(words)-1]
	var cmd *cli.Command
	var path, args []string
	flags := app.VisibleFlags()
	values := map[string]string{} // flag name: its value, as typed
	for i := 0; i < len(done); i++ {
		w := done[i]
		switch {
		case w == "--":
			args = append(args, done[i+1:]...)
			i = len(done)
		case len(w) > 1 && w[0] == '-':
			f, inline := flagOf(flags, w)
			if f != nil && takesValue(f) && !inline {
				if i+1 < len(done) {
					values[f.Names()[0]] = done[i+1]
				}
				i++
			}
		case len(args) == 0 && findCommand(subcommands(app, cmd), w) != nil:
			cmd = findCommand(subcommands(app, cmd), w)
			path = append(path, cmd.Name)
			flags = cmd.VisibleFlags()
		default:
			args = append(args, w)
		}
	}
	// The word after a flag that takes a value is that value.
	if len(done) > 0 && strings.HasPrefix(done[len(done)-1], "-") && !strings.HasPrefix(cur, "-") {
		if f, inline := flagOf(flags, done[len(done)-1]); f != nil && takesValue(f) && !inline {
			return withPrefix(flagValues(f.Names()[0]), cur)
		}
	}
	if strings.HasPrefix(cur, "-") {
		var out []string
		for _, f := range flags {
			for _, n := range f.Names() {
				out = append(out, dashed(n))
			}
		}
		return withPrefix(out, cur)
	}
	if cmd == nil || len(cmd.Subcommands) > 0 && len(args) == 0 {
		return withPrefix(append(commandNames(subcommands(app, cmd)), positional(app, path, args, values)...), cur)
	}
	return withPrefix(positional(app, path, args, values), cur)
}

// positional is what the next argument of the command at path can be.
func positional(app *cli.App, path, args []string, values map[string]string) []string {
	switch strings.Join(path, " ") {
	case "provision":
		return recipeNames()
	case "recipes show":
		if len(args) == 0 {
			return recipeNames()
		}
	case "rerun", "runs show":
		if len(args) == 0 {
			return runIDs()
		}
	case "logs":
		return hostLabels(cmp.Or(values["run"], "latest"))
	case "completion":
		if len(args) == 0 {
			return []string{"bash", "fish", "zsh"}
		}
	case "help":
		if len(args) == 0 {
			return commandNames(app.Commands)
		}
		if c := findCommand(app.Commands, args[0]); c != nil && len(args) == 1 {
			return commandNames(c.Subcommands)
		}
	}
	return nil
}

// flagValues is what a flag's value can be, when fleet knows.
func flagValues(flag string) []string {
	switch flag {
	case "run":
		return runIDs()
	case "escapes":
		return []string{"replace", "color", "raw"}
	}
	return nil // a file, a number...: the shell's own completion
}

// flagOf finds the flag a word names: --name, --name=value, -n, or -abn
// (short options run together: the last one may take the value).
func flagOf(flags []cli.Flag, w string) (f cli.Flag, inline bool) {
	name := strings.TrimLeft(w, "-")
	name, _, inline = strings.Cut(name, "=")
	if !strings.HasPrefix(w, "--") && len(name) > 1 && !inline {
		name = name[len(name)-1:] // -ih: -h takes the next word
	}
	if i := slices.IndexFunc(flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) }); i >= 0 {
		return flags[i], inline
	}
	return nil, inline
}

func takesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// subcommands are the commands that can follow parent (nil: fleet).
func subcommands(app *cli.App, parent *cli.Command) []*cli.Command {
	if parent != nil {
		return parent.Subcommands
	}
	return app.Commands
}

// dashed is a flag's name as typed: -n or --name.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	return out
}

// withPrefix keeps the candidates that start with prefix, in cands itself
// (every caller's slice is its own).
func withPrefix(cands []string, prefix string) []string {
	return slices.DeleteFunc(cands, func(c string) bool { return !strings.HasPrefix(c, prefix) })
}

func recipeNames() []string {
	all, err := recipes.Builtins()
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range all {
		out = append(out, r.Name)
	}
	return out
}

// runIDs are the recorded runs, newest first, after "latest".
func runIDs() []string {
	dir, err := record.StateDir()
	if err != nil {
		return nil
	}
	runs, _ := record.List(dir)
	out := []string{"latest"}
	for _, r := range runs {
		out = append(out, r.Info.ID)
	}
	return out
}

// hostLabels are the labels of the hosts of the run ref names.
func hostLabels(ref string) []string {
	dir, err := record.StateDir()
	if err != nil {
		return nil
	}
	r, err := record.Find(dir, ref)
	if err != nil {
		return nil
	}
	var out []string
	for _, h := range r.Info.Hosts {
		out = append(out, h.Host)
	}
	return out
}

// completionScripts hand each shell's completion to fleet __complete. With
// no candidate, bash and zsh fall back to file names (a host file, a
// recipe file, a local path), fish too.
var completionScripts = map[string]string{
	"bash": `# bash completion for fleet (fleet completion bash)
_fleet() {
    local IFS=$'\n'
    local cur="${COMP_WORDS[COMP_CWORD]}"
    COMPREPLY=($(compgen -W "$(command fleet __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "$cur"))
}
complete -o default -o bashdefault -F _fleet fleet
`,
	"zsh": `#compdef fleet
# zsh completion for fleet (fleet completion zsh)
_fleet() {
    local -a cands
    cands=("${(@f)$(command fleet __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if [[ -n "${cands[1]}" ]]; then
        compadd -a cands
    else
        _files
    fi
}
if [[ "${funcstack[1]}" == "_fleet" ]]; then
    _fleet "$@"
else
    compdef _fleet fleet
fi
`,
	"fish": `# fish completion for fleet (fleet completion fish)
function __fleet_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l cands (command fleet __complete -- $words (commandline -ct) 2>/dev/null)
    if test (count $cands) -eq 0
        __fish_complete_path (commandline -ct)
    else
        printf '%s\n' $cands
    end
end
complete -c fleet -f -a '(__fleet_complete)'
`,
}
