package recipes

import (
	"fmt"
	"strings"
	"testing"
)

func TestQuotedOutput(t *testing.T) {
	tests := []struct {
		text  string
		line  int
		quote string
	}{
		{text: "echo {{ .Vars.x }}"},
		{text: "echo '{{ .Vars.x }}'", line: 1, quote: "single"},
		{text: `echo "{{ .Vars.x }}"`, line: 1, quote: "double"},
		{text: `echo "a" {{ .Vars.x }} 'b'`},
		{text: "apt-get install docker-ce={{ .Vars.v }}'~ce*'"},
		{text: "grep -q '^Version: '{{ .Vars.v }}'~'"},
		{text: `echo "it's" {{ .Vars.x }}`}, // a ' inside "..." opens nothing
		{text: `echo \" {{ .Vars.x }}`},     // an escaped quote opens nothing
		{text: `echo "a\"b {{ .Vars.x }}"`, line: 1, quote: "double"},
		{text: "echo '{{ if .Vars.x }}on{{ else }}off{{ end }}'"}, // control prints no value
		{text: "echo '{{- $v := .Vars.x }}' {{ $v }}"},
		{text: "echo ok\nprintf '%s' \"{{ .Facts.ID }}\"", line: 2, quote: "double"},
		{text: "echo '{{/* a comment */}}'"},
		{text: "echo '{{ printf \"%s\" .Vars.x }}'", line: 1, quote: "single"},
	}
	for _, tt := range tests {
		line, quote := quotedOutput(tt.text)
		if line != tt.line || quote != tt.quote {
			t.Errorf("quotedOutput(%q) = %d %q, want %d %q", tt.text, line, quote, tt.line, tt.quote)
		}
	}
}

func TestQuotedValueRefusedWithLine(t *testing.T) {
	src := head + "vars: {x: \"\"}\nsteps:\n  - name: s\n    run: |\n      echo start\n      echo \"{{ .Vars.x }}\"\n"
	_, err := Parse(strings.NewReader(src), "q.yaml", "")
	if err == nil || !strings.Contains(err.Error(), "inside double quotes") {
		t.Fatalf("err = %v, want a value inside double quotes refused", err)
	}
	want := fmt.Sprintf("q.yaml:%d:", strings.Count(head, "\n")+6)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it at %s", err, want)
	}
}
