package ui

import (
	"slices"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/inventory"
)

func TestFold(t *testing.T) {
	tests := []struct {
		in   string // comma-separated labels
		want string
	}{
		{"", ""},
		{"web1", "web1"},
		{"node01,node02,node03,node05", "node[01-03,05]"},
		{"node05,node01,node03,node02", "node[01-03,05]"},
		{"127.0.0.1,127.0.0.2,127.0.0.3", "127.0.0.[1-3]"},
		{"node01,web1,node02", "node[01-02],web1"},
		{"a,b,c", "a,b,c"},
		{"web1,db1", "web1,db1"},
		{"node8,node9,node10,node11", "node[8-11]"},
		{"node08,node09,node10", "node[08-10]"},
		// A natural 9 does not run on to a padded 010.
		{"n9,n010,n011", "n[9,010-011]"},
		{"node1,node01", "node[1,01]"},
		{"n1,n1,n2", "n[1-2]"},
		// Ports and users: fold on the run the others share the rest with.
		{"root@n1:22,root@n2:22,root@n3:22", "root@n[1-3]:22"},
		{"n1:2200,n1:2201,n1:2202", "n1:[2200-2202]"},
		// On a tie the rightmost run wins.
		{"r1n1,r1n2,r2n1,r2n2", "r1n[1-2],r2n[1-2]"},
		{"10.0.0.1,10.0.0.2,10.0.1.1", "10.0.0.[1-2],10.0.1.1"},
		{"web1.example.com,web2.example.com,db.example.com", "web[1-2].example.com,db.example.com"},
		// Labels of repeated hosts (host.1) fold like any other.
		{"h,h.1,h.2", "h,h.[1-2]"},
		{"x1y,x2z", "x1y,x2z"},
		// Too long for an int64: listed as is.
		{"n1234567890123456789012,n1234567890123456789013", "n1234567890123456789012,n1234567890123456789013"},
	}
	for _, tt := range tests {
		var in []string
		if tt.in != "" {
			in = strings.Split(tt.in, ",")
		}
		if got := Fold(in); got != tt.want {
			t.Errorf("Fold(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFoldExpands checks that what Fold writes reads back, with the host
// list's own range syntax, as exactly the labels it was given.
func TestFoldExpands(t *testing.T) {
	inputs := [][]string{
		{"node01", "node02", "node03", "node05", "web1"},
		{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.7"},
		{"n8", "n9", "n10", "n11", "n13"},
		{"rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02", "rack2-n03"},
	}
	for _, in := range inputs {
		folded := Fold(in)
		var got []string
		for _, item := range splitTop(folded) {
			names, err := inventory.Expand(item)
			if err != nil {
				t.Fatalf("Fold(%v) = %q: Expand(%q): %v", in, folded, item, err)
			}
			got = append(got, names...)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(in))
		if !slices.Equal(got, want) {
			t.Errorf("Fold(%v) = %q expands to %v", in, folded, got)
		}
	}
}

// splitTop splits a folded list at the commas outside brackets.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
