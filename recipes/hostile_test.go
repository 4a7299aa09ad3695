package recipes

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// Hostile input: recipe files come from other people, and --var values
// from scripts and CI variables. Whatever they hold, a recipe is refused
// with a message naming its source, or it runs exactly the commands its
// author wrote, with every value as literal text; it never panics and never
// runs a command that a value smuggled in.

func TestHostileRecipeFiles(t *testing.T) {
	mib := strings.Repeat("a", 1<<20)
	tests := []struct {
		name, src string
		wantErr   string // "" means the recipe is accepted
	}{
		{"1 MiB line", "name: x\ndescription: " + mib + "\nsteps: [{name: a, run: 'true'}]\n", "h.yaml: larger than 1 MiB"},
		{"long line under the cap", "name: x\ndescription: " + mib[:900<<10] + "\nsteps: [{name: a, run: 'true'}]\n", ""},
		{"long command under the cap", "name: x\nsteps: [{name: a, run: 'true " + mib[:900<<10] + "'}]\n", ""},
		{"NUL byte", "name: x\x00\nsteps: [{name: a, run: 'true'}]\n", "h.yaml"},
		{"NUL escaped in a command", "name: x\nsteps: [{name: a, run: \"true\\0; reboot\"}]\n", "h.yaml:2: step \"a\": run holds a NUL byte"},
		{"NUL escaped in a path", "name: x\nfiles: {f: {content: y}}\nsteps: [{name: a, put: \"/etc/x\\0\", file: f}]\n", "h.yaml:3: step \"a\": put holds a NUL byte"},
		{"invalid UTF-8", "name: \xff\xfe\nsteps: [{name: a, run: 'true'}]\n", "h.yaml"},
		{"invalid UTF-8 in a command", "name: x\nsteps: [{name: a, run: \"echo \xc3\x28\"}]\n", "h.yaml"},
		{"byte order mark", "\ufeffname: x\nsteps: [{name: a, run: 'true'}]\n", ""},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", "h.yaml"},
		{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
			"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
			"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nname: x\nsteps: [{name: a, run: 'true'}]\n", "h.yaml"},
		{"deep nesting", "name: x\nvars: " + strings.Repeat("[", 100000) + "\n", "h.yaml"},
		{"template recursion", "name: x\nsteps:\n  - name: a\n    run: '{{define \"t\"}}{{template \"t\" .}}{{end}}{{template \"t\" .}}'\n", "h.yaml:4: step \"a\": run: template \"t\" calls itself"},
		{"variable name with shell syntax", "name: x\nvars: {\"a;reboot\": x}\nsteps: [{name: a, run: 'true'}]\n", "h.yaml:2:"},
		{"variable name with $()", "name: x\nvars: {\"$(reboot)\": x}\nsteps: [{name: a, run: 'true'}]\n", "h.yaml:2:"},
		{"relative put path", "name: x\nfiles: {f: {content: y}}\nsteps: [{name: a, put: ../../etc/passwd, file: f}]\n", "h.yaml:3:"},
		{"owner with shell syntax", "name: x\nfiles: {f: {content: y}}\nsteps: [{name: a, put: /x, file: f, owner: \"root;reboot\"}]\n", "h.yaml:3:"},
		{"mode with shell syntax", "name: x\nfiles: {f: {content: y}}\nsteps: [{name: a, put: /x, file: f, mode: \"0644;reboot\"}]\n", "h.yaml:3:"},
		{"step name with shell syntax", "name: \"x; reboot\"\nsteps: [{name: \"$(reboot); `reboot`\", run: 'true'}]\n", ""},
		{"timeout overflow", "name: x\nsteps: [{name: a, run: 'true', timeout: 99999999999999999999999h}]\n", "h.yaml:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(strings.NewReader(tt.src), "h.yaml", t.TempDir())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %.500v", err)
				}
				// Accepted: it must also apply (dry run) without trouble.
				rep, err := Apply(context.Background(), newFake(), r, ubuntu, Options{DryRun: true})
				if err != nil && !strings.Contains(err.Error(), "template") {
					t.Errorf("dry run: %.500v", err)
				}
				_ = rep.Plan()
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("error %.500q, want it to start with %q", err, tt.wantErr)
			}
			if len(err.Error()) > 4096 {
				t.Errorf("error of %d bytes: a message must not repeat the hostile input whole", len(err.Error()))
			}
		})
	}
}

// hostileValues returns --var values that would run a command if a shell
// ever read them as code, in any quoting (unquoted, quoted wrongly, inside
// double quotes, an array index, a here-document): each writes canary
// (with shell builtins only, so that a restricted PATH cannot hide an
// injection). The empty string, option-like values and control characters
// are there for the quoting, not the canary.
func hostileValues(canary string) []string {
	c := fleet.Quote(canary)
	return []string{
		"$(: > " + c + ")",
		"`: > " + c + "`",
		"'; : > " + c + "; '",
		"\"; : > " + c + "; \"",
		"x\n: > " + c,
		"\\'; : > " + c + " #",
		"$(: > " + c + ")'\"`: > " + c + "`\"'",
		"a[$(: > " + c + ")]",
		"EOF\n: > " + c + "\nEOF",
		"${HOME} $((6*7)) * ? [a] ~root !1 %s%n",
		"-n",
		"--help",
		"",
		"tab\there\r\x7f\x1b[31m",
		"über ünïcödé",
	}
}

// shellHost runs every command with a real /bin/sh in a folder of its own
// (the recipes below run nothing as root and write only there) and records
// what Put was asked to write.
type shellHost struct {
	dir  string
	mu   sync.Mutex
	puts map[string]string // remote path: content
}

