package inventory

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/pattern"
)

// Filter returns the hosts that match at least one of the shell globs, in
// their original order: pssh's -g, given several times. A glob has the shell's
// (and pssh's fnmatch's) meaning: "*", "?", "[a-c]", "[!x]" and "[^x]" (not
// x), "[[:digit:]]", "\\" quoting the next character. A host matches when
// its Name, its String() ("admin@db1:2222"), its Alias or its Label ("web1.1",
// a duplicate) does, so one pattern picks hosts by name, by the line the user
// wrote, by inventory name or by label. Since "[" starts a class, a bracketed
// IPv6 form is best matched by Name ("2001:db8::*").
//
// A malformed glob is an error even when no host is tested against it, so a
// typo is reported rather than silently selecting nothing; a "[" or "]" that
// closes nothing is one, because no host name has brackets. An empty glob
// matches nothing; callers without a filter should not call Filter.
func Filter(hosts []Host, globs ...string) ([]Host, error) {
	ms := make([]*regexp.Regexp, 0, len(globs))
	for _, g := range globs {
		m, err := compileGlob(g)
		if err != nil {
			return nil, fmt.Errorf("invalid host filter %q: %w", g, err)
		}
		ms = append(ms, m)
	}
	var out []Host
	for _, h := range hosts {
		if slices.ContainsFunc(ms, func(m *regexp.Regexp) bool { return matchHost(m, h) }) {
			out = append(out, h)
		}
	}
	return out, nil
}

// matchHost reports whether m matches any of the names a user may call h by.
func matchHost(m *regexp.Regexp, h Host) bool {
	return m.MatchString(h.Name) || m.MatchString(h.String()) ||
		h.Alias != "" && m.MatchString(h.Alias) || h.Label != "" && m.MatchString(h.Label)
}

// compileGlob turns a shell glob into a regexp matching whole strings, with
// mvdan.cc/sh's reading of the shell's pattern notation (the one bash uses).
func compileGlob(glob string) (*regexp.Regexp, error) {
	if glob == "" {
		// Matches nothing, not even "": no host has an empty name.
		return regexp.MustCompile(`[^\x00-\x{10FFFF}]`), nil
	}
	expr, err := pattern.Regexp(glob, pattern.EntireString|pattern.NoGlobStar)
	if err != nil {
		return nil, err
	}
	// The shell reads a "[" without its "]" as itself; in a host
	// pattern it can only be a typo, as no host has one.
	if strings.Contains(expr, `\[`) || strings.Contains(expr, `\]`) {
		return nil, errors.New("'[' without ']' (no host name has brackets)")
	}
	return regexp.Compile(expr)
}

// Label sets Label on every host: the String() of the host as written (its
// Alias, the inventory name, when it has one), and
// for a host that appears again, ".1", ".2" ... after it ("host", "host.1").
// pssh contacts duplicates as many times as they are listed; the labels keep
// their output and log files apart.
//
// Labels are unique within hosts even when a suffix collides with a host
// written that way: in "a", "a", "a.1" the host written "a.1" keeps "a.1" and
// the duplicate of "a" becomes "a.2". Labels are safe as a single file name:
// "/" and NUL are replaced by "_" (a parsed host has neither), and "", "."
// and ".." get a "_" in front.
func Label(hosts []Host) { LabelAs(hosts, "") }

// LabelAs is Label for a run whose default user is defaultUser (pssh's -l):
// a host written with that very user is labelled without it, as pssh names
// it in its status lines and -o/-e files ("node01" for root@node01 with
// -l root, "root@node01" without -l). A port written in the list stays in
// the label, as in pssh ("node01:22").
func LabelAs(hosts []Host, defaultUser string) {
	taken := make(map[string]bool, len(hosts))
	bases := make([]string, len(hosts))
	dup := make([]bool, len(hosts))
	// First pass: the first host with a given form claims it, so that a
	// host's own spelling always wins over a generated suffix.
	for i := range hosts {
		h := hosts[i]
		if defaultUser != "" && h.User == defaultUser {
			h.User = ""
		}
		bases[i] = safeLabel(labelBase(h))
		if taken[bases[i]] {
			dup[i] = true
			continue
		}
		taken[bases[i]] = true
		hosts[i].Label = bases[i]
	}
	// Second pass: duplicates, in list order, take the next free suffix.
	// next remembers where each base got to, so a host listed n times costs
	// O(n), not O(n²).
	next := make(map[string]int)
	for i := range hosts {
		if !dup[i] {
			continue
		}
		b := bases[i]
		for n := next[b] + 1; ; n++ {
			cand := b + "." + strconv.Itoa(n)
			if !taken[cand] {
				taken[cand] = true
				next[b] = n
				hosts[i].Label = cand
				break
			}
		}
	}
}

// labelBase is what a host's label starts from: its inventory name when it
// has one (an Ansible host with ansible_host), as Ansible shows it, else the
// host as written.
func labelBase(h Host) string {
	return cmp.Or(h.Alias, h.String())
}

// safeLabel makes s usable as one path element on Unix.
func safeLabel(s string) string {
	// A Replacer of single bytes works byte-wise, so that other bytes
	// (even invalid UTF-8 in a Host built by hand) pass through unchanged.
	s = strings.NewReplacer("/", "_", "\x00", "_").Replace(s)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}
