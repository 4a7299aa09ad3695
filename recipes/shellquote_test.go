package recipes

import (
	"fmt"
	"strings"
	"testing"
)

// TestCheckShellTemplate: the load-time check, over templates as written,
// refuses a value where the shell would run it or leave it literal, and
// accepts the usual places.
func TestCheckShellTemplate(t *testing.T) {
	tests := []struct {
		text string
		want string // "" accepted, else a part of the message
	}{
		{text: "echo {{ .Vars.x }}"},
		{text: `echo "{{ .Vars.x }}"`},
		{text: `echo "a" {{ .Vars.x }} 'b'`},
		{text: "apt-get install docker-ce={{ .Vars.v }}'~ce*'"},
		{text: "grep -q '^Version: '{{ .Vars.v }}'~'"},
		{text: `echo "it's" {{ .Vars.x }}`},
		{text: "echo '{{ if .Vars.x }}on{{ else }}off{{ end }}'"}, // control prints no value
		{text: "echo '{{- $v := .Vars.x }}' {{ $v }}"},
		{text: "echo '{{/* a comment */}}'"},
		{text: "cat > /etc/motd <<EOF\n{{ .Vars.x }}\nEOF"},
		{text: "echo $(( {{ .Vars.n }} + 1 ))"}, // the value is checked when it is known
		{text: "case {{ .Vars.x }} in {{ .Vars.y }}) echo y;; esac"},
		{text: "echo $(echo {{ .Vars.x }}) `echo {{ .Vars.x }}`"},
		{text: "X={{ .Vars.x }} sh -c 'echo \"$X\"'"},
		{text: "sh -c 'echo \"$1\"' sh {{ .Vars.x }}"},
		{text: "export A={{ .Vars.x }}"},
		{text: "echo '{{ .Vars.x }}'", want: "{{ .Vars.x }} is inside single quotes"},
		{text: "echo '{{ printf \"%s\" .Vars.x }}'", want: "inside single quotes"},
		{text: "echo ok # {{ .Vars.x }}'", want: "in a shell comment"},
		{text: "echo ok # it's {{ .Vars.x }}", want: "in a shell comment"},
		{text: "cat <<'EOF'\n{{ .Vars.x }}\nEOF", want: "quoted here-document"},
		{text: "cat <<{{ .Vars.x }}\nx\n", want: ""}, // not shell as written: left to the run
		{text: "echo ${HOME:-{{ .Vars.x }}}", want: "inside ${...}"},
		{text: "eval {{ .Vars.x }}", want: "runs it as shell code"},
		{text: "sh -c {{ .Vars.x }}", want: "runs it as shell code"},
		{text: "sudo bash -c \"echo {{ .Vars.x }}\"", want: "runs it as shell code"},
		{text: "trap {{ .Vars.x }} EXIT", want: "runs it as shell code"},
		{text: "unset {{ .Vars.x }}", want: "takes variable names"},
		{text: "printf -v {{ .Vars.x }} %s 1", want: "variable name"},
		{text: "{{ .Vars.x }}=1 true", want: "wants a name"},
		{text: "echo \\{{ .Vars.x }}", want: "follows a backslash"},
		{text: "echo \"`echo {{ .Vars.x }}`\"", want: "backquotes"},
		{text: "declare -i n={{ .Vars.x }}", want: "declare"},
		{text: "f{{ .Vars.x }}() { :; }", want: "name"},
		{text: "timeout 5 bash -c {{ .Vars.x }}", want: "runs it as shell code"},
		{text: "find . -exec /bin/sh -c {{ .Vars.x }} \\;", want: "runs it as shell code"},
		{text: "su -c {{ .Vars.x }} root", want: "runs it as shell code"},
		{text: "alias a={{ .Vars.x }}", want: "runs it as shell code"},
		{text: "PS4={{ .Vars.x }}; set -x", want: "expands as code"},
		{text: "grep -c {{ .Vars.x }} /etc/hosts"},
		{text: "tar -czf {{ .Vars.x }} /etc"},
		{text: "[ {{ .Vars.x }} -eq 1 ]"},             // test(1) compares numbers without evaluating them
		{text: "[[ {{ .Vars.x }} -eq 1 ]]", want: ""}, // arithmetic: the value is checked when known
	}
	for _, tt := range tests {
		pr := checkShellTemplate(tt.text)
		switch {
		case tt.want == "" && pr != nil:
			t.Errorf("%q: refused: %s", tt.text, pr.msg)
		case tt.want != "" && (pr == nil || !strings.Contains(pr.msg, tt.want)):
			t.Errorf("%q: got %+v, want a refusal with %q", tt.text, pr, tt.want)
		}
	}
}

func TestQuotedValueRefusedWithLine(t *testing.T) {
	src := head + "vars: {x: \"\"}\nsteps:\n  - name: s\n    run: |\n      echo start\n      echo '{{ .Vars.x }}'\n"
	_, err := Parse(strings.NewReader(src), "q.yaml", "")
	if err == nil || !strings.Contains(err.Error(), "inside single quotes") {
		t.Fatalf("err = %v, want a value inside single quotes refused", err)
	}
	want := fmt.Sprintf("q.yaml:%d:", strings.Count(head, "\n")+6)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it at %s", err, want)
	}
}
