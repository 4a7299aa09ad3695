package recipes

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Templates are text/template with missingkey=error, over this data:
//
//	.Vars.NAME     a variable the recipe declares (--var overrides it)
//	.Facts.FIELD   a field of Facts (.Facts.ID, .Facts.Codename, ...)
//	.Platform      the name of the platform chosen for the host
//	.Host          the host's label
//
// Every value a template sees is a slot (a secret variable's, a
// secretSlot): a string that prints itself as a placeholder carrying the
// value in hex. eq, lt, with and friends look at the underlying string,
// so {{if eq .Facts.ID "ubuntu"}} works as with plain strings. What is
// done with a placeholder depends on where the rendered text goes:
//
//   - run and unless are shell: the rendered command is parsed with a real
//     shell parser and each placeholder replaced according to where it
//     stands (see shellrender.go): a reference to an environment variable
//     that holds the value, never the value's text, so that no quoting of
//     the value is ever needed and no context can run it;
//   - file content, put, creates and owner are not shell: the placeholder
//     is replaced by the value as it is (fleet quotes paths and owners as a
//     whole where it uses them).

// slot is a value in a template: it prints as a placeholder that a
// renderer replaces (see placeholders).
type slot string

// String prints the placeholder.
func (s slot) String() string { return placeholder('p', string(s)) }

// secretSlot is the value of a secret variable: it prints as a placeholder
// of its own kind, so that a renderer knows to keep it out of commands
// lines, records and plans, even after slice or systemdquote.
type secretSlot string

// String prints the placeholder.
func (s secretSlot) String() string { return placeholder('s', string(s)) }

// tmplFacts mirrors Facts with its text fields of type S. A test keeps its
// fields in step with Facts.
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
	// CgroupDrivers and the CRI facts: see Facts.
	CgroupDrivers map[string]S
	DockerVersion S
	CRI           S
	CRIProblem    S
}

// tmplData is what a template sees as dot. Vars holds slots, or
// secretSlots for secret variables.
type tmplData[S ~string] struct {
	Vars     map[string]any
	Facts    tmplFacts[S]
	Platform S
	Host     S
	// Stdout is a run step's output, for its changed_when only.
	Stdout S
}

func newData[S ~string](vars map[string]string, f *Facts, platform, host string) *tmplData[S] {
	if f == nil {
		f = &Facts{}
	}
	d := &tmplData[S]{
		Vars:     make(map[string]any, len(vars)),
		Platform: S(platform),
		Host:     S(host),
		Facts: tmplFacts[S]{
			OSRelease:     mapOf[S](f.OSRelease),
			ID:            S(f.ID),
			VersionID:     S(f.VersionID),
			Codename:      S(f.Codename),
			PrettyName:    S(f.PrettyName),
			Arch:          S(f.Arch),
			DebArch:       S(f.DebArch),
			Init:          S(f.Init),
			SudoPassword:  f.SudoPassword,
			CgroupDriver:  S(f.CgroupDriver),
			Joined:        f.Joined,
			CgroupDrivers: mapOf[S](f.CgroupDrivers),
			DockerVersion: S(f.DockerVersion),
			CRI:           S(f.CRI),
			CRIProblem:    S(f.CRIProblem),
		},
	}
	for k, v := range vars {
		d.Vars[k] = S(v)
	}
	for _, s := range f.IDLike {
		d.Facts.IDLike = append(d.Facts.IDLike, S(s))
	}
	return d
}

// newSlots is the data of an Apply: every value a slot, the secret
// variables' secretSlots.
func newSlots(r *Recipe, f *Facts, platform, host string) *tmplData[slot] {
	d := newData[slot](r.Vars, f, platform, host)
	for k, v := range r.Vars {
		if r.IsSecret(k) {
			d.Vars[k] = secretSlot(v)
		}
	}
	return d
}

// mapOf converts a map of strings; nil stays nil.
func mapOf[S ~string](m map[string]string) map[string]S {
	if m == nil {
		return nil
	}
	out := make(map[string]S, len(m))
	for k, v := range m {
		out[k] = S(v)
	}
	return out
}

// Bounds on one render: what a template may write, and for how long it
// may run. A template cannot call itself (checkCalls), so its depth is at
// most the number of templates it defines.
const (
	maxRendered  = 2 << 20
	renderBudget = 2 * time.Second
)

// execute runs text over d and returns what it printed (placeholders and
// all). Text without an action is returned as is.
func execute(text string, d any) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := newTemplate(text)
	if err != nil {
		return "", cleanTemplateError(err)
	}
	if err := checkCalls(t); err != nil {
		return "", err
	}
	b := &limitedBuilder{deadline: time.Now().Add(renderBudget)}
	if err := t.Execute(b, d); err != nil {
		return "", cleanTemplateError(err)
	}
	return b.String(), nil
}

// renderRaw renders text for a place that is not shell (file content,
// paths, owners): each value as it is. secret says whether a secret
// variable's value is in the result.
func renderRaw(text string, d any) (out string, secret bool, err error) {
	out, err = execute(text, d)
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	last := 0
	for _, p := range findPlaceholders(out) {
		b.WriteString(out[last:p.start])
		b.WriteString(p.value)
		secret = secret || p.secret
		last = p.end
	}
	if last == 0 {
		return out, false, nil
	}
	b.WriteString(out[last:])
	return b.String(), secret, nil
}

