package inventory

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Select picks hosts with Ansible host patterns, as ansible --limit does:
// each of limit is a pattern, and the hosts each of exclude selects are left
// out, as if ":!" and the pattern were added to the limit. The result keeps
// the order of hosts. With no limit every host is a candidate ("all").
//
// A pattern is a list of terms separated by ":" or "," (web:db, web,db;
// with a "," in it, only "," separates, so web1:22 or an IPv6 address may
// be named). A term is a group, a host (by name, inventory name or as
// written, admin@db1:2222), a shell glob over both (web*, db[!3]), or ~ and a
// regular expression matched from the start (~web\d+). "all" (or "*") is
// every host, "ungrouped" those in no group. A term is added to the hosts,
// or, with "&" in front, intersects them, or with "!", takes hosts away; as
// in Ansible, "&" and "!" terms apply after all the others, and a pattern of
// only those starts from all (!db is every host but db's).
//
// Like Ansible, a term that names a group does not also match hosts by name
// unless it has a glob or a dot in it, and a term that is exactly a host's
// name is that host. Unlike Ansible, which warns and goes on, a term that
// matches no group and no host is an error: a typo in an exclusion would
// otherwise run on the hosts it was meant to spare; a term that names only
// groups the host file defines without hosts (Host.EmptyGroups) is an error
// that says so. Ansible's subscripts
// (web[0], web[1:3]) are refused: fleet selects by name, not position.
func Select(hosts []Host, limit, exclude []string) ([]Host, error) {
	var terms []term
	for i, patterns := range [][]string{limit, exclude} {
		for _, p := range patterns {
			ts, err := compilePattern(p, i == 1)
			if err != nil {
				return nil, err
			}
			terms = append(terms, ts...)
		}
	}
	// Ansible's order: the plain terms, then the intersections, then the
	// exclusions; only the last two means all and then them.
	slices.SortStableFunc(terms, func(a, b term) int { return cmp.Compare(a.op, b.op) })
	if len(terms) == 0 || terms[0].op != opAdd {
		terms = append([]term{{op: opAdd, flag: "--limit", text: "all", all: true}}, terms...)
	}
	u := newUniverse(hosts)
	in := make([]bool, len(hosts))
	for _, t := range terms {
		that, err := u.match(t)
		if err != nil {
			return nil, err
		}
		for i := range in {
			switch t.op {
			case opAdd:
				in[i] = in[i] || that[i]
			case opAnd:
				in[i] = in[i] && that[i]
			case opNot:
				in[i] = in[i] && !that[i]
			}
		}
	}
	var out []Host
	for i, h := range hosts {
		if in[i] {
			out = append(out, h)
		}
	}
	return out, nil
}

// op is what a term does to the hosts so far, in the order Ansible applies them.
type op int

const (
	opAdd op = iota // web
	opAnd           // &web
	opNot           // !web
)

// term is one term of a pattern, compiled.
type term struct {
	op   op
	flag string         // --limit or --exclude, for messages
	text string         // as written, without its "&" or "!"
	re   *regexp.Regexp // the glob or ~regexp, matching whole names
	all  bool           // "all" or "*"
	// glob says the term may match hosts by name even when it names a
	// group: it has a glob character or a dot (Ansible's rule) or is a
	// regexp.
	glob bool
}

// subscript is Ansible's web[0], web[-1], web[1:3], web[1-3] at the end of a
// term.
var subscript = regexp.MustCompile(`^(.+)\[(?:-?[0-9]+|[0-9]+[:-][0-9]*)\]$`)

// compilePattern splits and compiles one pattern; exclude makes each term a
// "!" term (and refuses "!" and "&" in it).
func compilePattern(p string, exclude bool) ([]term, error) {
	flag := "--limit"
	if exclude {
		flag = "--exclude"
	}
	words := splitHostPattern(p)
	if len(words) == 0 {
		return nil, fmt.Errorf("%s %q: empty pattern", flag, p)
	}
	var terms []term
	for _, w := range words {
		t := term{op: opAdd, flag: flag}
		switch {
		case strings.HasPrefix(w, "!"):
			t.op = opNot
		case strings.HasPrefix(w, "&"):
			t.op = opAnd
		}
		if t.op != opAdd {
			if exclude {
				return nil, fmt.Errorf("--exclude %q: a term starting with %q belongs in --limit; --exclude takes groups, hosts and globs", p, w[:1])
			}
			w = w[1:]
		}
		if exclude {
			t.op = opNot
		}
		t.text = w
		if err := t.compile(); err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, p, err)
		}
		terms = append(terms, t)
	}
	return terms, nil
}

// compile reads the term's text.
func (t *term) compile() error {
	w := t.text
	switch {
	case w == "":
		return fmt.Errorf("empty term")
	case w == "all" || w == "*":
		t.all = true
		return nil
	case w[0] == '~':
		re, err := regexp.Compile(`^(?:` + w[1:] + `)`)
		if err != nil {
			return fmt.Errorf("term %q: %w", w, err)
		}
		t.re, t.glob = re, true
		return nil
	case subscript.MatchString(w):
		return fmt.Errorf("term %q: Ansible's subscripts (web[0], web[1:3]) select hosts by position, which fleet does not do; "+
			"name the hosts, or use a glob that does not end in a bracket (web[12]*)", w)
	}
	re, err := compileGlob(w)
	if err != nil {
		return fmt.Errorf("term %q: %w", w, err)
	}
	t.re = re
	t.glob = strings.ContainsAny(w, ".?*[")
	return nil
}

