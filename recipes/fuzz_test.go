package recipes

import (
	"context"
	"strings"
	"testing"
)

// FuzzParseRecipe: no input makes Parse panic or hang, and whatever it
// accepts can be selected for and dry-run without panicking.
func FuzzParseRecipe(f *testing.F) {
	for _, seed := range []string{
		"",
		"name: x\nsteps: [{name: a, run: x}]\n",
		dockerish,
		selectRecipe,
		"name: x\n---\nname: y\n",
		"name: &a x\nsteps: [{name: *a, run: *a}]\n",
		"name: x\nvars: {v: \"1\"}\nsteps:\n  - name: a\n    run: echo {{.Vars.v}} {{.Facts.ID}} {{range .Facts.IDLike}}{{.}}{{end}}\n    timeout: 1m\n",
		"name: x\nsteps:\n  - name: a\n    run: '{{define \"t\"}}{{template \"t\" .}}{{end}}{{template \"t\" .}}'\n",
		"name: x\nfiles: {f: {content: \"{{.Host}}\"}}\nsteps: [{name: a, put: /x, file: f, mode: \"0644\", owner: \"a:b\"}]\n",
		"name: x\nplatforms: [{name: p, match: [{id: a, version: \">=1.2\"}], steps: [{name: a, run: x, when_changed: [a]}]}]\n",
		"a: &a [*a, *a]\n",
		"name: x\nsteps:\n  - name: a\n    run: x\n    timeout: 99999999999999999999h\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	facts := &Facts{ID: "a", VersionID: "1.2", IDLike: []string{"debian"}, OSRelease: map[string]string{"ID": "a"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(strings.NewReader(string(data)), "fuzz.yaml", dir)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the source: %v", err)
			}
			return
		}
		if r.Name == "" {
			t.Fatal("accepted a recipe without a name")
		}
		rep, _ := Apply(context.Background(), newFake(), r, facts, Options{DryRun: true})
		_ = rep.Plan() + rep.Summary()
	})
}
