package inventory

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxExpansion caps the number of hosts one pattern (and one whole list) may
// expand to, so that a typo such as n[1-99999999] fails at once instead of
// eating memory and then opening connections nobody meant to open.
const MaxExpansion = 100000

// maxDigits bounds a number in a range so that arithmetic on it cannot
// overflow int64 (18 digits < 9.2e18, and so are their sums).
const maxDigits = 18

// digits are the characters of an unsigned decimal number, for strings.Trim.
const digits = "0123456789"

// segment is one piece of a host pattern: literal text, or the numbers of one
// bracket group when ranges is non-nil.
type segment struct {
	lit    string
	ranges []numRange
}

// numRange is one element of a bracket group: lo..hi every step, each number
// zero-padded to width digits (0 for no padding).
type numRange struct {
	lo, hi, step int64
	width        int
}

// count is the number of values in r; parseRanges guarantees lo <= hi and
// step >= 1.
func (r numRange) count() int64 { return (r.hi-r.lo)/r.step + 1 }

// Expand expands pdsh/clush ranges in one host pattern: node[01-20],
// web[1-3,7].example.com, 10.0.0.[1-50], r[1-2]n[1-3] (cartesian product, left
// to right), N-M/step. Zero padding is kept from the padded bound ([01-10]).
// It returns the pattern itself when it has no range. A bracket group whose
// content is an IPv6 literal ("[2001:db8::1]:22") is left as it is. It is an
// error when M < N, for empty brackets, for mixed widths like [8-010], for
// content that is neither numeric nor an IPv6 literal, and when the total
// passes MaxExpansion.
//
// Expand works on text only; it does not check that the results are valid
// host names, which ParseFile and ParseArgs do.
func Expand(pattern string) ([]string, error) {
	segs, err := parsePattern(pattern)
	if err != nil {
		return nil, err
	}
	n := countNames(segs, MaxExpansion)
	if n > MaxExpansion {
		return nil, fmt.Errorf("host pattern %q expands to more than %d hosts", pattern, MaxExpansion)
	}
	out := make([]string, 0, n)
	// The callback never fails here, so neither does generate.
	_ = generate(segs, func(name string) error {
		out = append(out, name)
		return nil
	})
	return out, nil
}

// parsePattern splits a host pattern into literal text and range groups.
func parsePattern(p string) ([]segment, error) {
	var segs []segment
	litStart := 0
	for i := 0; i < len(p); {
		switch p[i] {
		case ']':
			return nil, fmt.Errorf("host pattern %q: unexpected ']'", p)
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("host pattern %q: unclosed '['", p)
			}
			content := p[i+1 : i+1+end]
			next := i + 1 + end + 1
			switch {
			case content == "":
				return nil, fmt.Errorf("host pattern %q: empty brackets", p)
			case isRangeText(content):
				rs, err := parseRanges(content)
				if err != nil {
					return nil, fmt.Errorf("host pattern %q: %w", p, err)
				}
				if litStart < i {
					segs = append(segs, segment{lit: p[litStart:i]})
				}
				segs = append(segs, segment{ranges: rs})
				litStart = next
			case isIPv6(content):
				// Part of the literal text: "[2001:db8::1]" is an address.
			default:
				return nil, fmt.Errorf("host pattern %q: [%s] is neither a range like [1-5,8] nor an IPv6 address", p, content)
			}
			i = next
		default:
			i++
		}
	}
	if litStart < len(p) {
		segs = append(segs, segment{lit: p[litStart:]})
	}
	return segs, nil
}

// isRangeText reports whether bracket content is meant as a range: only
// digits, ",", "-" and "/". Anything else is taken for an IPv6 literal, which
// is how deps.md §8 tells node[1-3] from [2001:db8::1].
func isRangeText(s string) bool {
	return s != "" && strings.Trim(s, digits+",-/") == ""
}

