package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/recipes"
)

func recipesCommand(env *environment) *cli.Command {
	return &cli.Command{
		Name:      "recipes",
		Usage:     "list the built-in recipes, or show one",
		UsageText: "fleet recipes [--json] | fleet recipes show [--json] NAME",
		Description: `Lists the recipes built into fleet, a line each. "fleet recipes show NAME"
prints one whole, with its variables and their defaults: copy it to start a
recipe of your own (see docs/recipes.md), and apply that with
"fleet provision --recipe FILE".

In a recipe's commands, values never become command text: fleet parses each
command as shell and passes every value in an environment variable, so no
quote or $( ) in a value runs; a value in single quotes, a quoted
here-document, a comment or arithmetic (unless a plain number) is refused.
A variable declared {default: "", secret: true} is set with --secret-var
KEY=@FILE or KEY=env:NAME and shows as <secret> everywhere.`,
		Flags: []cli.Flag{recipesJSONFlag()},
		Action: func(c *cli.Context) error {
			all, err := recipes.Builtins()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := newJSONEncoder(env.stdout)
				for _, r := range all {
					if err := enc.Encode(recipeLine{Name: r.Name, Description: r.Description}); err != nil {
						return err
					}
				}
				return nil
			}
			w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
			for _, r := range all {
				fmt.Fprintf(w, "%s\t%s\n", r.Name, r.Description)
			}
			return w.Flush()
		},
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "print a built-in recipe and its variables",
			UsageText: "fleet recipes show [--json] NAME",
			Flags:     []cli.Flag{recipesJSONFlag()},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError("name one recipe (fleet recipes lists them)")
				}
				r, err := recipes.Builtin(c.Args().First())
				if err != nil {
					return &statusError{status: exitUsage, err: err}
				}
				src, err := recipes.BuiltinSource(r.Name)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return newJSONEncoder(env.stdout).Encode(recipeShown(r, src))
				}
				fmt.Fprintf(env.stdout, "# %s: %s\n", r.Name, r.Description)
				if len(r.Vars) > 0 {
					fmt.Fprintln(env.stdout, "# variables (set with --var KEY=VALUE):")
					for _, k := range slices.Sorted(maps.Keys(r.Vars)) {
						if r.IsSecret(k) {
							fmt.Fprintf(env.stdout, "#   %s (secret: set with --secret-var %s=@FILE)\n", k, k)
							continue
						}
						fmt.Fprintf(env.stdout, "#   %s = %q\n", k, r.Vars[k])
					}
				}
				_, err = env.stdout.Write(src)
				return err
			},
		}},
	}
}

func recipesJSONFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "one JSON object a line: {name, description} (show: with vars, secret and source)"}
}

// recipeLine is a recipe as fleet recipes --json prints it; show adds
// the variables' defaults (a secret's as <secret>), the names of the
// secret ones, and the recipe's YAML.
type recipeLine struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Vars        map[string]string `json:"vars,omitempty"`
	Secret      []string          `json:"secret,omitempty"`
	Source      string            `json:"source,omitempty"`
}

func recipeShown(r *recipes.Recipe, src []byte) recipeLine {
	l := recipeLine{Name: r.Name, Description: r.Description, Vars: recordedVars(r), Source: string(src)}
	for k := range r.Vars {
		if r.IsSecret(k) {
			l.Secret = append(l.Secret, k)
		}
	}
	slices.Sort(l.Secret)
	return l
}

// newJSONEncoder writes JSON lines to w as every --json does: C1 controls
// escaped, <, > and & as they are.
func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(ui.JSONWriter(w))
	enc.SetEscapeHTML(false)
	return enc
}