func (h *shellHost) Exec(ctx context.Context, cmd *fleet.Command) error {
	_, err := runSh(ctx, cmd, "/bin/sh", cmd.Line, h.dir, plainEnv(h.dir)...)
	return err
}

func (h *shellHost) Put(_ context.Context, src *fleet.LocalFile, dst string, _ fleet.PutOptions) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.puts[dst] = string(src.Data)
	return true, nil
}

func (h *shellHost) Probe(context.Context, string, bool, []byte) (*fleet.RemoteFile, error) {
	return &fleet.RemoteFile{}, nil
}

// TestHostileVarsStayLiteral sets each hostile value as a variable and applies a recipe that uses it in a command, a guard, a
// creates path, a put path and a file, through a real shell: the command
// must print the value exactly, the canary must not exist, and the put
// path and content must hold the value as it was given.
func TestHostileVarsStayLiteral(t *testing.T) {
	t.Parallel()
	const src = `name: "hostile; $(reboot)"
sudo: false
vars: {v: "", out: "", canary: ""}
files:
  f: {content: "[{{.Vars.v}}]"}
steps:
  - name: print
    run: printf '%s' {{.Vars.v}} > {{.Vars.out}}
    unless: test {{.Vars.v}} = {{.Vars.out}}
  - name: creates
    run: printf '%s' {{.Vars.v}} > {{.Vars.out}}.2
    creates: "{{.Vars.out}}.missing/{{.Vars.v}}"
  - name: put
    put: "/srv/{{.Vars.v}}/f"
    file: f
  - name: "owed: $(: > {{.Vars.canary}})"
    run: printf '%s' {{.Vars.v}} > {{.Vars.out}}.3
    when_changed: [put]
`
	dir := t.TempDir()
	canary := filepath.Join(dir, "canary")
	for i, v := range hostileValues(canary) {
		r := mustParse(t, src)
		out := filepath.Join(dir, "out")
		// --var refuses control characters (TestSetVars); a recipe's own
		// defaults may still hold them, so the values are set directly.
		maps.Copy(r.Vars, map[string]string{"v": v, "out": out, "canary": canary})
		h := &shellHost{dir: dir, puts: map[string]string{}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rep, err := Apply(ctx, h, r, ubuntu, Options{PersistTriggers: true})
		cancel()
		if err != nil {
			t.Fatalf("value %d %q: %v\n%s", i, v, err, statuses(rep))
		}
		for _, f := range []string{out, out + ".2", out + ".3"} {
			if b, err := os.ReadFile(f); err != nil || string(b) != v {
				t.Errorf("value %d %q: %s holds %q (%v), want the value itself", i, v, filepath.Base(f), b, err)
			}
			os.Remove(f)
		}
		wantPut := map[string]string{"/srv/" + v + "/f": "[" + v + "]"}
		if !maps.Equal(h.puts, wantPut) {
			t.Errorf("value %d %q: puts %q, want %q", i, v, h.puts, wantPut)
		}
		if _, err := os.Stat(canary); err == nil {
			t.Fatalf("value %d %q ran a command of its own: %s exists", i, v, canary)
		}
	}
}

// TestHostileVarsInBuiltins applies every built-in recipe with each of its
// variables in turn set to each hostile value (the others left as they
// are, so that the steps after a bad version still run for a bad proxy),
// on each simulated distribution, through a real shell with the stand-in
// package tools. Steps may fail (there is no docker 1$(...)), but no value
// may run anything.
func TestHostileVarsInBuiltins(t *testing.T) {
	for _, name := range []string{"docker", "kubernetes", "containerd"} {
		for _, o := range simSupported {
			t.Run(name+"/"+o.name, func(t *testing.T) {
				t.Parallel()
				canary := filepath.Join(t.TempDir(), "canary")
				// Three values between them try every way out of a
				// word ($(), backquotes, either quote, a newline); each
				// of them on its own is tried by TestHostileVarsStayLiteral.
				all := hostileValues(canary)
				values := []string{all[2], all[4], all[6]}
				h := newSimHost(t, o)
				commands := 0
				r := simBuiltin(t, name, nil) // Apply does not change it: parsed once
				noRetries(r)
				defaults := r.Vars
				for _, k := range slices.Sorted(maps.Keys(defaults)) {
					for i, v := range values {
						r.Vars = maps.Clone(defaults)
						r.Vars[k] = v // directly: --var would refuse the newline
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						rep, _ := Apply(ctx, h, r, o.facts(), Options{})
						cancel()
						if _, err := os.Stat(canary); err == nil {
							t.Fatalf("%s = value %d %q ran a command of its own\n%s\ncommands:\n%s",
								k, i, v, statuses(rep), strings.Join(h.lines, "\n"))
						}
						commands += len(h.lines)
						h.resetCalls()
					}
				}
				// Nothing was tested if no command ran.
				if commands == 0 {
					t.Fatal("no command ran")
				}
				t.Logf("%d command lines run", commands)
			})
		}
	}
}

// noRetries takes the retries out of r's steps: a step that fails because
// of a hostile value would otherwise wait out its retry delays.
func noRetries(r *Recipe) {
	for _, s := range allSteps(r) {
		s.Retries = 0
	}
}

// allSteps returns every step of r: before, each platform's, and the
// shared ones.
func allSteps(r *Recipe) []*Step {
	var out []*Step
	lists := [][]Step{r.Before}
	for _, p := range r.Platforms {
		lists = append(lists, p.Steps)
	}
	for _, l := range append(lists, r.Steps) {
		for i := range l {
			out = append(out, &l[i])
		}
	}
	return out
}
