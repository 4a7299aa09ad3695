package inventory

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Filter returns the hosts whose Name, String() or Label matches the shell
// glob, with path.Match semantics ("web*", "node0[1-5]", "admin@*"), in their
// original order. Matching all three lets one pattern pick hosts by name, by
// the line the user wrote, or by a duplicate's label ("web1.1"). Note that "["
// starts a character class, so a bracketed IPv6 form is best matched by Name.
//
// A malformed glob is an error even when no host is tested against it, so a
// typo is reported rather than silently selecting nothing. An empty glob
// matches nothing; callers without a filter should not call Filter.
func Filter(hosts []Host, glob string) ([]Host, error) {
	// path.Match checks the whole pattern even when the name does not
	// match, so matching "" validates the glob once, up front.
	if _, err := path.Match(glob, ""); err != nil {
		return nil, fmt.Errorf("invalid host filter %q: %w", glob, err)
	}
	var out []Host
	for _, h := range hosts {
		if globMatch(glob, h.Name) || globMatch(glob, h.String()) ||
			h.Label != "" && globMatch(glob, h.Label) {
			out = append(out, h)
		}
	}
	return out, nil
}

// globMatch is path.Match for a glob already known to be valid.
func globMatch(glob, s string) bool {
	ok, _ := path.Match(glob, s)
	return ok
}

// Label sets Label on every host: the String() of the host as written, and
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
		bases[i] = safeLabel(h.String())
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

// safeLabel makes s usable as one path element on Unix.
func safeLabel(s string) string {
	// Byte-wise, so that other bytes (even invalid UTF-8 in a Host built
	// by hand) pass through unchanged.
	if strings.ContainsAny(s, "/\x00") {
		b := []byte(s)
		for i, c := range b {
			if c == '/' || c == 0 {
				b[i] = '_'
			}
		}
		s = string(b)
	}
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}
