package recipes

import (
	"regexp"
	"strings"
)

// Values substituted into run and unless are quoted for the shell (see
// word), which is only right where a word may start: outside quotes. Inside
// '...' the value's own quotes close the author's and leave it unquoted
// (echo '{{ .Vars.x }}' runs echo ''$(reboot)''), and inside "..." its
// quotes are literal while $( ) still runs. So a template that prints a
// value inside quotes is refused when the recipe is loaded.

// quotedOutput finds the first template action that prints something while
// the surrounding shell text is inside single or double quotes, and returns
// its line (1-based) and which quotes; 0 when there is none. The scan
// follows the text as written, branches of if/else one after the other,
// which is how a reader sees the quoting too.
func quotedOutput(text string) (line int, quote string) {
	const (
		none = iota
		single
		double
	)
	state := none
	for i := 0; i < len(text); i++ {
		c := text[i]
		if strings.HasPrefix(text[i:], "{{") {
			end := strings.Index(text[i:], "}}")
			if end < 0 {
				return 0, "" // a parse error, reported by checkTemplate
			}
			action := text[i+2 : i+end]
			if state != none && printsValue(action) {
				q := "single"
				if state == double {
					q = "double"
				}
				return 1 + strings.Count(text[:i], "\n"), q
			}
			i += end + 1
			continue
		}
		switch state {
		case none:
			switch c {
			case '\\':
				i++
			case '\'':
				state = single
			case '"':
				state = double
			}
		case single:
			if c == '\'' {
				state = none
			}
		case double:
			switch c {
			case '\\':
				i++
			case '"':
				state = none
			}
		}
	}
	return 0, ""
}

// silentAction matches the actions that print nothing: control structure,
// comments and variable declarations.
var silentAction = regexp.MustCompile(`^(if|else|end|range|with|define|template|block|break|continue)\b|^/\*|^\$\w*\s*:?=`)

// printsValue says whether the text inside {{ }} prints something.
func printsValue(action string) bool {
	a := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(action, "-"), "-"))
	return a != "" && !silentAction.MatchString(a)
}
