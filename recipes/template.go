package recipes

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/fleet-sh/fleet/fleet"
)

// Templates are text/template with missingkey=error, over this data:
//
//	.Vars.NAME     a variable the recipe declares (--var overrides it)
//	.Facts.FIELD   a field of Facts (.Facts.ID, .Facts.Codename, ...)
//	.Platform      the name of the platform chosen for the host
//	.Host          the host's label
//
// In run and unless, which are shell commands, every substituted value is
// quoted for the shell, so that a value with spaces, quotes or `; rm -rf /`
// in it reaches the command as one literal word. This is done by the type
// of the values (word), not by a function the author must remember.
// Everything else is rendered raw: file content, because it is not shell;
// put, creates and owner, because each is one value that fleet quotes as a
// whole where it uses it (quoting the parts too would put quote characters
// into the path).

// word is a value that prints itself quoted for a POSIX shell. text/template
// prints a fmt.Stringer through String, while eq, if and friends compare
// the underlying string: {{if eq .Facts.ID "ubuntu"}} still works.
type word string

// String returns the value quoted for the shell.
func (w word) String() string { return fleet.Quote(string(w)) }

// tmplFacts mirrors Facts with its text fields of type S: word for shell
// commands, string for the rest. A test keeps its fields in step with Facts.
type tmplFacts[S ~string] struct {
	OSRelease    map[string]S
	ID           S
	IDLike       []S
	VersionID    S
	Codename     S
	PrettyName   S
	Arch         S
	DebArch      S
	Init         S
	SudoPassword bool
	CgroupDriver S
	Joined       bool
}

// tmplData is what a template sees as dot.
type tmplData[S ~string] struct {
	Vars     map[string]S
	Facts    tmplFacts[S]
	Platform S
	Host     S
}

func newData[S ~string](vars map[string]string, f *Facts, platform, host string) *tmplData[S] {
	if f == nil {
		f = &Facts{}
	}
	d := &tmplData[S]{
		Vars:     mapOf[S](vars),
		Platform: S(platform),
		Host:     S(host),
		Facts: tmplFacts[S]{
			OSRelease:    mapOf[S](f.OSRelease),
			ID:           S(f.ID),
			VersionID:    S(f.VersionID),
			Codename:     S(f.Codename),
			PrettyName:   S(f.PrettyName),
			Arch:         S(f.Arch),
			DebArch:      S(f.DebArch),
			Init:         S(f.Init),
			SudoPassword: f.SudoPassword,
			CgroupDriver: S(f.CgroupDriver),
			Joined:       f.Joined,
		},
	}
	for _, s := range f.IDLike {
		d.Facts.IDLike = append(d.Facts.IDLike, S(s))
	}
	return d
}

func mapOf[S ~string](m map[string]string) map[string]S {
	out := make(map[string]S, len(m))
	for k, v := range m {
		out[k] = S(v)
	}
	return out
}

// maxRendered bounds what one template may produce.
const maxRendered = 4 << 20

// render executes text over d. Text without an action is returned as is.
func render[S ~string](text string, d *tmplData[S]) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := newTemplate(text)
	if err != nil {
		return "", cleanTemplateError(err)
	}
	var b limitedBuilder
	if err := t.Execute(&b, d); err != nil {
		return "", cleanTemplateError(err)
	}
	return b.String(), nil
}

func newTemplate(text string) (*template.Template, error) {
	return template.New("fleet").Option("missingkey=error").Funcs(templateFuncs).Parse(text)
}

// templateFuncs are the functions templates have beyond text/template's.
var templateFuncs = template.FuncMap{"systemdquote": systemdQuote}

// systemdQuote escapes a value for the inside of a double-quoted systemd
// setting (Environment="NAME={{ systemdquote .Vars.x }}"): backslash and
// double quote escaped, % doubled (systemd expands %-specifiers in unit
// files). Without it a value holding a quote could add settings of its own
// to a unit that runs as root. In run and unless the result is still
// quoted for the shell.
func systemdQuote(v any) (any, error) {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	switch v := v.(type) {
	case string:
		return esc.Replace(v), nil
	case word:
		return word(esc.Replace(string(v))), nil
	}
	return nil, fmt.Errorf("systemdquote: want a string, got %T", v)
}

// limitedBuilder stops a template that writes without end.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errors.New("the template's output is larger than 4 MiB")
	}
	return b.Builder.Write(p)
}

// templateMsg splits text/template's "template: fleet:3: what" and
// "template: fleet:3:7: executing "fleet" at <.X>: what".
var templateMsg = regexp.MustCompile(`^template: fleet:(\d+):(?:\d+:)? (?:executing "fleet" at )?(.*)$`)

// cleanTemplateError drops text/template's name for the template.
func cleanTemplateError(err error) error {
	if g := templateMsg.FindStringSubmatch(err.Error()); g != nil {
		return fmt.Errorf("line %s of the template: %s", g[1], g[2])
	}
	return err
}

// templateProblem is what checkTemplate finds: a line within the template
// (1 for the first) and what is wrong.
type templateProblem struct {
	line int
	msg  string
}

