package main

import (
	"slices"
	"strings"
	"testing"
)

// TestParseFlags: the defaults the full `make bench` runs with, -quick,
// and what each -p, run and round count comes to.
func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-fleet", "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.ns, []int{50, 200, 500}) || len(o.cmds) != 2 || !slices.Equal(o.peers, peerNames()) {
		t.Errorf("defaults: ns %v, %d commands, peers %v", o.ns, len(o.cmds), o.peers)
	}
	if got := o.parallelisms(500); !slices.Equal(got, []int{500}) {
		t.Errorf("default -par at 500 hosts = %v, want [500]", got)
	}
	if !slices.Equal(o.seedNs, []int{50, 200}) || !slices.Equal(o.seedRuns, []int{3, 1}) {
		t.Errorf("seed: ns %v rounds %v, want [50 200] and [3 1]", o.seedNs, o.seedRuns)
	}
	if o.runsFor("ansible", 500) != 1 || o.runsFor("ansible", 200) != 3 || o.runsFor("pdsh", 500) != 3 {
		t.Errorf("runs: ansible@500 %d, ansible@200 %d, pdsh@500 %d; want 1, 3, 3",
			o.runsFor("ansible", 500), o.runsFor("ansible", 200), o.runsFor("pdsh", 500))
	}

	o, err = parseFlags([]string{"-fleet", "/bin/true", "-par", "32,N,1000", "-n", "20,744", "-slow-runs", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.parallelisms(20); !slices.Equal(got, []int{20}) {
		t.Errorf("-par 32,N,1000 at 20 hosts = %v, want [20]", got)
	}
	if got := o.parallelisms(744); !slices.Equal(got, []int{32, 744}) {
		t.Errorf("-par 32,N,1000 at 744 hosts = %v, want [32 744]", got)
	}
	if o.runsFor("ansible", 744) != 3 {
		t.Errorf("-slow-runs 0: ansible gets %d runs, want -runs", o.runsFor("ansible", 744))
	}

	o, err = parseFlags([]string{"-fleet", "/bin/true", "-quick"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.ns, []int{20}) || o.runs != 1 || o.out != "" || !slices.Equal(o.seedRuns, []int{1}) || o.proxyN != 20 {
		t.Errorf("-quick: ns %v runs %d out %q seed rounds %v proxy hosts %d", o.ns, o.runs, o.out, o.seedRuns, o.proxyN)
	}

	for _, bad := range [][]string{
		{"-n", "745"}, {"-par", "0"}, {"-par", "M"}, {"-peers", "rsh"}, {"-cmd", "false"}, {"-seed-n", "249"},
		{"-seed-runs", "1"}, {"-slow-runs", "-1"}, {"-proxy-n", "248"}, {"-proxy-n", "0"}, {"-only", "proxy,jump"},
	} {
		if _, err := parseFlags(append([]string{"-fleet", "/bin/true"}, bad...)); err == nil {
			t.Errorf("parseFlags(%s) accepted", strings.Join(bad, " "))
		}
	}
}
