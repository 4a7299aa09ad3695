package recipes

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// realShells are the shells on this machine that the rendered commands are
// run with: /bin/sh, and bash and dash where they are.
func realShells(t testing.TB) []string {
	var out []string
	for _, sh := range []string{"/bin/sh", "bash", "dash"} {
		if p, err := exec.LookPath(sh); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no shell on this machine")
	}
	return out
}

// runRendered runs a rendered command in dir with its variables in the
// environment, as a Shell does, and returns its stdout.
func runRendered(t testing.TB, shell, dir string, cmd *shellCmd) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	stderr, err := runSh(ctx, &fleet.Command{Vars: cmd.env, Stdout: &out}, shell, cmd.line, dir, plainEnv(dir)...)
	if err != nil {
		t.Logf("%s -c %q: %v: %s", shell, cmd.line, err, stderr)
	}
	return out.String(), err
}

func valueData(vals map[string]string, secret ...string) *tmplData[slot] {
	r := &Recipe{Vars: vals}
	for _, s := range secret {
		_ = r.SetSecret(s, vals[s])
	}
	return newSlots(r, &Facts{ID: "ubuntu"}, "apt", "h1")
}

func nameOf(v string, secret bool) string { return "the value" }

// TestRenderShellContexts renders a template in every shell context with
// hostile values and runs it with the real shells: each value must reach
// the command as its exact text (echoed back), or be refused when the
// template is rendered; the canary must never appear.
func TestRenderShellContexts(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(dir, "canary")
	tests := []struct {
		name, text string
		want       string // what the command prints, with V for the value; "" with refuse
		refuse     string
	}{
		{name: "plain word", text: "printf '%s' {{ .Vars.v }}", want: "V"},
		{name: "word with text around", text: "printf '%s' a{{ .Vars.v }}b", want: "aVb"},
		{name: "next to single quotes", text: "printf '%s' 'a'{{ .Vars.v }}'b'", want: "aVb"},
		{name: "double quotes", text: `printf '%s' "a {{ .Vars.v }} b"`, want: "a V b"},
		{name: "assignment", text: `x={{ .Vars.v }}; printf '%s' "$x"`, want: "V"},
		{name: "redirect target", text: `printf '%s' {{ .Vars.v }} > out.txt && cat out.txt`, want: "V"},
		{name: "heredoc", text: "cat <<EOF\n[{{ .Vars.v }}]\nEOF", want: "[V]\n"},
		{name: "heredoc dash", text: "cat <<-EOF\n\t[{{ .Vars.v }}]\nEOF", want: "[V]\n"},
		{name: "here-string", text: "cat <<< {{ .Vars.v }}", want: "V\n"},
		{name: "command substitution", text: `printf '%s' "$(printf '%s' {{ .Vars.v }})"`, want: "V"},
		{name: "command substitution in quotes", text: `printf '%s' "$(printf '%s' "{{ .Vars.v }}")"`, want: "V"},
		{name: "backticks", text: "x=`printf '%s' {{ .Vars.v }}`; printf '%s' \"$x\"", want: "V"},
		{name: "case subject and pattern", text: "case {{ .Vars.v }} in {{ .Vars.v }}) printf '%s' match;; *) printf no;; esac", want: "match"},
		{name: "test", text: `[ {{ .Vars.v }} = "$(printf '%s' {{ .Vars.v }})" ] && printf ok`, want: "ok"},
		{name: "single quotes", text: "printf '%s' '{{ .Vars.v }}'", refuse: "inside single quotes"},
		{name: "quoted heredoc", text: "cat <<'EOF'\n{{ .Vars.v }}\nEOF", refuse: "quoted here-document"},
		{name: "comment", text: "printf ok # it's {{ .Vars.v }}", refuse: "comment"},
		{name: "arithmetic", text: "printf '%s' $(( {{ .Vars.v }} + 1 ))", refuse: "arithmetic"},
		{name: "arithmetic command", text: "(( {{ .Vars.v }} )); printf ok", refuse: "arithmetic"},
		{name: "[[ -eq ]]", text: "[[ {{ .Vars.v }} -eq 1 ]]", refuse: "arithmetic"},
		{name: "param expansion", text: "printf '%s' ${X:-{{ .Vars.v }}}", refuse: "${...}"},
		{name: "eval", text: "eval {{ .Vars.v }}", refuse: "shell code"},
		{name: "sh -c", text: "sh -c {{ .Vars.v }}", refuse: "shell code"},
		{name: "backticks in double quotes", text: "printf '%s' \"`printf '%s' {{ .Vars.v }}`\"", refuse: "backquotes"},
	}
	values, all := hostileValues(canary), realShells(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shells := all
			if tt.name == "here-string" { // <<< is bash's
				shells = bashOnly(all)
			}
			for _, v := range values {
				cmd, err := renderShell(tt.text, valueData(map[string]string{"v": v}), nameOf)
				if tt.refuse != "" {
					if err == nil || !strings.Contains(err.Error(), tt.refuse) {
						t.Errorf("value %q: err = %v, want a refusal with %q (command %q)", v, err, tt.refuse, cmdLine(cmd))
					}
					continue
				}
				if err != nil {
					t.Fatalf("value %q: %v", v, err)
				}
				if v != "" && strings.Contains(cmd.line, v) {
					t.Errorf("value %q is in the command line %q", v, cmd.line)
				}
				for _, sh := range shells {
					got, err := runRendered(t, sh, dir, cmd)
					if want := strings.ReplaceAll(tt.want, "V", v); err != nil || got != want {
						t.Errorf("%s, value %q: printed %q (%v), want %q", filepath.Base(sh), v, got, err, want)
					}
					if _, err := os.Stat(canary); err == nil {
						t.Fatalf("%s, value %q ran a command: %s exists (command %q)", filepath.Base(sh), v, canary, cmd.line)
					}
				}
			}
		})
	}
}

