package recipes

import (
	"context"
	"strings"
	"testing"
)

const condRecipe = `name: cond
vars:
  k8s_node: ""
  token: {default: s3cr3t, secret: true}
files:
  f:
    content: "same {{ .Facts.ID }}\n"
steps:
  - name: only k8s
    run: echo k8s
    when: eq .Vars.k8s_node "true"
  - name: only ubuntu
    run: echo ubuntu
    when: eq .Facts.ID "ubuntu"
  - name: refuse rocky
    fail: "{{ .Facts.ID }} is not for this recipe; token {{ .Vars.token }}"
    when: eq .Facts.ID "rocky"
  - name: say
    note: "node is {{ .Facts.ID }}"
    when: ne .Vars.k8s_node "true"
  - name: check
    run: systemctl daemon-reload
    changed_when: "false"
  - name: maybe
    run: apt-get install -y x
    changed_when: contains .Stdout "Setting up"
  - name: template
    put: /etc/f
    file: f
  - name: after
    run: echo after
    when_changed: [only k8s, check, maybe, template]
`

func TestWhenFailNoteChangedWhen(t *testing.T) {
	r := mustParse(t, condRecipe)
	ft := newFake()
	ft.answers["apt-get install -y x"] = output("x is already the newest version.\n")
	ft.files["/etc/f"] = &fakeFile{data: []byte("same ubuntu\n"), mode: 0o644}
	rep := mustApply(t, ft, r, ubuntu, Options{})
	got := rep.Plan()
	want := `skip        only k8s (when: eq .Vars.k8s_node "true" is false)
changed     only ubuntu
skip        refuse rocky (when: eq .Facts.ID "rocky" is false)
ok          say (node is ubuntu)
ok          check (changed_when: false)
ok          maybe (changed_when: contains .Stdout "Setting up")
ok          template (unchanged)
skip        after (no change in: only k8s, check, maybe, template)
`
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if ft.count("exec[sudo] echo k8s") != 0 || ft.count("exec[sudo] echo after") != 0 {
		t.Errorf("a step whose condition is false ran: %q", ft.callList())
	}
	if s := rep.Summary(); s != "ubuntu 24.04: 1 changed, 7 unchanged; node is ubuntu" {
		t.Errorf("summary %q", s)
	}

	// The output decides: "Setting up" is a change, and a trigger.
	ft = newFake()
	ft.answers["apt-get install -y x"] = output("Setting up x (1.0) ...\n")
	if err := r.SetVars(map[string]string{"k8s_node": "true"}); err != nil {
		t.Fatal(err)
	}
	rep = mustApply(t, ft, r, ubuntu, Options{})
	if rep.Steps[5].Status != Changed || rep.Steps[0].Status != Changed || ft.count("exec[sudo] echo after") != 1 {
		t.Errorf("k8s_node=true with an install: %s", rep.Plan())
	}
	if strings.Contains(rep.Summary(), "node is") {
		t.Errorf("the note's when was false: %s", rep.Summary())
	}

	// fail: the host stops there, saying why, secrets taken out; a dry
	// run says the same without a round trip.
	rocky := &Facts{ID: "rocky", VersionID: "8.10"}
	for _, dry := range []bool{false, true} {
		ft = newFake()
		rep, err := Apply(context.Background(), ft, r, rocky, Options{DryRun: dry})
		if err == nil || err.Error() != `step "refuse rocky": rocky is not for this recipe; token <secret>` {
			t.Errorf("dry run %v: err = %v", dry, err)
		}
		if n, want := len(ft.callList()), map[bool]int{false: 1, true: 0}[dry]; n != want { // echo k8s, not in a dry run
			t.Errorf("dry run %v: calls %q", dry, ft.callList())
		}
		if last := rep.Steps[len(rep.Steps)-1]; last.Name != "refuse rocky" || last.Status != Failed {
			t.Errorf("dry run %v: last step %+v", dry, last)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	head := "name: t\nvars: {x: \"\"}\nsteps:\n"
	for _, tt := range []struct{ name, steps, want string }{
		{"braces", "  - {name: a, run: x, when: \"{{ .Vars.x }}\"}\n", `step "a": when: a condition is an expression without {{ }}`},
		{"unknown var", "  - {name: a, run: x, when: eq .Vars.y \"1\"}\n", `step "a": when: no variable "y"`},
		{"stdout in when", "  - {name: a, run: x, when: eq .Stdout \"1\"}\n", `only changed_when sees it`},
		{"changed_when on put", "  - {name: a, note: hi, changed_when: \"false\"}\n", `changed_when goes with run`},
		{"fail and run", "  - {name: a, run: x, fail: no}\n", `give one of run, put, fail and note`},
		{"note with unless", "  - {name: a, note: hi, unless: \"true\"}\n", `unless does not go with fail or note (use when)`},
		{"bad regexp is found at run time only", "  - {name: a, run: x, changed_when: matches .Stdout \"(\"}\n", ""},
	} {
		_, err := Parse(strings.NewReader(head+tt.steps), "t.yaml", "")
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	r := mustParse(t, head+"  - {name: a, run: x, changed_when: matches .Stdout \"(\"}\n")
	if _, err := Apply(context.Background(), newFake(), r, ubuntu, Options{}); err == nil || !strings.Contains(err.Error(), "changed_when") {
		t.Errorf("a bad regexp in changed_when: err = %v", err)
	}
}