func newTemplate(text string) (*template.Template, error) {
	return template.New("fleet").Option("missingkey=error").Funcs(templateFuncs).Parse(text)
}

// checkCalls refuses a template that calls itself, directly or through
// others ({{define "t"}}{{template "t"}}{{end}}): text/template would go
// 100000 calls deep, and take tens of megabytes, before it stopped.
func checkCalls(t *template.Template) error {
	calls := map[string][]string{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			walkTemplateCalls(tt.Tree.Root, func(name string) { calls[tt.Name()] = append(calls[tt.Name()], name) })
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case active:
			return fmt.Errorf("template %q calls itself: a template cannot recurse", name)
		case done:
			return nil
		}
		state[name] = active
		for _, c := range calls[name] {
			if err := visit(c); err != nil {
				return err
			}
		}
		state[name] = done
		return nil
	}
	for _, n := range sortedKeys(calls) {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// walkTemplateCalls calls f with the name of every {{template}} under n.
func walkTemplateCalls(n parse.Node, f func(string)) {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return
	}
	switch n := n.(type) {
	case *parse.ListNode:
		for _, x := range n.Nodes {
			walkTemplateCalls(x, f)
		}
	case *parse.IfNode:
		walkTemplateCalls(n.List, f)
		walkTemplateCalls(n.ElseList, f)
	case *parse.RangeNode:
		walkTemplateCalls(n.List, f)
		walkTemplateCalls(n.ElseList, f)
	case *parse.WithNode:
		walkTemplateCalls(n.List, f)
		walkTemplateCalls(n.ElseList, f)
	case *parse.TemplateNode:
		f(n.Name)
	}
}

// templateFuncs are the functions templates have beyond text/template's.
var templateFuncs = func() template.FuncMap {
	m := template.FuncMap{"systemdquote": systemdQuote}
	maps.Copy(m, condFuncs)
	return m
}()

// systemdQuote escapes a value for the inside of a double-quoted systemd
// setting (Environment="NAME={{ systemdquote .Vars.x }}"): backslash and
// double quote escaped, % doubled (systemd expands %-specifiers in unit
// files). Without it a value holding a quote could add settings of its own
// to a unit that runs as root. The result is a value of the same kind.
func systemdQuote(v any) (any, error) {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	switch v := v.(type) {
	case string:
		return esc.Replace(v), nil
	case slot:
		return slot(esc.Replace(string(v))), nil
	case secretSlot:
		return secretSlot(esc.Replace(string(v))), nil
	}
	return nil, fmt.Errorf("systemdquote: want a string, got %T", v)
}

// limitedBuilder stops a template that writes without end, or for too
// long: text/template stops at the first failed write.
type limitedBuilder struct {
	strings.Builder
	deadline time.Time
}

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errors.New("the template's output is larger than 2 MiB")
	}
	if time.Now().After(b.deadline) {
		return 0, fmt.Errorf("the template ran for more than %s", renderBudget)
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
	return checkTemplateData(text, vars, false)
}

// checkTemplateData is checkTemplate, with .Stdout allowed or not.
func checkTemplateData(text string, vars map[string]string, stdout bool) *templateProblem {
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
	if err := checkCalls(t); err != nil {
		return &templateProblem{line: 1, msg: err.Error()}
	}
	c := &refChecker{vars: vars, src: text, ranges: 1, stdout: stdout}
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
	ranges  int64 // how many times the current node runs, from the ranges around it
	stdout  bool  // .Stdout may be used (changed_when)
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
		// Nested ranges multiply, and a range over a variable may be
		// over any number: only literal counts, bounded together.
		count := int64(1)
		if k := lastArg[*parse.NumberNode](n.Pipe); k != nil && k.IsInt {
			count = max(k.Int64, 1)
		} else if v := lastArg[*parse.VariableNode](n.Pipe); v != nil && len(v.Ident) == 1 {
			c.problem = &templateProblem{line: c.lineAt(v.Position()), msg: "range over a variable: range over a list (.Facts.IDLike) or a number written out"}
			return
		}
		if count > maxRangeInt || c.ranges*count > maxRangeInt {
			c.problem = &templateProblem{line: c.lineAt(n.Position()), msg: fmt.Sprintf("range over %d (with the ranges around it, %d): at most %d in all", count, c.ranges*count, maxRangeInt)}
			return
		}
		outer := c.ranges
		c.ranges *= count
		c.walk(n.Pipe, rootDot)
		c.walk(n.List, false)
		c.ranges = outer
		c.walk(n.ElseList, rootDot)
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

// lastArg returns the node a pipeline ends in, if it is a bare one of
// type N (a number, a variable).
func lastArg[N parse.Node](p *parse.PipeNode) (n N) {
	if p == nil || len(p.Cmds) == 0 {
		return n
	}
	if args := p.Cmds[len(p.Cmds)-1].Args; len(args) == 1 {
		n, _ = args[0].(N)
	}
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
		if len(ident) > 2 && ident[1] != "OSRelease" && ident[1] != "CgroupDrivers" || len(ident) > 3 {
			bad(".Facts.%s has no field %s", ident[1], ident[2])
		}
	case "Stdout":
		if !c.stdout {
			bad(".Stdout is a command's output: only changed_when sees it")
		} else if len(ident) > 1 {
			bad(".Stdout is a string: it has no field %s", ident[1])
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
	return "the recipe declares " + strings.Join(sortedKeys(vars), ", ")
}
