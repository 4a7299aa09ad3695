package recipes

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/fleet-sh/fleet/fleet"
)

// Values reach run and unless structurally, not by quoting them into the
// text: the rendered command, with a placeholder for each value, is parsed
// with a shell parser (bash's grammar, which covers POSIX sh), and each
// placeholder is replaced according to where it stands:
//
//	a plain word, a case pattern    "$_fleet_vN"
//	inside double quotes            ${_fleet_vN}
//	an unquoted here-document body  ${_fleet_vN}
//	arithmetic: $(( )), (( )), let, ${x:N}, an array index, [[ -eq ]]
//	                                the value itself, if it is a plain
//	                                decimal integer; refused otherwise
//
// _fleet_vN is set in the command's environment by fleet (fleet.Command's
// Vars), never written into the command line, so the shell expands it
// once and never reads the value as code: no quote, $( ), backquote or
// newline in a value can do anything. Everywhere else a value is refused
// with a message that says what to write instead: inside single quotes or
// a quoted here-document (the reference would stay literal text), in a
// comment, in a here-document's delimiter, inside ${...}, in the place of
// a name (a variable, a function, a file descriptor), after a backslash,
// as an argument of eval, trap, sh -c and the like (they run it as code),
// or of the builtins that take variable names (bash evaluates array
// subscripts in those), and wherever the parser's tree does not say.

// shellCmd is a rendered run or unless.
type shellCmd struct {
	line    string      // what runs: references where values were
	env     [][2]string // the variables the references name, with the values
	display string      // for people: values quoted, secrets as <secret>
	secret  bool        // a secret value is in env
}

// renderShell renders a run or unless template over d. name tells, for a
// value, what to call it in a message ("variable x").
func renderShell(text string, d any, name func(value string, secret bool) string) (*shellCmd, error) {
	out, err := execute(text, d)
	if err != nil {
		return nil, err
	}
	occ := findPlaceholders(out)
	if len(occ) == 0 {
		return &shellCmd{line: out, display: out}, nil
	}
	pl, err := placeValues(out, occ)
	if err != nil {
		return nil, err
	}
	cmd := &shellCmd{}
	var line, disp strings.Builder
	refs := map[string]string{} // value -> variable
	last := 0
	for i, o := range occ {
		line.WriteString(out[last:o.start])
		disp.WriteString(out[last:o.start])
		last = o.end
		p := pl[i]
		if p.kind == ctxArith && !isPlainInt(o.value) {
			p = refuse("is in arithmetic ($(( )), (( )), let, ${x:N}, an array index or [[ -eq ]]), where the shell " +
				"evaluates text as code: only a plain decimal integer may stand there, and this value is not one")
		}
		if p.kind == ctxRefuse {
			return nil, fmt.Errorf("%s %s", name(o.value, o.secret), p.why)
		}
		if o.secret {
			cmd.secret = true
			disp.WriteString(secretMask)
		} else {
			disp.WriteString(fleet.Quote(o.value))
		}
		if p.kind == ctxArith {
			line.WriteString(o.value)
			continue
		}
		v, ok := refs[o.value]
		if !ok {
			v = "_fleet_v" + strconv.Itoa(len(refs)+1)
			refs[o.value] = v
			cmd.env = append(cmd.env, [2]string{v, o.value})
		}
		if p.kind == ctxWord {
			line.WriteString(`"$` + v + `"`)
		} else {
			line.WriteString("${" + v + "}")
		}
	}
	line.WriteString(out[last:])
	disp.WriteString(out[last:])
	cmd.line, cmd.display = line.String(), disp.String()
	return cmd, nil
}

