package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// This file reads ssh_config files the way OpenSSH's readconf.c does: one
// "Key value" or "Key=value" per line, keys case-insensitive, arguments
// split with OpenSSH's quoting rules, Include expanded (globs, paths
// relative to ~/.ssh or /etc/ssh, at most 16 deep). The files are parsed
// once per run; evaluating them for a host (sshmatch.go) is cheap.

// confLine is one directive of an ssh_config file.
type confLine struct {
	pos  string   // "FILE:LINE", for messages and `fleet hosts`
	key  string   // lower case
	args []string // split as OpenSSH's argv_split does
	rest string   // the raw text after the key (ProxyCommand keeps it)
	// include holds the directives of the files an Include line names, in
	// glob order; nil for other keys.
	include []*confLine
}

// maxIncludeDepth is READCONF_MAX_DEPTH.
const maxIncludeDepth = 16

// confLoader parses files, remembering each one, so that a file included
// from several places is read once.
type confLoader struct {
	home  string
	cache map[string][]*confLine
}

// loadFile parses path. user says whether it is a user file (-F or
// ~/.ssh/config), which decides where a relative Include points.
func (l *confLoader) loadFile(path string, user bool, depth int) ([]*confLine, error) {
	if depth > maxIncludeDepth {
		return nil, fmt.Errorf("ssh config %s: too many nested Include (at most %d)", path, maxIncludeDepth)
	}
	if lines, ok := l.cache[path]; ok {
		return lines, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*confLine
	for i, text := range strings.Split(string(b), "\n") {
		cl, err := parseConfLine(text, fmt.Sprintf("%s:%d", path, i+1))
		if err != nil {
			return nil, err
		}
		if cl == nil {
			continue
		}
		if cl.key == "include" {
			if cl.include, err = l.include(cl, user, depth); err != nil {
				return nil, err
			}
		}
		out = append(out, cl)
	}
	l.cache[path] = out
	return out, nil
}

// include reads the files an Include line names. A pattern that matches
// nothing is no error, as in OpenSSH.
func (l *confLoader) include(cl *confLine, user bool, depth int) ([]*confLine, error) {
	var out []*confLine
	for _, arg := range cl.args {
		p := arg
		switch {
		case strings.HasPrefix(p, "~"):
			p = tildeExpand(p, l.home)
		case !filepath.IsAbs(p) && user:
			p = filepath.Join(l.home, ".ssh", p)
		case !filepath.IsAbs(p):
			p = filepath.Join("/etc/ssh", p)
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: Include %q: %w", cl.pos, arg, err)
		}
		for _, m := range matches {
			lines, err := l.loadFile(m, user, depth+1)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("ssh config %s: %w", cl.pos, err)
			}
			out = append(out, lines...)
		}
	}
	if out == nil {
		out = []*confLine{}
	}
	return out, nil
}

// tildeExpand expands a leading ~ or ~/ with home, as OpenSSH's tilde_expand
// does for the running user (~user forms are left alone).
func tildeExpand(s, home string) string {
	if s == "~" {
		return home
	}
	if strings.HasPrefix(s, "~/") {
		return filepath.Join(home, s[2:])
	}
	return s
}

// parseConfLine reads one line; blank lines and comments give nil.
func parseConfLine(text, pos string) (*confLine, error) {
	text = strings.TrimRight(text, " \t\r\f")
	key, rest := splitKeyword(text)
	if key == "" || key[0] == '#' {
		return nil, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("ssh config %s: no argument after keyword %q", pos, strings.ToLower(key))
	}
	args, err := splitArgs(rest)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", pos, err)
	}
	k := strings.ToLower(key)
	if a, ok := keyAliases[k]; ok {
		k = a
	}
	return &confLine{pos: pos, key: k, args: args, rest: rest}, nil
}

// splitKeyword separates the keyword from its arguments: whitespace or one
// "=" (with optional whitespace around it) ends the keyword, as
// OpenSSH's strdelim does.
func splitKeyword(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t=")
	if i < 0 {
		return s, ""
	}
	key, rest := s[:i], strings.TrimLeft(s[i:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	return key, rest
}

// splitArgs splits arguments as OpenSSH's argv_split with comments on: runs
// of blanks separate words, "..." and '...' quote (also inside a word),
// a backslash escapes a quote, a backslash or (unquoted) a space, and an
// unquoted word starting with # ends the line.
func splitArgs(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		if s[i] == '#' {
			break
		}
		var w strings.Builder
		var quote byte
		for ; i < len(s); i++ {
			c := s[i]
			if quote == 0 && (c == ' ' || c == '\t') {
				break
			}
			if c == '\\' && i+1 < len(s) {
				n := s[i+1]
				if n == '\'' || n == '"' || n == '\\' || (quote == 0 && n == ' ') {
					i++
					w.WriteByte(n)
					continue
				}
			}
			switch {
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				w.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, errors.New("invalid quotes")
		}
		out = append(out, w.String())
	}
	return out, nil
}