func bashOnly(shells []string) []string {
	var out []string
	for _, s := range shells {
		if filepath.Base(s) == "bash" {
			out = append(out, s)
		}
	}
	return out
}

func cmdLine(c *shellCmd) string {
	if c == nil {
		return ""
	}
	return c.line
}

// TestRenderShellArithmeticInteger: a plain decimal integer may go into
// arithmetic, as itself; anything else is refused.
func TestRenderShellArithmeticInteger(t *testing.T) {
	for v, ok := range map[string]bool{"0": true, "42": true, "123456789": true, "-1": false, "010": false, "1+1": false,
		"a[$(id)]": false, "0x10": false, "": false, "1 ": false, "9999999999999999999": false} {
		cmd, err := renderShell("echo $(( {{ .Vars.n }} * 2 ))", valueData(map[string]string{"n": v}), nameOf)
		if ok != (err == nil) {
			t.Errorf("%q: err = %v, want accepted %v", v, err, ok)
			continue
		}
		if ok {
			got, err := runRendered(t, "/bin/sh", t.TempDir(), cmd)
			if err != nil || strings.TrimSpace(got) == "" {
				t.Errorf("%q: %q %v", v, got, err)
			}
		}
	}
}

// TestRenderShellSecret: a secret reaches the command through the
// environment, is in no command line, and shows as <secret> for people.
func TestRenderShellSecret(t *testing.T) {
	const token = "s3cr3t-token-value"
	d := valueData(map[string]string{"tok": token, "user": "bob"}, "tok")
	cmd, err := renderShell(`curl -H "Authorization: {{ .Vars.tok }}" -u {{ .Vars.user }} {{ slice .Vars.tok 0 6 }}`, d, nameOf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cmd.line, "s3cr3t") || strings.Contains(cmd.display, "s3cr3t") || !cmd.secret {
		t.Errorf("line %q display %q secret %v", cmd.line, cmd.display, cmd.secret)
	}
	if want := `curl -H "Authorization: <secret>" -u bob <secret>`; cmd.display != want {
		t.Errorf("display %q, want %q", cmd.display, want)
	}
	out, secret, err := renderRaw("token={{ .Vars.tok }}", d)
	if err != nil || out != "token="+token || !secret {
		t.Errorf("renderRaw: %q %v %v", out, secret, err)
	}
}

// TestRecursingTemplateIsCheap: a template that calls itself is refused
// at once, without the tens of megabytes text/template's own depth limit
// lets it take; an output bomb stops at the output limit.
func TestRecursingTemplateIsCheap(t *testing.T) {
	for _, text := range []string{
		`{{define "t"}}{{template "t" .}}{{end}}{{template "t" .}}`,
		`{{define "a"}}x{{template "b" .}}{{end}}{{define "b"}}{{template "a" .}}{{end}}{{template "a" .}}`,
		`{{template "fleet" .}}`,
		`{{define "t"}}` + strings.Repeat("x", 1000) + `{{end}}{{range 10000}}{{template "t"}}{{end}}`,
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := execute(text, valueData(nil))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: rendered", text)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
			t.Errorf("%s: %d MB allocated before it failed", text, alloc>>20)
		}
	}
}

