package main

import "strings"

// lex splits a script into tokens: words ('...', "..." with parameters and
// backslash escapes, bare text), newlines, operators and redirections.
func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	var toks []token
	for {
		l.skipBlanks()
		if l.eof() {
			return append(toks, token{kind: tEOF}), nil
		}
		c := l.src[l.i]
		switch {
		case c == '#' && l.atWordStart():
			for !l.eof() && l.src[l.i] != '\n' {
				l.i++
			}
		case c == '\\' && l.i+1 < len(l.src) && l.src[l.i+1] == '\n':
			l.i += 2 // a line continued
		case c == '\n' || c == ';' || c == '(' || c == ')':
			if strings.HasPrefix(l.rest(), ";;") {
				return nil, &errUnsupported{"case"}
			}
			toks = append(toks, token{kind: tOp, op: string(c)})
			l.i++
		case strings.HasPrefix(l.rest(), "&&"), strings.HasPrefix(l.rest(), "||"):
			toks = append(toks, token{kind: tOp, op: l.rest()[:2]})
			l.i += 2
		case c == '|' || c == '&' || c == '`':
			return nil, &errUnsupported{"operator " + string(c)}
		case strings.HasPrefix(l.rest(), "<<"):
			return nil, &errUnsupported{"here-document"}
		default:
			if op := l.redirect(); op != "" {
				toks = append(toks, token{kind: tOp, op: op})
				continue
			}
			w, err := l.word()
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tWord, w: w})
		}
	}
}

type lexer struct {
	src string
	i   int
}

func (l *lexer) eof() bool    { return l.i >= len(l.src) }
func (l *lexer) rest() string { return l.src[l.i:] }

func (l *lexer) atWordStart() bool {
	return l.i == 0 || strings.IndexByte(" \t\n;&|()", l.src[l.i-1]) >= 0
}

func (l *lexer) skipBlanks() {
	for !l.eof() && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
		l.i++
	}
}

// redirect reads a redirection operator at a word's start.
func (l *lexer) redirect() string {
	for _, op := range redirects {
		if strings.HasPrefix(l.rest(), op) {
			l.i += len(op)
			return op
		}
	}
	return ""
}

// word reads one word: bare text, '...' and "..." in any sequence.
func (l *lexer) word() (word, error) {
	var w word
	var lit strings.Builder
	quoted := false
	flush := func() {
		if lit.Len() > 0 {
			w.parts = append(w.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for !l.eof() {
		c := l.src[l.i]
		if strings.IndexByte(" \t\n;&|<>()", c) >= 0 {
			break
		}
		switch c {
		case '`':
			return w, &errUnsupported{"backquote"}
		case '\'':
			quoted = true
			j := strings.IndexByte(l.src[l.i+1:], '\'')
			if j < 0 {
				return w, errIncomplete
			}
			lit.WriteString(l.src[l.i+1 : l.i+1+j])
			l.i += j + 2
		case '"':
			quoted = true
			l.i++
			if err := l.doubleQuoted(&w, &lit, flush); err != nil {
				return w, err
			}
		case '\\':
			quoted = true
			if l.i+1 >= len(l.src) {
				return w, errIncomplete
			}
			if l.src[l.i+1] != '\n' {
				lit.WriteByte(l.src[l.i+1])
			}
			l.i += 2
		case '$':
			flush()
			p, err := l.param()
			if err != nil {
				return w, err
			}
			quoted = true // not a keyword
			w.parts = append(w.parts, p)
		default:
			lit.WriteByte(c)
			l.i++
		}
	}
	flush()
	if !quoted && len(w.parts) == 1 {
		w.plain = w.parts[0].lit
	}
	return w, nil
}

// doubleQuoted reads up to the closing quote.
func (l *lexer) doubleQuoted(w *word, lit *strings.Builder, flush func()) error {
	for {
		if l.eof() {
			return errIncomplete
		}
		d := l.src[l.i]
		switch {
		case d == '"':
			l.i++
			return nil
		case d == '\\' && l.i+1 < len(l.src) && strings.IndexByte("$\"\\`\n", l.src[l.i+1]) >= 0:
			if l.src[l.i+1] != '\n' {
				lit.WriteByte(l.src[l.i+1])
			}
			l.i += 2
		case d == '`':
			return &errUnsupported{"backquote"}
		case d == '$':
			flush()
			p, err := l.param()
			if err != nil {
				return err
			}
			p.quoted = true
			w.parts = append(w.parts, p)
		default:
			lit.WriteByte(d)
			l.i++
		}
	}
}

// param reads $$, $?, $#, $@, $0-$9, $NAME, ${NAME}, ${NAME:-word} and
// ${NAME-word} (word taken literally); a lone $ is literal.
func (l *lexer) param() (part, error) {
	l.i++ // the $
	if l.eof() {
		return part{lit: "$"}, nil
	}
	c := l.src[l.i]
	switch {
	case strings.IndexByte("$?#@", c) >= 0 || c >= '0' && c <= '9':
		l.i++
		return part{name: string(c)}, nil
	case c == '(':
		return part{}, &errUnsupported{"$(...)"}
	case c == '{':
		j := strings.IndexByte(l.src[l.i:], '}')
		if j < 0 {
			return part{}, errIncomplete
		}
		body := l.src[l.i+1 : l.i+j]
		l.i += j + 1
		p := part{name: body}
		if k := strings.IndexAny(body, ":-"); k >= 0 {
			p.name, p.hasDef = body[:k], true
			rest := body[k:]
			if p.colon = strings.HasPrefix(rest, ":-"); p.colon {
				p.def = rest[2:]
			} else if strings.HasPrefix(rest, "-") {
				p.def = rest[1:]
			} else {
				return part{}, &errUnsupported{"${" + body + "}"}
			}
		}
		if !isName(p.name) && !(len(p.name) == 1 && strings.IndexByte("$?#@0123456789", p.name[0]) >= 0) {
			return part{}, &errUnsupported{"${" + body + "}"}
		}
		return p, nil
	}
	j := l.i
	for j < len(l.src) && (isNameByte(l.src[j]) || j > l.i && l.src[j] >= '0' && l.src[j] <= '9') {
		j++
	}
	if j == l.i {
		return part{lit: "$"}, nil
	}
	name := l.src[l.i:j]
	l.i = j
	return part{name: name}, nil
}

func isNameByte(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isName(s string) bool {
	if s == "" || !isNameByte(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameByte(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}
