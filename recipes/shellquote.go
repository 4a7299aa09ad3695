package recipes

import (
	"reflect"
	"strings"
	"text/template/parse"
)

// checkShellTemplate is the load-time half of renderShell's checks: it
// finds, without values, a run or unless template that prints a value
// where the shell would read it as code or leave it literal, so that the
// error names the recipe's line before any host is touched. It looks at
// the template as written: each action that prints stands for a value,
// the branches of if and with follow one another. A text whose branches
// only make shell together (or not at all) is left to the run, where
// renderShell checks the command actually rendered.
func checkShellTemplate(text string) *templateProblem {
	if !strings.Contains(text, "{{") {
		return nil
	}
	t, err := newTemplate(text)
	if err != nil || t.Tree == nil {
		return nil // checkTemplate reports it
	}
	w := &asWritten{}
	w.list(t.Tree.Root)
	occ := findPlaceholders(w.b.String())
	if len(occ) == 0 {
		return nil
	}
	pl, err := placeValues(w.b.String(), occ)
	if err != nil {
		return nil
	}
	for i, p := range pl {
		if p.kind != ctxRefuse {
			continue
		}
		what := "a value"
		if n := w.names[i]; n != "" {
			what = n
		}
		line := 1 + strings.Count(text[:min(max(int(w.pos[i]), 0), len(text))], "\n")
		return &templateProblem{line: line, msg: what + " " + p.why}
	}
	return nil
}

// asWritten builds the text of a template as written, a placeholder for
// each printing action, and remembers, for each, what it prints (".Vars.x")
// and where it is.
type asWritten struct {
	b     strings.Builder
	names []string
	pos   []parse.Pos
}

func (w *asWritten) list(n *parse.ListNode) {
	if n == nil {
		return
	}
	for _, x := range n.Nodes {
		w.node(x)
	}
}

func (w *asWritten) node(n parse.Node) {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return
	}
	switch n := n.(type) {
	case *parse.TextNode:
		w.b.Write(n.Text)
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 || n.Pipe.IsAssign {
			return // {{ $v := ... }} prints nothing
		}
		w.value(describePipe(n.Pipe), n.Position())
	case *parse.TemplateNode:
		w.value("", n.Position())
	case *parse.IfNode:
		w.list(n.List)
		w.list(n.ElseList)
	case *parse.WithNode:
		w.list(n.List)
		w.list(n.ElseList)
	case *parse.RangeNode:
		w.list(n.List)
		w.list(n.ElseList)
	}
}

func (w *asWritten) value(name string, pos parse.Pos) {
	w.b.WriteString(placeholder('n', name))
	w.names = append(w.names, name)
	w.pos = append(w.pos, pos)
}

// describePipe names what a pipeline prints, for a message: ".Vars.x"
// when it is one field, the pipeline's text otherwise.
func describePipe(p *parse.PipeNode) string {
	s := strings.TrimSpace(p.String())
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "{{ " + s + " }}"
}