// isIPv6 reports whether s is an IPv6 address, optionally with a zone.
func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// parseRanges parses the content of one bracket group: a comma-separated list
// of N, N-M or N-M/step.
func parseRanges(content string) ([]numRange, error) {
	var rs []numRange
	for _, el := range strings.Split(content, ",") {
		if el == "" {
			return nil, fmt.Errorf("empty element in [%s]", content)
		}
		body, stepText, hasStep := strings.Cut(el, "/")
		loText, hiText, isSpan := strings.Cut(body, "-")
		if !isSpan {
			if hasStep {
				return nil, fmt.Errorf("range %q: a step needs N-M/step", el)
			}
			hiText = loText
		}
		lo, err := parseNum(loText, el)
		if err != nil {
			return nil, err
		}
		hi, err := parseNum(hiText, el)
		if err != nil {
			return nil, err
		}
		r := numRange{lo: lo, hi: hi, step: 1}
		if hasStep {
			if r.step, err = parseNum(stepText, el); err != nil {
				return nil, err
			}
			if r.step == 0 {
				return nil, fmt.Errorf("range %q: step must be at least 1", el)
			}
		}
		if hi < lo {
			return nil, fmt.Errorf("range %q ends before it starts", el)
		}
		// The padded bound sets the width. Bounds of different widths
		// are refused when that would make the width a guess: [8-010]
		// and [001-10]. [01-100] is fine: 01..99 then 100.
		loPad := len(loText) > 1 && loText[0] == '0'
		hiPad := len(hiText) > 1 && hiText[0] == '0'
		if hiPad && len(hiText) != len(loText) || loPad && len(hiText) < len(loText) {
			return nil, fmt.Errorf("range %q mixes widths; write both bounds with the same number of digits", el)
		}
		// After the checks above a padded upper bound implies a padded
		// lower one of the same width, so the lower bound says it all.
		if loPad {
			r.width = len(loText)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// parseNum parses one unsigned decimal number of a range element el.
func parseNum(s, el string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("range %q: missing number", el)
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("range %q: number %s is too large", el, s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strings.Trim(s, digits) != "" {
		return 0, fmt.Errorf("range %q: invalid number %q", el, s)
	}
	return n, nil
}

// countNames returns how many names segs expand to, or limit+1 when that is
// more than limit; it saturates instead of overflowing, so callers can check
// the cap before allocating anything.
func countNames(segs []segment, limit int64) int64 {
	total := int64(1)
	for _, s := range segs {
		if s.ranges == nil {
			continue
		}
		var n int64
		for _, r := range s.ranges {
			// Checked per element: a dozen elements of 10^18 each
			// would overflow the sum.
			n += r.count()
			if n > limit {
				return limit + 1
			}
		}
		// Both factors are at most limit, so the product fits in int64.
		total *= n
		if total > limit {
			return limit + 1
		}
	}
	return total
}

// maxLen returns the length of the longest name segs expand to. Every
// combination of groups occurs, so it is the sum of the longest piece of each.
func maxLen(segs []segment) int {
	total := 0
	for _, s := range segs {
		if s.ranges == nil {
			total += len(s.lit)
			continue
		}
		longest := 0
		for _, r := range s.ranges {
			last := r.lo + (r.count()-1)*r.step
			longest = max(longest, r.width, len(strconv.FormatInt(last, 10)))
		}
		total += longest
	}
	return total
}

// generate calls emit with every name segs expand to, in order: groups vary
// left to right like an odometer whose rightmost wheel turns fastest. It stops
// at the first error emit returns, so a caller validating names does not pay
// for the rest of a large range.
func generate(segs []segment, emit func(string) error) error {
	buf := make([]byte, 0, maxLen(segs))
	var walk func(i int) error
	walk = func(i int) error {
		if i == len(segs) {
			return emit(string(buf))
		}
		s := segs[i]
		if s.ranges == nil {
			n := len(buf)
			buf = append(buf, s.lit...)
			err := walk(i + 1)
			buf = buf[:n]
			return err
		}
		for _, r := range s.ranges {
			for v := r.lo; v <= r.hi; v += r.step {
				n := len(buf)
				buf = fmt.Appendf(buf, "%0*d", r.width, v) // zero-padded to width digits
				err := walk(i + 1)
				buf = buf[:n]
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(0)
}
