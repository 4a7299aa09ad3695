package ui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// maxFoldDigits bounds the numbers Fold works with, so they fit an int64
// and the folded list reads back with inventory.Expand (same limit).
const maxFoldDigits = 18

// Fold writes a list of host labels compactly, the way pdsh and clush write
// node sets: labels that differ only in one run of decimal digits are
// folded into one bracket group, keeping zero padding:
//
//	node01,node02,node03,node05 -> node[01-03,05]
//	127.0.0.1,127.0.0.2,127.0.0.3 -> 127.0.0.[1-3]
//	web1 -> web1
//
// Items come in the order of their first label in the input; a label that
// folds with nothing is listed as it is. Duplicates are listed once.
//
// When a label has several runs of digits ("rack1-node01:22") it is folded
// on the run that most other labels share the rest with, and on a tie the
// rightmost run, which is usually the one that counts nodes.
func Fold(labels []string) string {
	seen := make(map[string]bool, len(labels))
	var uniq []string
	for _, l := range labels {
		if !seen[l] {
			seen[l] = true
			uniq = append(uniq, l)
		}
	}

	// How many labels each (prefix, suffix) pattern would gather.
	cands := make([][]foldCand, len(uniq))
	count := make(map[foldKey]int)
	for i, l := range uniq {
		cands[i] = foldCands(l)
		for _, c := range cands[i] {
			count[c.key]++
		}
	}

	// Give each label the pattern with the most members; a label that
	// folds with nothing is a group of its own.
	var items []*foldItem
	groups := make(map[foldKey]*foldItem)
	for i, l := range uniq {
		best := -1
		for j, c := range cands[i] {
			if best < 0 || count[c.key] >= count[cands[i][best].key] {
				best = j
			}
		}
		if best < 0 || count[cands[i][best].key] < 2 {
			items = append(items, &foldItem{labels: []string{l}})
			continue
		}
		c := cands[i][best]
		g := groups[c.key]
		if g == nil {
			g = &foldItem{key: c.key}
			groups[c.key] = g
			items = append(items, g)
		}
		g.labels = append(g.labels, l)
		g.nums = append(g.nums, c.num)
	}

	parts := make([]string, len(items))
	for i, g := range items {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

// foldKey is a label with one run of digits taken out.
type foldKey struct{ prefix, suffix string }

// foldCand is one way to fold a label: on the run of digits num, which sits
// between key.prefix and key.suffix.
type foldCand struct {
	key foldKey
	num foldNum
}

// foldNum is one number of a group, with its text so padding is kept.
type foldNum struct {
	text  string
	value int64
}

// padded reports whether the number is written with leading zeros, which
// fixes its width: "05" may only run on to "06", while "9" runs on to "10".
func (n foldNum) padded() bool { return len(n.text) > 1 && n.text[0] == '0' }

// foldCands lists the runs of digits of l, left to right.
func foldCands(l string) []foldCand {
	var out []foldCand
	for i := 0; i < len(l); {
		if !isDigit(l[i]) {
			i++
			continue
		}
		j := i
		for j < len(l) && isDigit(l[j]) {
			j++
		}
		if j-i <= maxFoldDigits {
			v, err := strconv.ParseInt(l[i:j], 10, 64)
			if err == nil {
				out = append(out, foldCand{
					key: foldKey{prefix: l[:i], suffix: l[j:]},
					num: foldNum{text: l[i:j], value: v},
				})
			}
		}
		i = j
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// foldItem is a group of labels sharing a foldKey.
type foldItem struct {
	key    foldKey
	labels []string
	nums   []foldNum
}

// String writes the group as prefix[ranges]suffix, numbers ascending and
// consecutive numbers of compatible width joined into lo-hi; a group of
// one label (a label on its own, or one whose partners chose other
// groups) is the label: there is nothing to fold.
func (g *foldItem) String() string {
	if len(g.labels) == 1 {
		return g.labels[0]
	}
	nums := slices.Clone(g.nums)
	slices.SortFunc(nums, func(a, b foldNum) int { return cmp.Or(cmp.Compare(a.value, b.value), len(a.text)-len(b.text)) })
	var b strings.Builder
	b.WriteString(g.key.prefix)
	b.WriteByte('[')
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && runsOn(nums[j], nums[j+1]) {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(nums[i].text)
		if j > i {
			b.WriteByte('-')
			b.WriteString(nums[j].text)
		}
		i = j + 1
	}
	b.WriteByte(']')
	b.WriteString(g.key.suffix)
	return b.String()
}

// runsOn reports whether b directly follows a in one range: the next value
// in the same width, or in no fixed width at all (9, 10).
func runsOn(a, b foldNum) bool {
	if b.value != a.value+1 {
		return false
	}
	return len(a.text) == len(b.text) || (!a.padded() && !b.padded())
}
