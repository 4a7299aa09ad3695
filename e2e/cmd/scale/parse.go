package main

import (
	"errors"
	"strings"
)

// This is the parser of miniShell (shell.go): a small subset of POSIX sh,
// enough for what fleet sends. It reports errIncomplete when the input
// ends inside a construct (an open quote, an if without fi, a function
// body without its brace), so that sh -s can read more input and try
// again, and *errUnsupported for what it does not know.

var errIncomplete = errors.New("incomplete input")

// part is a piece of a word: literal text, or a parameter (name "$", "?",
// "#", "@", "0".."9" or a variable name) expanded when the command runs.
type part struct {
	lit    string
	name   string
	def    string // ${name:-def} or ${name-def}
	hasDef bool
	colon  bool // ":-": the default also replaces an empty value
	quoted bool // inside "...": never split into fields, never dropped
}

// word is one shell word before expansion; plain is its text when it is
// a bare unquoted literal, the only form in which it can be a keyword.
type word struct {
	parts []part
	plain string
}

type tokKind int

const (
	tWord tokKind = iota
	tOp           // ; \n && || { } ( ) and redirections
	tEOF
)

type token struct {
	kind tokKind
	op   string
	w    word
}

// Commands. A list runs its and-or items in order; an and-or runs its
// commands while && and || allow; a command is one of the kinds below.
type (
	list  []andOr
	andOr struct {
		cmds []command
		ops  []string
	} // len(ops) == len(cmds)-1
	redir struct {
		op     string
		target word
	}
	simple struct {
		words  []word
		redirs []redir
	}
	ifCmd struct {
		conds, bodies []list
		orElse        list
		hasElse       bool
	}
	funcDef struct {
		name string
		body list
	}
	group   struct{ body list }
	command interface{}
)

// parse parses a whole script.
func parse(src string) (list, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	l, err := p.list(nil)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &errUnsupported{"unexpected " + t.op + t.w.plain}
	}
	return l, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

// keyword reports whether the next token is the bare word kw.
func (p *parser) keyword(kw string) bool {
	t := p.peek()
	return t.kind == tWord && t.w.plain == kw || t.kind == tOp && t.op == kw
}

func (p *parser) skipNewlines() {
	for t := p.peek(); t.kind == tOp && (t.op == "\n" || t.op == ";"); t = p.peek() {
		p.i++
	}
}

// list parses and-ors until EOF or one of the stop keywords.
func (p *parser) list(stop []string) (list, error) {
	var l list
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tEOF {
			if len(stop) > 0 {
				return nil, errIncomplete
			}
			return l, nil
		}
		for _, s := range stop {
			if p.keyword(s) {
				return l, nil
			}
		}
		ao, err := p.andOr()
		if err != nil {
			return nil, err
		}
		l = append(l, ao)
	}
}

func (p *parser) andOr() (andOr, error) {
	var ao andOr
	for {
		c, err := p.command()
		if err != nil {
			return ao, err
		}
		ao.cmds = append(ao.cmds, c)
		t := p.peek()
		if t.kind != tOp || t.op != "&&" && t.op != "||" {
			return ao, nil
		}
		p.i++
		ao.ops = append(ao.ops, t.op)
		for p.peek().kind == tOp && p.peek().op == "\n" {
			p.i++
		}
		if p.peek().kind == tEOF {
			return ao, errIncomplete
		}
	}
}

func (p *parser) command() (command, error) {
	t := p.peek()
	switch {
	case p.keyword("if"):
		return p.ifCmd()
	case p.keyword("{"):
		p.i++
		body, err := p.list([]string{"}"})
		if err != nil {
			return nil, err
		}
		p.i++
		return group{body}, nil
	case t.kind == tWord && isName(t.w.plain) && p.i+2 < len(p.toks) && p.toks[p.i+1].op == "(" && p.toks[p.i+2].op == ")":
		p.i += 3
		p.skipNewlines()
		if p.peek().kind == tEOF {
			return nil, errIncomplete
		}
		if !p.keyword("{") {
			return nil, &errUnsupported{"function body other than { ... }"}
		}
		body, err := p.command()
		if err != nil {
			return nil, err
		}
		return funcDef{name: t.w.plain, body: body.(group).body}, nil
	}
	for _, kw := range []string{"while", "until", "for", "case", "(", "!"} {
		if p.keyword(kw) {
			return nil, &errUnsupported{"compound command " + kw}
		}
	}
	return p.simple()
}

func (p *parser) ifCmd() (command, error) {
	var c ifCmd
	p.i++ // if
	for {
		cond, err := p.list([]string{"then"})
		if err != nil {
			return nil, err
		}
		p.i++
		body, err := p.list([]string{"elif", "else", "fi"})
		if err != nil {
			return nil, err
		}
		c.conds, c.bodies = append(c.conds, cond), append(c.bodies, body)
		switch kw := p.next().w.plain; kw {
		case "elif":
			continue
		case "else":
			if c.orElse, err = p.list([]string{"fi"}); err != nil {
				return nil, err
			}
			c.hasElse = true
			p.i++
		}
		return c, nil
	}
}

func (p *parser) simple() (command, error) {
	var s simple
	for {
		t := p.peek()
		switch {
		case t.kind == tWord && (len(s.words) > 0 || !isReserved(t.w.plain)):
			s.words = append(s.words, t.w)
			p.i++
		case t.kind == tOp && isRedirect(t.op):
			p.i++
			r := redir{op: t.op}
			if !strings.Contains(t.op, "&") {
				if p.peek().kind != tWord {
					return nil, &errUnsupported{"redirection without a file"}
				}
				r.target = p.next().w
			}
			s.redirs = append(s.redirs, r)
		default:
			if len(s.words) == 0 && len(s.redirs) == 0 {
				return nil, &errUnsupported{"unexpected " + t.op + t.w.plain}
			}
			return s, nil
		}
	}
}

func isReserved(w string) bool {
	switch w {
	case "then", "elif", "else", "fi", "do", "done", "esac", "}":
		return true
	}
	return false
}

var redirects = []string{"1>&2", "2>&1", ">&2", "2>>", "2>", "1>", ">>", ">", "<"}

func isRedirect(op string) bool {
	for _, r := range redirects {
		if op == r {
			return true
		}
	}
	return false
}
