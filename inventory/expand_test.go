package inventory

import (
	"reflect"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "web1", want: []string{"web1"}},
		{in: "", want: []string{""}},
		{in: "node[1-3]", want: []string{"node1", "node2", "node3"}},
		{in: "node[01-03]", want: []string{"node01", "node02", "node03"}},
		{in: "node[8-10]", want: []string{"node8", "node9", "node10"}},
		{in: "node[08-10]", want: []string{"node08", "node09", "node10"}},
		{in: "node[098-101]", want: []string{"node098", "node099", "node100", "node101"}},
		{in: "n[5]", want: []string{"n5"}},
		{in: "n[007]", want: []string{"n007"}},
		{in: "n[0]", want: []string{"n0"}},
		{in: "n[00-01]", want: []string{"n00", "n01"}},
		{in: "web[1-3,7].example.com", want: []string{
			"web1.example.com", "web2.example.com", "web3.example.com", "web7.example.com"}},
		{in: "10.0.0.[1-3]", want: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{in: "r[1-2]n[1-3]", want: []string{"r1n1", "r1n2", "r1n3", "r2n1", "r2n2", "r2n3"}},
		{in: "[1-2]x[3-4]", want: []string{"1x3", "1x4", "2x3", "2x4"}},
		{in: "n[1-10/3]", want: []string{"n1", "n4", "n7", "n10"}},
		{in: "n[1-9/4]", want: []string{"n1", "n5", "n9"}},
		{in: "n[1-8/4]", want: []string{"n1", "n5"}},
		{in: "n[01-10/4]", want: []string{"n01", "n05", "n09"}},
		{in: "n[1-2,01-02]", want: []string{"n1", "n2", "n01", "n02"}},
		{in: "n[3,1,1]", want: []string{"n3", "n1", "n1"}},
		{in: "user@node[1-2]:2222", want: []string{"user@node1:2222", "user@node2:2222"}},
		// IPv6 literals in brackets are not ranges.
		{in: "[2001:db8::1]:22", want: []string{"[2001:db8::1]:22"}},
		{in: "[fe80::1%eth0]", want: []string{"[fe80::1%eth0]"}},
		{in: "[::1]n[1-2]", want: []string{"[::1]n1", "[::1]n2"}},

		{in: "n[5-1]", wantErr: `host pattern "n[5-1]": range "5-1" ends before it starts`},
		{in: "n[]", wantErr: `host pattern "n[]": empty brackets`},
		{in: "n[8-010]", wantErr: `host pattern "n[8-010]": range "8-010" mixes widths; write both bounds with the same number of digits`},
		{in: "n[001-10]", wantErr: `host pattern "n[001-10]": range "001-10" mixes widths; write both bounds with the same number of digits`},
		{in: "n[00-5]", wantErr: `host pattern "n[00-5]": range "00-5" mixes widths; write both bounds with the same number of digits`},
		{in: "n[a]", wantErr: `host pattern "n[a]": [a] is neither a range like [1-5,8] nor an IPv6 address`},
		{in: "n[1.2.3.4]", wantErr: `host pattern "n[1.2.3.4]": [1.2.3.4] is neither a range like [1-5,8] nor an IPv6 address`},
		{in: "n[1-3", wantErr: `host pattern "n[1-3": unclosed '['`},
		{in: "n]", wantErr: `host pattern "n]": unexpected ']'`},
		{in: "n[[1-2]]", wantErr: `host pattern "n[[1-2]]": [[1-2] is neither a range like [1-5,8] nor an IPv6 address`},
		{in: "n[1,,2]", wantErr: `host pattern "n[1,,2]": empty element in [1,,2]`},
		{in: "n[1,]", wantErr: `host pattern "n[1,]": empty element in [1,]`},
		{in: "n[1-]", wantErr: `host pattern "n[1-]": range "1-": missing number`},
		{in: "n[-1]", wantErr: `host pattern "n[-1]": range "-1": missing number`},
		{in: "n[1/2]", wantErr: `host pattern "n[1/2]": range "1/2": a step needs N-M/step`},
		{in: "n[1-5/0]", wantErr: `host pattern "n[1-5/0]": range "1-5/0": step must be at least 1`},
		{in: "n[1-5/]", wantErr: `host pattern "n[1-5/]": range "1-5/": missing number`},
		{in: "n[1-5/2/3]", wantErr: `host pattern "n[1-5/2/3]": range "1-5/2/3": invalid number "2/3"`},
		{in: "n[1-2-3]", wantErr: `host pattern "n[1-2-3]": range "1-2-3": invalid number "2-3"`},
		{in: "n[1234567890123456789]", wantErr: `host pattern "n[1234567890123456789]": range "1234567890123456789": number 1234567890123456789 is too large`},
		{in: "n[0-100000]", wantErr: `host pattern "n[0-100000]" expands to more than 100000 hosts`},
		{in: "n[1-1000][1-101]", wantErr: `host pattern "n[1-1000][1-101]" expands to more than 100000 hosts`},
		{in: "n[0-999999999999999999]", wantErr: `host pattern "n[0-999999999999999999]" expands to more than 100000 hosts`},
		{in: "n[" + strings.Repeat("0-999999999999999999,", 11) + "1]",
			wantErr: `host pattern "n[` + strings.Repeat("0-999999999999999999,", 11) + `1]" expands to more than 100000 hosts`},
		{in: "n[0-999999999999999999,0-999999999999999999][0-999999999999999999]",
			wantErr: `host pattern "n[0-999999999999999999,0-999999999999999999][0-999999999999999999]" expands to more than 100000 hosts`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Expand(tt.in)
			if errText(err) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Expand(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestExpandLarge(t *testing.T) {
	// The cap is inclusive: exactly MaxExpansion names.
	got, err := Expand("n[00001-100000]")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxExpansion || got[0] != "n00001" || got[9] != "n00010" || got[len(got)-1] != "n100000" {
		t.Fatalf("got %d names, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
	// Padding from the lower bound carries on past its width: [01-100].
	got, err = Expand("n[01-100]")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 || got[0] != "n01" || got[98] != "n99" || got[99] != "n100" {
		t.Fatalf("Expand(n[01-100]) = %q", got)
	}
	// A cartesian product at the cap: 100 x 1000.
	got, err = Expand("r[1-100]n[1-1000]")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxExpansion || got[1] != "r1n2" || got[1000] != "r2n1" {
		t.Fatalf("got %d names, [1]=%q [1000]=%q", len(got), got[1], got[1000])
	}
}

func TestMaxLen(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"web1", 4},
		{"n[1-9]", 2},
		{"n[1-10]", 3},
		{"n[1-10/3]", 3},
		{"n[1-10/4]", 2}, // 1, 5, 9: the upper bound is never reached
		{"n[001-002].x", 6},
		{"r[1-2,100]n[01-03]", 7},
	} {
		segs, err := parsePattern(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		names, err := Expand(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		longest := 0
		for _, n := range names {
			longest = max(longest, len(n))
		}
		if got := maxLen(segs); got != tt.want || longest != tt.want {
			t.Errorf("maxLen(%q) = %d, longest name %d, want %d", tt.in, got, longest, tt.want)
		}
	}
}