// TestTemplateRangeBounds: ranges that would loop long are refused at
// load time: nested counts multiply, a variable count is refused.
func TestTemplateRangeBounds(t *testing.T) {
	for text, want := range map[string]string{
		"{{range 10000}}{{end}}":                     "",
		"{{range 10001}}{{end}}":                     "at most",
		"{{range 1000}}{{range 1000}}{{end}}{{end}}": "at most",
		"{{$n := 100000000}}{{range $n}}{{end}}":     "range over a variable",
		`{{define "t"}}{{template "t"}}{{end}}`:      "calls itself",
		"{{range .Facts.IDLike}}{{.}}{{end}}":        "",
	} {
		pr := checkTemplate(text, nil)
		if want == "" && pr != nil || want != "" && (pr == nil || !strings.Contains(pr.msg, want)) {
			t.Errorf("%s: %+v, want %q", text, pr, want)
		}
	}
}

// TestSecretVariables: declared secret in the recipe or made secret by
// SetSecret, a secret is refused by SetVars, never in a command line,
// plan or reason, and its file goes by a private write.
func TestSecretVariables(t *testing.T) {
	const token = "tok-8d1f0c2e-never-shown"
	src := `name: s
sudo: false
vars:
  plain: ""
  token: {default: "", secret: true}
files:
  env: {content: "TOKEN={{ .Vars.token }}\n"}
steps:
  - name: login
    run: login --token {{ .Vars.token }} && echo failed-with-` + "{{ .Vars.token }}" + ` >&2 && false
    unless: test -e /x/{{ .Vars.plain }}
  - name: env
    put: /etc/app.env
    file: env
`
	r := mustParse(t, src)
	if !r.IsSecret("token") || r.IsSecret("plain") {
		t.Fatalf("secret flags: %v", r.Secret)
	}
	if err := r.SetVars(map[string]string{"token": token}); err == nil || !strings.Contains(err.Error(), "--secret-var") {
		t.Errorf("SetVars of a secret: %v", err)
	}
	if err := r.SetSecret("token", token); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	f.answers["test -e /x/''"] = &fleet.ExitError{Status: 1}
	f.answers["login --token "+token+" && echo failed-with-"+token+" >&2 && false"] = func(_ context.Context, c *fleet.Command) error {
		_, _ = c.Stderr.Write([]byte("bad token " + token + "\n"))
		return &fleet.ExitError{Status: 1}
	}
	rep, err := Apply(context.Background(), f, r, ubuntu, Options{})
	if err == nil {
		t.Fatal("want the login step to fail")
	}
	for _, st := range rep.Steps {
		if strings.Contains(st.Reason, token) {
			t.Errorf("reason holds the secret: %s", st.Reason)
		}
	}
	if strings.Contains(err.Error(), token) || strings.Contains(rep.Plan(), token) || strings.Contains(rep.Summary(), token) {
		t.Errorf("the secret is in the error, plan or summary: %v\n%s", err, rep.Plan())
	}

	// The put: its file goes by a private write (SFTP, not a command).
	r2 := mustParse(t, strings.Replace(src, "run: login", "run: true ||", 1))
	if err := r2.SetSecret("token", token); err != nil {
		t.Fatal(err)
	}
	f2 := newFake()
	mustApply(t, f2, r2, ubuntu, Options{})
	if len(f2.puts) != 1 || !f2.puts[0].Private {
		t.Errorf("puts %+v, want one private", f2.puts)
	}

	// A secret in a path is refused: paths show in plans and messages.
	// Declared secret, when the recipe loads; made secret by SetSecret,
	// when the step runs.
	bad := strings.Replace(src, "put: /etc/app.env", "put: /etc/{{ .Vars.token }}", 1)
	if _, err := Parse(strings.NewReader(bad), "s.yaml", ""); err == nil || !strings.Contains(err.Error(), "s.yaml:13: step \"env\": put: the secret variable token cannot be used in put") {
		t.Errorf("secret in a put path at load: %v", err)
	}
	r3 := mustParse(t, strings.Replace(bad, "token: {default: \"\", secret: true}", "token: \"\"", 1))
	_ = r3.SetSecret("token", token)
	_, err = Apply(context.Background(), newFake(), r3, ubuntu, Options{DryRun: true})
	if err == nil || !strings.Contains(err.Error(), "a secret variable cannot be used in put") || strings.Contains(err.Error(), token) {
		t.Errorf("secret in a put path: %v", err)
	}
}