// isPlainInt: digits, no sign, no leading zero (bash reads 010 as octal),
// at most 18 of them (no overflow).
var plainInt = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})$`)

func isPlainInt(s string) bool { return plainInt.MatchString(s) }

type ctxKind int

const (
	ctxRefuse  ctxKind = iota // not a place for a value; why says why
	ctxWord                   // part of an unquoted word
	ctxDouble                 // inside double quotes
	ctxHeredoc                // in an unquoted here-document's body
	ctxArith                  // in arithmetic
)

type placement struct {
	kind ctxKind
	why  string
}

func refuse(why string) placement { return placement{kind: ctxRefuse, why: why} }

// The messages of the refusals that a walk finds.
const (
	whyUnknown   = "stands where fleet cannot tell how the shell reads it; put it in a plain word or in double quotes"
	whySingle    = "is inside single quotes, where the shell takes text literally: write it outside them ('a'{{ .Vars.x }}'b') or in double quotes (\"a{{ .Vars.x }}b\")"
	whyComment   = "is in a shell comment; take it out of the comment"
	whyQuotedDoc = "is in the body of a quoted here-document (<<'EOF'), which the shell takes literally: use an unquoted delimiter (<<EOF), where values are passed safely"
	whyDelimiter = "is a here-document's delimiter; write the delimiter out"
	whyParamExp  = "is inside ${...}; assign it to a variable first (v={{ .Vars.x }}) and use \"${v...}\""
	whyName      = "stands where the shell wants a name (a variable, a function, a file descriptor), not a value"
	whyBackslash = "follows a backslash, which would escape the shell's reference to it; remove the backslash"
	whyBackquote = "is in backquotes nested in double quotes or backquotes; use $( ) instead"
	whyDecl      = "is in a declare/typeset/local/export with options, where bash may evaluate or rename it; assign it plainly (export v={{ .Vars.x }})"
)

// codeCommands run an argument as shell code; nameCommands take variable
// names, in which bash evaluates an array subscript (unset 'a[$(cmd)]').
var (
	codeCommands = map[string]bool{"eval": true, "trap": true, "let": true, "alias": true}
	nameCommands = map[string]bool{"unset": true, "read": true, "getopts": true, "mapfile": true, "readarray": true,
		"declare": true, "typeset": true, "local": true, "export": true, "readonly": true, "nameref": true,
		"wait": true, "printf": true, "test": true, "[": true, "compgen": true, "complete": true, "bind": true}
	// shells run the argument of their -c as a script; su and runuser
	// too.
	shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "ksh": true, "mksh": true, "zsh": true,
		"busybox": true, "su": true, "runuser": true}
	// promptVars are expanded, command substitutions and all, each time
	// bash prints a prompt or a trace line.
	promptVars = map[string]bool{"PS0": true, "PS1": true, "PS2": true, "PS3": true, "PS4": true, "PROMPT_COMMAND": true}
)

// placeValues parses text and says, for each placeholder in occ, where it
// stands. Whatever no node of the tree accounts for is refused.
func placeValues(text string, occ []found) ([]placement, error) {
	f, err := syntax.NewParser(syntax.KeepComments(true), syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(text), "")
	if err != nil {
		return nil, fmt.Errorf("a value goes into a command that fleet cannot read as shell (%v)", err)
	}
	pl := make([]placement, len(occ))
	for i := range pl {
		pl[i] = refuse(whyUnknown)
	}
	// mark sets the placement of the placeholders within [start, end).
	// The walk goes from the outside in, so the innermost node has the
	// last word.
	mark := func(n syntax.Node, p placement) {
		start, end := int(n.Pos().Offset()), int(n.End().Offset())
		for i, o := range occ {
			if o.start >= start && o.end <= end {
				pl[i] = p
			}
		}
	}
	var stack []syntax.Node
	syntax.Walk(f, func(n syntax.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		switch n := n.(type) {
		case *syntax.SglQuoted:
			mark(n, refuse(whySingle))
		case *syntax.Comment:
			mark(n, refuse(whyComment))
		case *syntax.Lit:
			p := litPlacement(stack)
			if p.kind != ctxRefuse && p.kind != ctxArith && afterBackslash(text, occ, n) {
				p = refuse(whyBackslash)
			}
			mark(n, p)
		}
		return true
	})
	return pl, nil
}

// afterBackslash says whether a placeholder in lit follows an odd run of
// backslashes, which would escape what replaces it.
func afterBackslash(text string, occ []found, lit *syntax.Lit) bool {
	start, end := int(lit.Pos().Offset()), int(lit.End().Offset())
	for _, o := range occ {
		if o.start < start || o.end > end {
			continue
		}
		n := 0
		for i := o.start - 1; i >= 0 && text[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
	}
	return false
}

// litPlacement says what a literal, the last node of stack, is to the
// shell: it looks from the literal outwards until a node settles it.
func litPlacement(stack []syntax.Node) placement {
	lit := stack[len(stack)-1]
	if len(stack) < 2 {
		return refuse(whyUnknown)
	}
	switch stack[len(stack)-2].(type) {
	case *syntax.Word, *syntax.DblQuoted:
	default:
		return refuse(whyName) // Assign.Name, ParamExp.Param, Redirect.N, a function's name...
	}
	for i := len(stack) - 2; i >= 0; i-- {
		if c, ok := stack[i].(*syntax.CmdSubst); ok && c.Backquotes && nestedBackquote(stack[:i]) {
			return refuse(whyBackquote)
		}
	}
	base := placement{kind: ctxWord}
	settled := false // the nearest quoting (double quotes, a here-document) has been seen
	child := lit
	for i := len(stack) - 2; i >= 0; i-- {
		switch n := stack[i].(type) {
		case *syntax.DblQuoted:
			if !settled {
				base, settled = placement{kind: ctxDouble}, true
			}
		case *syntax.Redirect:
			if n.Hdoc != nil && child == syntax.Node(n.Hdoc) {
				if quotedDelimiter(n.Word) {
					return refuse(whyQuotedDoc)
				}
				if !settled {
					base, settled = placement{kind: ctxHeredoc}, true
				}
			} else if child == syntax.Node(n.Word) && (n.Op == syntax.Hdoc || n.Op == syntax.DashHdoc) {
				return refuse(whyDelimiter)
			}
		case *syntax.ArithmExp, *syntax.ArithmCmd, *syntax.LetClause, *syntax.CStyleLoop,
			*syntax.BinaryArithm, *syntax.UnaryArithm, *syntax.ParenArithm:
			return placement{kind: ctxArith}
		case *syntax.Assign:
			if n.Index != nil && child == syntax.Node(n.Index) {
				return placement{kind: ctxArith}
			}
			if n.Name != nil && promptVars[n.Name.Value] {
				return refuse("is assigned to " + n.Name.Value + ", which bash expands as code when it prompts or traces")
			}
		case *syntax.ArrayElem:
			if n.Index != nil && child == syntax.Node(n.Index) {
				return placement{kind: ctxArith}
			}
		case *syntax.ParamExp:
			return refuse(whyParamExp)
		case *syntax.BinaryTest:
			switch n.Op {
			case syntax.TsEql, syntax.TsNeq, syntax.TsLeq, syntax.TsGeq, syntax.TsLss, syntax.TsGtr:
				return placement{kind: ctxArith}
			}
		case *syntax.UnaryTest:
			if n.Op == syntax.TsVarSet || n.Op == syntax.TsRefVar {
				return refuse(whyName)
			}
		case *syntax.DeclClause:
			return declPlacement(n, child, base)
		case *syntax.CallExpr:
			if p, ok := callPlacement(n, child); !ok {
				return p
			}
			return base
		case *syntax.CmdSubst, *syntax.ProcSubst,
			*syntax.CaseClause, *syntax.ForClause, *syntax.WordIter, *syntax.Stmt, *syntax.TestClause:
			// A command substitution is a new command: the quoting
			// outside it does not reach in.
			return base
		}
		child = stack[i]
	}
	return base
}

// nestedBackquote: a backquoted substitution inside double quotes or other
// backquotes, where the shell processes backslashes and quotes before
// parsing and the rules differ between shells.
func nestedBackquote(outer []syntax.Node) bool {
	for i := len(outer) - 1; i >= 0; i-- {
		switch n := outer[i].(type) {
		case *syntax.DblQuoted:
			return true
		case *syntax.CmdSubst:
			return n.Backquotes
		}
	}
	return false
}

// quotedDelimiter: any quoting in a here-document's delimiter makes its
// body literal.
func quotedDelimiter(w *syntax.Word) bool {
	for _, p := range w.Parts {
		l, ok := p.(*syntax.Lit)
		if !ok || strings.ContainsRune(l.Value, '\\') {
			return true
		}
	}
	return false
}

// callPlacement checks a value that is an argument of a simple command:
// ok is false with a refusal when the command runs it as code or takes it
// as a variable name.
func callPlacement(c *syntax.CallExpr, child syntax.Node) (placement, bool) {
	idx := slices.IndexFunc(c.Args, func(a *syntax.Word) bool { return syntax.Node(a) == child })
	if idx <= 0 {
		return placement{}, true // the command's name, or an assignment before it
	}
	name := c.Args[0].Lit()
	switch {
	case name == "command" || name == "builtin" || name == "exec" || name == "sudo" || name == "env":
		// command eval x, sudo sh -c x: look at what they run.
		return callPlacement(&syntax.CallExpr{Args: c.Args[1:]}, child)
	case codeCommands[name]:
		return refuse("is an argument of " + name + ", which runs it as shell code"), false
	case nameCommands[name]:
		prev := c.Args[idx-1].Lit()
		switch name {
		case "printf", "wait":
			if prev == "-v" || prev == "-p" {
				return refuse("is the variable name that " + name + " " + prev + " takes"), false
			}
			return placement{}, true
		case "test", "[":
			if prev == "-v" || prev == "-R" {
				return refuse(whyName), false
			}
			return placement{}, true
		}
		return refuse("is an argument of " + name + ", which takes variable names (bash evaluates array subscripts in them)"), false
	}
	// sh -c V, also behind any wrapper: sudo -u x bash -c V, timeout 5
	// sh -c V, find -exec sh -c V, xargs sh -c V.
	if prev := c.Args[idx-1].Lit(); strings.HasPrefix(prev, "-") && !strings.HasPrefix(prev, "--") && strings.Contains(prev, "c") {
		for _, a := range c.Args[:idx-1] {
			if sh := path.Base(a.Lit()); shells[sh] {
				return refuse("is the script of " + sh + " " + prev + ", which runs it as shell code; pass it as an argument after the script (sh -c 'echo \"$1\"' sh {{ .Vars.x }})"), false
			}
		}
	}
	return placement{}, true
}

// declPlacement: declare, local, export... Without options a value may be
// assigned (export v={{ .Vars.x }}); with them bash may evaluate it (-i),
// make it a reference (-n) or an array.
func declPlacement(d *syntax.DeclClause, child syntax.Node, base placement) placement {
	for _, a := range d.Args {
		if a.Naked && a.Value != nil && strings.HasPrefix(a.Value.Lit(), "-") {
			return refuse(whyDecl)
		}
	}
	for _, a := range d.Args {
		if syntax.Node(a) == child && !a.Naked && a.Value != nil {
			return base
		}
	}
	return refuse(whyDecl)
}
