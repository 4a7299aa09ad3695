package inventory

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	hosts, err := ParseArgs("web1 web2 admin@db1:2222 [2001:db8::1]:22 web1 mail", "-H")
	if err != nil {
		t.Fatal(err)
	}
	Label(hosts)
	tests := []struct {
		glob    string
		want    []string
		wantErr bool
	}{
		{glob: "web*", want: []string{"web1", "web2", "web1.1"}},
		{glob: "web1", want: []string{"web1", "web1.1"}},          // both by Name
		{glob: "web1.1", want: []string{"web1.1"}},                // only by Label
		{glob: "admin@*", want: []string{"admin@db1:2222"}},       // by String
		{glob: "db1", want: []string{"admin@db1:2222"}},           // by Name
		{glob: "*:2222", want: []string{"admin@db1:2222"}},        // by String
		{glob: "2001:db8::*", want: []string{"[2001:db8::1]:22"}}, // by Name
		{glob: "web[2-9]", want: []string{"web2"}},
		{glob: "?ail", want: []string{"mail"}},
		{glob: "*", want: []string{"web1", "web2", "admin@db1:2222", "[2001:db8::1]:22", "web1.1", "mail"}},
		// Shell semantics, as pssh's fnmatch: "!" and "^" negate a class
		// (path.Match, used before, read "[!1]" as "!" or "1").
		{glob: "web[!1]", want: []string{"web2"}},
		{glob: "web[^1]", want: []string{"web2"}},
		{glob: "[[:alpha:]]ail", want: []string{"mail"}},
		{glob: "*db1*", want: []string{"admin@db1:2222"}},
		{glob: "nomatch"},
		{glob: ""},
		{glob: "[", wantErr: true},
		{glob: "web[", wantErr: true},
		{glob: "zzz[", wantErr: true}, // bad even though nothing matches "zzz"
		{glob: `web\`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := Filter(hosts, tt.glob)
		if tt.wantErr {
			if err == nil || got != nil {
				t.Errorf("Filter(%q) = %v, %v; want an error", tt.glob, got, err)
			} else if !strings.HasPrefix(err.Error(), "invalid host filter ") {
				t.Errorf("Filter(%q) error %q", tt.glob, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Filter(%q): %v", tt.glob, err)
			continue
		}
		if !reflect.DeepEqual(labels(got), tt.want) {
			t.Errorf("Filter(%q) = %q, want %q", tt.glob, labels(got), tt.want)
		}
	}
	// Filter must not reorder or modify its input.
	if hosts[0].Label != "web1" || hosts[4].Label != "web1.1" || len(hosts) != 6 {
		t.Errorf("input changed: %v", hosts)
	}
}

func TestFilterSeveral(t *testing.T) {
	hosts, err := ParseArgs("web1 web2 db1 db2 mail", "-H")
	if err != nil {
		t.Fatal(err)
	}
	// Several globs: a host matching any is kept, once, in list order.
	got, err := Filter(hosts, "db*", "web1", "*1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"web1", "db1", "db2"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("Filter = %q, want %q", names(got), want)
	}
	// One bad glob among good ones is still an error.
	if got, err := Filter(hosts, "web*", "db["); err == nil || got != nil {
		t.Errorf("Filter with a bad glob = %v, %v", got, err)
	}
	// An Alias (inventory name) matches too.
	got, err = Filter([]Host{{Name: "10.0.0.1", Alias: "web9"}, {Name: "10.0.0.2"}}, "web*")
	if err != nil || len(got) != 1 || got[0].Name != "10.0.0.1" {
		t.Errorf("Filter by alias = %v, %v", got, err)
	}
}

func TestLabel(t *testing.T) {
	tests := []struct {
		name  string
		hosts []Host
		want  []string
	}{
		{name: "none"},
		{name: "distinct", hosts: []Host{{Name: "a"}, {Name: "b"}}, want: []string{"a", "b"}},
		{name: "duplicates", hosts: []Host{{Name: "a"}, {Name: "b"}, {Name: "a"}, {Name: "a"}, {Name: "b"}},
			want: []string{"a", "b", "a.1", "a.2", "b.1"}},
		{name: "written form", hosts: []Host{
			{User: "admin", Name: "web1", Port: 22}, {Name: "web1"}, {Name: "::1", Port: 22}, {Name: "::1"},
			{User: "admin", Name: "web1", Port: 22},
		}, want: []string{"admin@web1:22", "web1", "[::1]:22", "::1", "admin@web1:22.1"}},
		{name: "suffix taken later", hosts: []Host{{Name: "a"}, {Name: "a"}, {Name: "a.1"}},
			want: []string{"a", "a.2", "a.1"}},
		{name: "suffix taken earlier", hosts: []Host{{Name: "a.1"}, {Name: "a"}, {Name: "a"}},
			want: []string{"a.1", "a", "a.2"}},
		{name: "suffix of suffix", hosts: []Host{{Name: "a.1"}, {Name: "a"}, {Name: "a"}, {Name: "a.1"}},
			want: []string{"a.1", "a", "a.2", "a.1.1"}},
		{name: "unsafe by hand", hosts: []Host{
			{Name: "a/b"}, {Name: "a_b"}, {Name: "x\x00"}, {}, {Name: "."}, {Name: ".."}, {Name: "../etc"},
		}, want: []string{"a_b", "a_b.1", "x_", "_", "_.", "_..", ".._etc"}},
		{name: "replaces old labels", hosts: []Host{{Name: "a", Label: "zzz"}}, want: []string{"a"}},
		{name: "inventory names", hosts: []Host{
			{Name: "10.0.0.1", Alias: "web1"}, {Name: "10.0.0.1", Alias: "web2", User: "u"}, {Name: "web1"},
		}, want: []string{"web1", "web2", "web1.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Label(tt.hosts)
			if got := labels(tt.hosts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("labels = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLabelUniqueMany(t *testing.T) {
	// Many duplicates mixed with hosts spelled like generated labels.
	var hosts []Host
	for i := range 3000 {
		hosts = append(hosts, Host{Name: "h"}, Host{Name: "h." + strconv.Itoa(i%50)})
	}
	Label(hosts)
	seen := make(map[string]bool)
	for i, h := range hosts {
		if h.Label == "" || seen[h.Label] {
			t.Fatalf("host %d: label %q empty or repeated", i, h.Label)
		}
		if strings.ContainsAny(h.Label, "/\x00") {
			t.Fatalf("host %d: unsafe label %q", i, h.Label)
		}
		seen[h.Label] = true
	}
	// A host spelled like a label keeps its spelling the first time.
	if hosts[1].Label != "h.0" || hosts[0].Label != "h" {
		t.Errorf("labels %q %q", hosts[0].Label, hosts[1].Label)
	}
}

// With -l root, pssh names root@node01 "node01" (its -o/-e file and its
// status line) and keeps another user and a written port (issue 15 item 6).
func TestLabelAs(t *testing.T) {
	hosts := []Host{{User: "root", Name: "node01"}, {User: "admin", Name: "node02"}, {User: "root", Name: "node03", Port: 22},
		{Name: "node04"}, {Name: "node01"}}
	LabelAs(hosts, "root")
	if got, want := labels(hosts), []string{"node01", "admin@node02", "node03:22", "node04", "node01.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("labels = %q, want %q", got, want)
	}
	if hosts[0].User != "root" {
		t.Errorf("LabelAs changed the host's user: %+v", hosts[0])
	}
}

// labels lists the hosts' labels.
func labels(hosts []Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Label)
	}
	return out
}