// TestSecretInCommand: what goes to the host as the command line holds a
// reference, the value only in Vars; and a command that prints the secret
// does not put it in the host's log, even split across writes.
func TestSecretInCommand(t *testing.T) {
	const token = "out-secret-71c2"
	r := mustParse(t, "name: s\nsudo: false\nvars: {token: {secret: true}}\nsteps: [{name: a, run: 'show {{ .Vars.token }}'}]\n")
	if err := r.SetSecret("token", token); err != nil {
		t.Fatal(err)
	}
	var got *fleet.Command
	f := newFake()
	f.answers["show "+token] = func(_ context.Context, c *fleet.Command) error {
		got = c
		for _, part := range []string{"token is out-sec", "ret-71c2 and again " + token[:3], token[3:] + "\n"} {
			_, _ = c.Stdout.Write([]byte(part))
			_, _ = c.Stderr.Write([]byte(part))
		}
		return nil
	}
	log := &recLog{}
	mustApply(t, f, r, ubuntu, Options{Log: log})
	if got == nil || strings.Contains(got.Line, token) || len(got.Vars) != 1 || got.Vars[0][1] != token {
		t.Fatalf("command %+v", got)
	}
	want := "token is <secret> and again <secret>\n"
	if log.out.String() != want || log.errText.String() != want {
		t.Errorf("log: stdout %q stderr %q, want %q", log.out.String(), log.errText.String(), want)
	}
}

func TestSecretFilterSplits(t *testing.T) {
	const text = "a SECRET b SECRETSECRET c SEC"
	for i := 0; i <= len(text); i++ {
		var b strings.Builder
		f := newSecretFilter(&b, []string{"SECRET"})
		_, _ = f.Write([]byte(text[:i]))
		_, _ = f.Write([]byte(text[i:]))
		f.flush()
		if want := "a <secret> b <secret><secret> c SEC"; b.String() != want {
			t.Errorf("split at %d: %q, want %q", i, b.String(), want)
		}
	}
}

func TestVarSpecErrors(t *testing.T) {
	_, err := Parse(strings.NewReader("name: x\nvars:\n  a: {default: 1, secrte: true}\nsteps: [{name: a, run: 'true'}]\n"), "v.yaml", "")
	if err == nil || !strings.Contains(err.Error(), `v.yaml:3: variable: unknown key "secrte"`) {
		t.Errorf("err = %v", err)
	}
	r, err := Parse(strings.NewReader("name: x\nvars:\n  a: 5\n  b: {default: x}\nsteps: [{name: a, run: 'true'}]\n"), "v.yaml", "")
	if err != nil || r.Vars["a"] != "5" || r.Vars["b"] != "x" || r.IsSecret("b") {
		t.Errorf("%v %+v", err, r)
	}
}

// FuzzRenderShell feeds values through the shell contexts that take them
// and runs the result with the real shells: the value must come back
// exactly and the canary must never appear.
func FuzzRenderShell(f *testing.F) {
	for _, v := range hostileValues("CANARY") {
		f.Add(v)
	}
	f.Add("$(touch CANARY)`touch CANARY`\"'\\\n;|&<>(){}[]*?~!#=%")
	shells := realShells(f)
	dir := f.TempDir()
	canary := filepath.Join(dir, "canary")
	templates := []struct{ text, want string }{
		{"printf '%s|' {{ .Vars.v }}", "V|"},
		{`printf '%s|' "<{{ .Vars.v }}>"`, "<V>|"},
		{"cat <<EOF\n<{{ .Vars.v }}>\nEOF", "<V>\n"},
		{`printf '%s|' "$(printf '%s' {{ .Vars.v }})"`, "V|"},
		{"case {{ .Vars.v }} in {{ .Vars.v }}) printf '%s' m;; esac", "m"},
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) || len(v) > 1000 {
			return // no command or environment carries a NUL
		}
		v = strings.ReplaceAll(v, "CANARY", canary)
		for _, tt := range templates {
			cmd, err := renderShell(tt.text, valueData(map[string]string{"v": v}), nameOf)
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			want := strings.ReplaceAll(tt.want, "V", v)
			if strings.HasPrefix(tt.text, "cat") && strings.Contains(v, "\r") {
				continue
			}
			if strings.HasPrefix(tt.text, "printf '%s|' \"$(") {
				want = strings.ReplaceAll(tt.want, "V", strings.TrimRight(v, "\n")) // $( ) drops trailing newlines
			}
			for _, sh := range shells {
				got, err := runRendered(t, sh, dir, cmd)
				if err != nil || got != want {
					t.Errorf("%s %q: printed %q (%v), want %q\ncommand %q", filepath.Base(sh), v, got, err, want, cmd.line)
				}
				if _, err := os.Stat(canary); err == nil {
					t.Fatalf("%s: value %q ran a command", filepath.Base(sh), v)
				}
			}
		}
	})
}