// splitHostPattern splits a pattern into terms as Ansible does: on "," when
// there is one; otherwise the whole pattern when it is one host address
// (web1:22, 2001:db8::1, admin@db1:2222), else on ":" outside brackets.
func splitHostPattern(p string) []string {
	var words []string
	if strings.IndexByte(p, ',') >= 0 {
		words = strings.Split(p, ",")
	} else if isAddress(p) {
		words = []string{p}
	} else {
		depth, start := 0, 0
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case '[':
				depth++
			case ']':
				depth = max(depth-1, 0)
			case ':':
				if depth == 0 {
					words = append(words, p[start:i])
					start = i + 1
				}
			}
		}
		words = append(words, p[start:])
	}
	out := words[:0]
	for _, w := range words {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// isAddress reports whether p, with a ":" in it, names one host with a port
// or one IPv6 address rather than a list of terms.
func isAddress(p string) bool {
	if strings.IndexByte(p, ':') < 0 || strings.ContainsAny(p, "!&~*?") {
		return false
	}
	hs, err := ParseArgs(p, "pattern")
	return err == nil && len(hs) == 1 && (hs[0].Port != 0 || strings.IndexByte(hs[0].Name, ':') >= 0)
}

// universe is what terms are matched against: the hosts and their groups.
type universe struct {
	hosts  []Host
	groups []string // every group some host is in, and all
	empty  []string // the groups host files define that no host here is in
}

func newUniverse(hosts []Host) *universe {
	seen := map[string]bool{"all": true}
	for _, h := range hosts {
		if len(h.Groups) == 0 {
			seen["ungrouped"] = true
		}
		for _, g := range h.Groups {
			seen[g] = true
		}
	}
	// Hosts of one file share one slice: each is read once.
	empty := map[string]bool{}
	var last *string
	for _, h := range hosts {
		if len(h.EmptyGroups) == 0 || &h.EmptyGroups[0] == last {
			continue
		}
		last = &h.EmptyGroups[0]
		for _, g := range h.EmptyGroups {
			if !seen[g] {
				empty[g] = true
			}
		}
	}
	return &universe{hosts: hosts, groups: sortedKeys(seen), empty: sortedKeys(empty)}
}

// match returns which hosts t selects, or an error when it names nothing.
func (u *universe) match(t term) ([]bool, error) {
	if t.all {
		return slices.Repeat([]bool{true}, len(u.hosts)), nil
	}
	that := make([]bool, len(u.hosts))
	found := false
	// A plain term that is exactly a host's name is that host, even
	// where a group has the same name (Ansible's order).
	if t.op == opAdd && !t.glob {
		for i, h := range u.hosts {
			if h.Name == t.text || h.Alias == t.text || h.String() == t.text {
				that[i], found = true, true
			}
		}
		if found {
			return that, nil
		}
	}
	// The groups first, then each host once: a host is in a matched
	// group when one of its groups is one.
	matched := map[string]bool{}
	for _, g := range u.groups {
		// The implicit groups are named only in full: 'a*' or ~u must not
		// select every host through "all" or "ungrouped" (Ansible lets
		// them, ansible#79822, and --limit 'a*' reboot would reboot db1).
		if (g == "all" || g == "ungrouped") && t.text != g {
			continue
		}
		if t.re.MatchString(g) {
			matched[g] = true
		}
	}
	groups := len(matched)
	for i, h := range u.hosts {
		that[i] = matched["all"] || matched["ungrouped"] && len(h.Groups) == 0
		for _, g := range h.Groups {
			that[i] = that[i] || matched[g]
		}
	}
	if groups == 0 || t.glob {
		for i, h := range u.hosts {
			if matchHost(t.re, h) {
				that[i], found = true, true
			}
		}
	}
	if groups == 0 && !found {
		var empty []string
		for _, g := range u.empty {
			if t.re.MatchString(g) {
				empty = append(empty, g)
			}
		}
		switch {
		case len(empty) == 1 && empty[0] == t.text:
			return nil, fmt.Errorf("%s: group %q has no hosts", t.flag, t.text)
		case len(empty) > 0:
			return nil, fmt.Errorf("%s: %q matches only groups without hosts (%s)", t.flag, t.text, strings.Join(empty, ", "))
		}
		return nil, fmt.Errorf("%s: %q matches no group and no host%s", t.flag, t.text, u.groupHint())
	}
	return that, nil
}

// groupHint names the groups there are, for an error message.
func (u *universe) groupHint() string {
	named := slices.DeleteFunc(slices.Clone(u.groups), func(g string) bool { return g == "all" || g == "ungrouped" })
	for _, g := range u.empty {
		named = append(named, g+" (no hosts)")
	}
	slices.Sort(named)
	switch {
	case len(named) == 0:
		return " (the host list has no groups)"
	case len(named) > 12:
		return " (groups: " + strings.Join(named[:12], ", ") + ", ...)"
	}
	return " (groups: " + strings.Join(named, ", ") + ")"
}
