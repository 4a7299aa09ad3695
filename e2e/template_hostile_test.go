package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTemplateValuesOnRealHosts applies a recipe of one's own on a real
// sshd host with a hostile --var in every shell context that takes a value
// (a word, double quotes, an unquoted here-document, a command
// substitution, a case pattern) and a secret given with --secret-var: each
// value must arrive as its exact text, the canary must never appear, the
// contexts that would run or lose a value are refused with the recipe's
// line, and the secret is in no process's command line on the host while
// the run goes, nor in fleet's output or its run record.
func TestTemplateValuesOnRealHosts(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts[0]
	canary, noCanary := canary(t)
	hostile := "$(touch " + canary + ")`touch " + canary + "`'\"; touch " + canary + " # ${HOME} *"
	out := sharedTemp(t)

	t.Run("contexts and a secret", func(t *testing.T) {
		u := setup(t)
		secret := "tmpl-secret-" + randomHex(t)
		secretFile := writeFile(t, filepath.Join(t.TempDir(), "token"), secret+"\n", 0o600)
		sleep := uniqueSleep(1)
		recipe := writeFile(t, filepath.Join(t.TempDir(), "contexts.yaml"), `name: contexts
sudo: false
vars:
  a: ""
  out: ""
  token: {default: "", secret: true}
steps:
  - name: word
    run: printf '%s' {{.Vars.a}} > {{.Vars.out}}/word
  - name: double quotes
    run: printf '%s' "<{{.Vars.a}}>" > "{{.Vars.out}}/dq"
  - name: heredoc
    run: |
      cat > {{.Vars.out}}/heredoc <<EOF
      [{{.Vars.a}}]
      EOF
  - name: substitution
    run: printf '%s' "$(printf '%s' {{.Vars.a}})" > {{.Vars.out}}/subst
  - name: case
    run: case {{.Vars.a}} in {{.Vars.a}}) printf match > {{.Vars.out}}/case;; esac
  - name: secret as root
    sudo: true
    run: printf '%s' {{.Vars.token}} > {{.Vars.out}}/secret && `+sleep+`
`, 0o644)
		// The command line only: a recipe's values are in its command's
		// environment by design, readable by their owner alone.
		w := watchArgv([]string{secret}, sleep)
		r := u.provision("-H", label(np, h), "--recipe", recipe, "--var", "a="+hostile,
			"--var", "out="+out, "--secret-var", "token=@"+secretFile)
		hits, sawRoot := w.stop()
		if r.status != 0 {
			t.Fatalf("want exit status 0\n%s", r)
		}
		for _, hit := range hits {
			t.Errorf("the secret is in a command line: %s", hit)
		}
		if !sawRoot {
			t.Errorf("never saw %q running as root: the scan did not cover the run\n%s", sleep, r)
		}
		for name, want := range map[string]string{"word": hostile, "dq": "<" + hostile + ">", "heredoc": "[" + hostile + "]\n",
			"subst": hostile, "case": "match", "secret": secret} {
			if got := readString(t, filepath.Join(out, name)); got != want {
				t.Errorf("%s: the host got %q, want %q", name, got, want)
			}
		}
		noCanary(t, r)
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("the secret is in fleet's output\n%s", r)
		}
		records := 0
		err := filepath.Walk(u.stateDir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() || fi.Mode()&os.ModeSymlink != 0 {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the secret is in the run record: %s", p)
			}
			if filepath.Base(p) == "run.json" {
				records++
				if !bytes.Contains(b, []byte(`\u003csecret\u003e`)) && !bytes.Contains(b, []byte("<secret>")) {
					t.Errorf("run.json does not show the secret as <secret>:\n%s", b)
				}
			}
			return nil
		})
		if err != nil || records != 1 {
			t.Errorf("run records: %d (%v)", records, err)
		}
	})

	t.Run("refused before anything runs", func(t *testing.T) {
		u := setup(t)
		for _, tt := range []struct{ run, want string }{
			{`echo '{{.Vars.a}}' > /dev/null`, "inside single quotes"},
			{`echo ok # it's {{.Vars.a}}`, "in a shell comment"},
			{"cat <<'EOF'\n      {{.Vars.a}}\n      EOF", "quoted here-document"},
			{`eval {{.Vars.a}}`, "runs it as shell code"},
		} {
			run := tt.run
			if strings.Contains(run, "\n") {
				run = "|\n      " + run
			} else {
				run = strconv.Quote(run)
			}
			recipe := writeFile(t, filepath.Join(t.TempDir(), "bad.yaml"), "name: bad\nsudo: false\nvars: {a: \"\"}\nsteps:\n  - name: s\n    run: "+run+"\n", 0o644)
			r := u.provision("-H", label(np, h), "--recipe", recipe, "--var", "a="+hostile)
			if r.status != 2 || !strings.Contains(r.stderr, recipe+":") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("%s: want exit status 2 naming the file and %q\n%s", tt.run, tt.want, r)
			}
			noCanary(t, r)
		}
		// Arithmetic takes a plain number, and refuses anything else when
		// the value is known, on the host's step.
		recipe := writeFile(t, filepath.Join(t.TempDir(), "arith.yaml"), "name: arith\nsudo: false\nvars: {n: \"1\", out: \"\"}\n"+
			"steps:\n  - name: s\n    run: echo $(( {{.Vars.n}} * 6 )) > {{.Vars.out}}/arith\n", 0o644)
		r := u.provision("-H", label(np, h), "--recipe", recipe, "--var", "n=7", "--var", "out="+out)
		if got := readString(t, filepath.Join(out, "arith")); r.status != 0 || got != "42\n" {
			t.Errorf("arithmetic with 7: got %q\n%s", got, r)
		}
		r = u.provision("-H", label(np, h), "--recipe", recipe, "--var", "n=a[$(touch "+canary+")]", "--var", "out="+out)
		if r.status == 0 || !strings.Contains(r.stdout+r.stderr, "plain decimal integer") {
			t.Errorf("arithmetic with a hostile value: want the step refused\n%s", r)
		}
		noCanary(t, r)
		// A secret by --var would be in ps and the shell's history.
		secretRecipe := writeFile(t, filepath.Join(t.TempDir(), "s.yaml"), "name: s\nvars: {token: {secret: true}}\nsteps: [{name: s, run: 'true {{.Vars.token}}'}]\n", 0o644)
		r = u.provision("-H", label(np, h), "--recipe", secretRecipe, "--var", "token=x")
		if r.status != 2 || !strings.Contains(r.stderr, "--secret-var token=@FILE") {
			t.Errorf("--var for a secret: want exit status 2 and a hint\n%s", r)
		}
	})
}
