package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileInputStaysLiteral gives fleet, as a user would, values that a
// shell would run if they reached one unquoted: --var values, a copy
// destination (with --sudo, whose install goes through a shell), a host
// name and a login user. Each must end up as literal text on the host or
// be refused; the canary file that each would create must never appear.
func TestHostileInputStaysLiteral(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts[0]
	canary, noCanary := canary(t)
	hostile := []string{
		"$(touch " + canary + ")",
		"'; touch " + canary + "; '",
		"`touch " + canary + "`\"$(touch " + canary + ")\"; touch " + canary + " #,a,b",
	}
	out := sharedTemp(t) // the hosts are this machine: the login user writes here

	t.Run("provision --var", func(t *testing.T) {
		u := setup(t)
		recipe := writeFile(t, filepath.Join(t.TempDir(), "hostile.yaml"), `name: hostile
sudo: false
vars: {a: "", b: "", c: "", out: ""}
steps:
  - {name: a, run: "printf '%s' {{.Vars.a}} > {{.Vars.out}}/a"}
  - {name: b, run: "printf '%s' {{.Vars.b}} > {{.Vars.out}}/b"}
  - {name: c, run: "printf '%s' {{.Vars.c}} > {{.Vars.out}}/c"}
`, 0o644)
		r := u.provision("-H", label(np, h), "--recipe", recipe, "--var", "a="+hostile[0],
			"--var", "b="+hostile[1], "--var", "c="+hostile[2], "--var", "out="+out)
		if r.status != 0 {
			t.Errorf("want exit status 0\n%s", r)
		}
		for i, name := range []string{"a", "b", "c"} {
			if got := readString(t, filepath.Join(out, name)); got != hostile[i] {
				t.Errorf("--var %s=%q reached the host as %q", name, hostile[i], got)
			}
		}
		noCanary(t, r)
		// A newline would add lines to the files values fill in: refused
		// before anything runs.
		r = u.provision("-H", label(np, h), "--recipe", recipe, "--var", "a=x\n; touch "+canary, "--var", "out="+out)
		if r.status != 2 || !strings.Contains(r.stderr, `variable "a": the value holds a control character`) {
			t.Errorf("a value with a newline: want exit status 2 naming the variable\n%s", r)
		}
		noCanary(t, r)
	})

	t.Run("copy --sudo to a hostile path", func(t *testing.T) {
		u := setup(t)
		src := writeFile(t, filepath.Join(t.TempDir(), "src"), "content\n", 0o644)
		for i, v := range hostile[:2] {
			dst := filepath.Join(out, "copy-"+strings.ReplaceAll(v, "/", "_"))
			r := u.copy("--sudo", "-H", label(np, h), src, dst)
			if r.status != 0 {
				t.Errorf("copy %d: want exit status 0\n%s", i, r)
			}
			if got := readString(t, dst); got != "content\n" {
				t.Errorf("copy %d: %q holds %q", i, dst, got)
			}
			noCanary(t, r)
		}
	})

	t.Run("host and user", func(t *testing.T) {
		u := setup(t)
		r := u.run("-H", "web$(touch "+canary+")", "true")
		if r.status != 2 || !strings.Contains(r.stderr, "invalid character") {
			t.Errorf("a host name with $(...): want exit status 2 and the bad character named\n%s", r)
		}
		noCanary(t, r)
		r = u.run("-l", hostile[1], "-H", h.HostPort(), "true")
		if r.status == 0 {
			t.Errorf("a login user with shell syntax logged in\n%s", r)
		}
		noCanary(t, r)
	})
}
