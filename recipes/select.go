package recipes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Specificity of a match rule against a host, from most to least specific.
// The host gets the platform with the best rule; on a tie, the earlier
// platform. Zero is no match.
const (
	noMatch        = iota
	likeAlone      // id_like: debian
	likeVersion    // id_like: rhel, version: "8"
	idAlone        // id: ubuntu
	idVersionRange // id: ubuntu, version: "16.04" or ">=16.04"
	idVersionExact // id: rocky, version: "=8.4"
)

// Select picks the platform for a host: the one with the most specific rule
// that matches its facts (see the constants above), the earlier platform on
// a tie. A recipe without platforms runs its steps on every host: it gets
// an empty platform. When no rule matches, the error is an
// *UnsupportedError listing what the recipe supports.
func (r *Recipe) Select(f *Facts) (*Platform, error) {
	if f == nil {
		f = &Facts{}
	}
	if len(r.Platforms) == 0 {
		return &Platform{}, nil
	}
	best, bestScore := -1, noMatch
	for i := range r.Platforms {
		if r.Platforms[i].excludes(f) {
			continue
		}
		for _, m := range r.Platforms[i].Match {
			if m.Exclude {
				continue
			}
			if s := m.score(f); s > bestScore {
				best, bestScore = i, s
			}
		}
	}
	if best < 0 {
		return nil, &UnsupportedError{ID: f.ID, Version: f.VersionID, Supported: r.supported()}
	}
	return &r.Platforms[best], nil
}

// excludes says whether an exclude rule of p matches the host: then p is
// not for it, whatever its other rules say.
func (p *Platform) excludes(f *Facts) bool {
	return slices.ContainsFunc(p.Match, func(m Match) bool { return m.Exclude && m.score(f) != noMatch })
}

// score rates how specifically m matches the host.
func (m Match) score(f *Facts) int {
	var base int
	switch {
	case m.ID != "":
		if m.ID != f.ID {
			return noMatch
		}
		base = idAlone
	case m.IDLike != "":
		if !slices.Contains(f.IDLike, m.IDLike) {
			return noMatch
		}
		base = likeAlone
	default:
		return noMatch
	}
	if m.Version == "" {
		return base
	}
	c, err := parseConstraint(m.Version)
	if err != nil {
		return noMatch
	}
	v, ok := parseVersion(f.VersionID)
	if !ok || !c.matches(v) {
		return noMatch
	}
	switch {
	case base == likeAlone:
		return likeVersion
	case c.exact():
		return idVersionExact
	}
	return idVersionRange
}

// supported lists the recipe's rules for a message: "ubuntu >=16.04",
// "centos 7", "debian-like".
func (r *Recipe) supported() []string {
	var out []string
	for _, p := range r.Platforms {
		for _, m := range p.Match {
			s := m.ID
			if s == "" {
				s = m.IDLike + "-like"
			}
			if m.Version != "" {
				s += " " + strings.Join(strings.Fields(m.Version), " ")
			}
			if m.Exclude {
				s = "not " + s
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// UnsupportedError is the answer of Select for a host that no platform of
// the recipe matches.
type UnsupportedError struct {
	ID, Version string   // the host's os-release ID and VERSION_ID
	Supported   []string // the recipe's rules, as "ubuntu >=16.04"
}

// Error says what the host is and what the recipe supports:
// "unsupported: centos 6 (this recipe supports: ubuntu >=16.04, centos 7)".
func (e *UnsupportedError) Error() string {
	host := e.ID
	if host == "" {
		host = "a host without /etc/os-release"
	} else if e.Version != "" {
		host += " " + e.Version
	}
	return fmt.Sprintf("unsupported: %s (this recipe supports: %s)", host, strings.Join(e.Supported, ", "))
}

// constraint is a parsed match version: one or more terms, all of which
// must hold (">=18.04 <24.04" is a range). A term is a version with an
// operator: none (a prefix: "8" is 8, 8.4, 8.4.1), "=" (exactly), ">=",
// ">", "<=", "<" (numerically), each of which "!" negates ("!16.04" is
// any version but 16.04.x, "!=8.4" any but 8.4).
type constraint struct {
	terms []term
}

type term struct {
	op   string // "", "=", ">=", ">", "<=" or "<"
	not  bool
	nums []int
}

// exact says whether the constraint names one version exactly ("=8.4").
func (c constraint) exact() bool {
	return len(c.terms) == 1 && c.terms[0].op == "=" && !c.terms[0].not
}

func parseConstraint(s string) (constraint, error) {
	var c constraint
	var words []string
	for _, w := range strings.Fields(s) {
		// ">= 10" is one term, as it was before ranges.
		if n := len(words); n > 0 && strings.Trim(words[n-1], "!<>=") == "" {
			words[n-1] += w
			continue
		}
		words = append(words, w)
	}
	if len(words) == 0 {
		return c, fmt.Errorf("version %q: want a number like 8, 8.4, >=16.04, <24.04, !=8.4 or a range like \">=18.04 <24.04\"", s)
	}
	for _, w := range words {
		var t term
		w, t.not = strings.CutPrefix(w, "!")
		for _, op := range []string{">=", "<=", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(w, op); ok {
				t.op, w = op, rest
				break
			}
		}
		v, ok := parseVersion(w)
		if !ok {
			return c, fmt.Errorf("version %q: %q is not a version: want a number like 8, 8.4, >=16.04, <24.04, !=8.4 or a range like \">=18.04 <24.04\"", s, w)
		}
		t.nums = v
		c.terms = append(c.terms, t)
	}
	return c, nil
}

// parseVersion reads a dotted number: "16.04" is [16 4]. Anything else
// (empty, "rolling", "12.0-beta") is not a version.
func parseVersion(s string) ([]int, bool) {
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	nums := make([]int, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" {
			return nil, false
		}
		nums[i], _ = strconv.Atoi(p)
	}
	return nums, true
}

// matches compares a host's version with every term of the constraint,
// number by number (16.10 is newer than 16.04; 10 is newer than 8.4).
func (c constraint) matches(v []int) bool {
	for _, t := range c.terms {
		if t.matches(v) == t.not {
			return false
		}
	}
	return true
}

func (t term) matches(v []int) bool {
	switch cmp := compareVersions(v, t.nums); t.op {
	case ">=":
		return cmp >= 0
	case ">":
		return cmp > 0
	case "<=":
		return cmp <= 0
	case "<":
		return cmp < 0
	case "=":
		return cmp == 0
	}
	// A prefix: "8" is 8, 8.4 and 8.4.1, but not 80 or 10.
	return len(v) >= len(t.nums) && slices.Equal(v[:len(t.nums)], t.nums)
}

// compareVersions compares two dotted numbers, a missing part counting as
// zero (8 = 8.0).
func compareVersions(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