// checkTemplate parses text and checks that it only refers to the data a
// template gets: .Vars.<a declared variable>, .Facts.<a field>, .Platform
// and .Host. It walks the parse tree rather than executing the template,
// so that a typo in a branch the sample data would not take is found too.
// Inside range and with, dot is something else; those relative names are
// left to the run.
func checkTemplate(text string, vars map[string]string) *templateProblem {
	if !strings.Contains(text, "{{") {
		return nil
	}
	t, err := newTemplate(text)
	if err != nil {
		if g := templateMsg.FindStringSubmatch(err.Error()); g != nil {
			n, _ := strconv.Atoi(g[1])
			return &templateProblem{line: n, msg: g[2]}
		}
		return &templateProblem{line: 1, msg: err.Error()}
	}
	c := &refChecker{vars: vars, src: text}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		c.walk(tt.Tree.Root, true)
		if c.problem != nil {
			return c.problem
		}
	}
	return nil
}

// refChecker walks a template's parse tree for the names it uses.
type refChecker struct {
	vars    map[string]string
	src     string // the template's text, for line numbers
	problem *templateProblem
}

func (c *refChecker) walk(n parse.Node, rootDot bool) {
	if c.problem != nil || n == nil || reflect.ValueOf(n).IsNil() {
		return
	}
	switch n := n.(type) {
	case *parse.ListNode:
		for _, x := range n.Nodes {
			c.walk(x, rootDot)
		}
	case *parse.ActionNode:
		c.walk(n.Pipe, rootDot)
	case *parse.PipeNode:
		for _, cmd := range n.Cmds {
			c.walk(cmd, rootDot)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			c.walk(a, rootDot)
		}
	case *parse.ChainNode:
		c.walk(n.Node, rootDot)
	case *parse.IfNode:
		c.branch(&n.BranchNode, rootDot, rootDot)
	case *parse.WithNode:
		c.branch(&n.BranchNode, rootDot, false)
	case *parse.RangeNode:
		// Go 1.22 ranges over integers: a huge literal would spin the
		// run without output for hours.
		if k := lastArg(n.Pipe); k != nil && k.IsInt && k.Int64 > maxRangeInt {
			c.problem = &templateProblem{line: c.lineAt(k.Position()), msg: fmt.Sprintf("range over %d: at most %d", k.Int64, maxRangeInt)}
			return
		}
		c.branch(&n.BranchNode, rootDot, false)
	case *parse.TemplateNode:
		c.walk(n.Pipe, rootDot)
	case *parse.FieldNode:
		if rootDot {
			c.check(n.Ident, n.Position())
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			c.check(n.Ident[1:], n.Position())
		}
	}
}

// branch walks if, with and range: the body runs with dot changed (for
// with and range), the else part with dot as it was.
func (c *refChecker) branch(b *parse.BranchNode, rootDot, bodyDot bool) {
	c.walk(b.Pipe, rootDot)
	c.walk(b.List, bodyDot)
	c.walk(b.ElseList, rootDot)
}

// maxRangeInt bounds {{range N}}.
const maxRangeInt = 10000

// lastArg returns the number a pipeline ends in, if it is a bare number.
func lastArg(p *parse.PipeNode) *parse.NumberNode {
	if p == nil || len(p.Cmds) == 0 {
		return nil
	}
	args := p.Cmds[len(p.Cmds)-1].Args
	if len(args) != 1 {
		return nil
	}
	n, _ := args[0].(*parse.NumberNode)
	return n
}

// lineAt turns a byte offset into the template into a line (1 for the
// first).
func (c *refChecker) lineAt(pos parse.Pos) int {
	return 1 + strings.Count(c.src[:min(max(int(pos), 0), len(c.src))], "\n")
}

// check looks at a name used from the top of the data: .Vars.x, .Facts.ID,
// .Platform, .Host.
func (c *refChecker) check(ident []string, pos parse.Pos) {
	bad := func(format string, args ...any) {
		c.problem = &templateProblem{line: c.lineAt(pos), msg: fmt.Sprintf(format, args...)}
	}
	switch ident[0] {
	case "Vars":
		if len(ident) == 1 {
			bad("use .Vars.NAME, one variable at a time")
			return
		}
		if _, ok := c.vars[ident[1]]; !ok {
			bad("no variable %q (%s)", ident[1], declared(c.vars))
			return
		}
		if len(ident) > 2 {
			bad(".Vars.%s is a string: it has no field %s", ident[1], ident[2])
		}
	case "Facts":
		if len(ident) == 1 {
			bad("use .Facts.FIELD, one fact at a time")
			return
		}
		if !isFactField(ident[1]) {
			bad("no fact %q (the facts are %s)", ident[1], strings.Join(factFields(), ", "))
			return
		}
		if len(ident) > 2 && ident[1] != "OSRelease" || len(ident) > 3 {
			bad(".Facts.%s has no field %s", ident[1], ident[2])
		}
	case "Platform", "Host":
		if len(ident) > 1 {
			bad(".%s is a string: it has no field %s", ident[0], ident[1])
		}
	default:
		bad("unknown name .%s (a template sees .Vars.NAME, .Facts.FIELD, .Platform and .Host)", ident[0])
	}
}

// factFields lists the fields of Facts, the names .Facts offers.
func factFields() []string {
	t := reflect.TypeFor[Facts]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			names = append(names, f.Name)
		}
	}
	return names
}

func isFactField(name string) bool {
	f, ok := reflect.TypeFor[Facts]().FieldByName(name)
	return ok && f.IsExported()
}

// declared describes a recipe's variables for a message.
func declared(vars map[string]string) string {
	if len(vars) == 0 {
		return "the recipe declares no variables"
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	return "the recipe declares " + strings.Join(names, ", ")
}
