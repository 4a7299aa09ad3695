package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// format is what kind of host file a text is, told by its content.
type format int

const (
	formatPssh    format = iota // one host spec a line, no sections: read as always
	formatGrouped               // pssh lines under [group] sections
	formatAnsible               // an Ansible INI inventory
)

// detectFormat tells a pssh host file from one with [group] sections and
// from an Ansible INI inventory. Every valid pssh file stays a pssh file:
// each sign of the other two ("[web]", ";", key=value, web[01:20],
// [web:children]) is a line that pssh files refuse, and [1-3] or
// [2001:db8::1]:22 lines are hosts, not sections.
func detectFormat(lines []string) format {
	f := formatPssh
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == ';' {
			return formatAnsible
		}
		if _, kind, ok := sectionHeader(line, false); ok {
			if kind != "" {
				return formatAnsible
			}
			f = formatGrouped
			continue
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := splitFields(line)
		if len(fields) == 0 {
			continue
		}
		if hasAnsibleRange(fields[0]) {
			return formatAnsible
		}
		for _, fl := range fields[1:] {
			if k, _, ok := strings.Cut(fl, "="); ok && isVariableName(k) {
				return formatAnsible
			}
		}
	}
	return f
}

// sectionHeader reads "[name]" or "[name:kind]", with white space and a "#"
// comment allowed after it, as Ansible's INI parser does. Bracket content
// that is a range ("[1-3]", hosts 1 to 3 in a pssh file) is a header only in
// an Ansible inventory, where a group may be called 2024; an IPv6 literal
// never is one (its name part would be empty, or its kind not a word).
func sectionHeader(line string, ansible bool) (name, kind string, ok bool) {
	if !strings.HasPrefix(line, "[") {
		return "", "", false
	}
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return "", "", false
	}
	if rest := strings.TrimLeft(line[end+1:], " \t"); rest != "" && rest[0] != '#' {
		return "", "", false
	}
	content := line[1:end]
	name, kind, _ = strings.Cut(content, ":")
	if name == "" || strings.ContainsAny(name, " \t") || strings.ContainsAny(kind, ":") || !isWord(kind) {
		return "", "", false
	}
	if !ansible && kind == "" {
		// In a pssh file "[1-3]" is hosts 1 to 3 and "[10.0.0.1]" a
		// mistake to report as before, not sections.
		if _, err := netip.ParseAddr(name); err == nil || isRangeText(name) {
			return "", "", false
		}
	}
	return name, kind, true
}

// isVariableName reports whether s can name a variable: a word that does
// not start with a digit. Only such a key=value marks an Ansible host line;
// "web1 root -oProxyCommand=sh" stays a bad pssh line.
func isVariableName(s string) bool {
	return s != "" && isWord(s) && (s[0] < '0' || s[0] > '9')
}

// isWord reports whether s is Python's \w* in ASCII: what Ansible takes as
// the kind of a section.
func isWord(s string) bool {
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"+digits) == ""
}

// checkGroupName accepts the group names fleet can select with a pattern:
// the host name characters. Ansible warns about anything beyond letters,
// digits and "_"; ":", ",", "!", "&", "*" and "[" would collide with the
// pattern syntax.
func checkGroupName(name string) error {
	if name == "" {
		return fmt.Errorf("empty group name")
	}
	for _, r := range name {
		if !isNameChar(r) {
			return fmt.Errorf("invalid character %q in group name %q (use letters, digits, '_', '-' and '.')", r, name)
		}
	}
	return nil
}

// ansibleRange is a range in Ansible's syntax, inside the brackets:
// 01:20, a:f, 1:20:2.
var ansibleRange = regexp.MustCompile(`^(?:([0-9]+):([0-9]+)|([a-zA-Z]):([a-zA-Z]))(?::([0-9]+))?$`)

// hasAnsibleRange reports whether a host pattern has a range in Ansible's
// syntax (web[01:20]), which pssh files never have.
func hasAnsibleRange(pattern string) bool {
	return slices.ContainsFunc(bracketContents(pattern), ansibleRange.MatchString)
}

// bracketContents returns the text inside each [...] of s.
func bracketContents(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			return out
		}
		out = append(out, s[i+1:i+j])
		s = s[i+j+1:]
	}
}

// fromAnsibleRanges rewrites Ansible's numeric ranges into fleet's (see
// Expand): web[01:20] is web[01-20], n[1:9:2] is n[1-9/2], which expand to the
// same hosts. Letter ranges (db-[a:f]) are refused rather than guessed at.
func fromAnsibleRanges(pattern string) (string, error) {
	var b strings.Builder
	rest := pattern
	for {
		i := strings.IndexByte(rest, '[')
		j := -1
		if i >= 0 {
			j = strings.IndexByte(rest[i:], ']')
		}
		if i < 0 || j < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		content := rest[i+1 : i+j]
		b.WriteString(rest[:i+1])
		if m := ansibleRange.FindStringSubmatch(content); m != nil {
			if m[1] == "" {
				return "", fmt.Errorf("letter range [%s] in %q is not supported: list the hosts, or number them", content, pattern)
			}
			content = m[1] + "-" + m[2]
			if m[5] != "" {
				content += "/" + m[5]
			}
		}
		b.WriteString(content)
		b.WriteByte(']')
		rest = rest[i+j+1:]
	}
}

// splitShlex splits a line of an Ansible inventory into words as Python's
// shlex.split(line, comments=True) does, which is how Ansible reads host
// lines: white space separates, '...' is literal, "..." keeps all but \" and
// \\, a backslash outside quotes takes the next character as it is, and a
// "#" outside quotes ends the line.
func splitShlex(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
			inWord = true
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("no closing quotation")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i == len(line) {
				return nil, fmt.Errorf("no closing quotation")
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
