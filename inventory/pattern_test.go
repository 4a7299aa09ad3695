package inventory

import (
	"reflect"
	"strings"
	"testing"
)

// patternHosts is an inventory for the pattern tests, plus a pssh host and
// one with a user and port as written on -H.
func patternHosts(t *testing.T) []Host {
	t.Helper()
	hosts := mustParse(t, `lb1
[web]
web1
web2
webx ansible_host=10.0.0.7
[db]
db1
db2
[prod:children]
web
db1
[db1]
db1
`, "inv")
	more, err := ParseArgs("admin@other:2222 2001:db8::1", "-H")
	if err != nil {
		t.Fatal(err)
	}
	return append(hosts, more...)
}

// names gives the inventory names (else the hosts as written) of hosts.
func names(hosts []Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, labelBase(h))
	}
	return out
}

func TestSelect(t *testing.T) {
	hosts := patternHosts(t)
	tests := []struct {
		limit, exclude []string
		want           []string
	}{
		{want: names(hosts)},
		{limit: []string{"all"}, want: names(hosts)},
		{limit: []string{"*"}, want: names(hosts)},
		{limit: []string{"web"}, want: []string{"web1", "web2", "webx"}},
		{limit: []string{"web:db"}, want: []string{"web1", "web2", "webx", "db1", "db2"}},
		{limit: []string{"web,db"}, want: []string{"web1", "web2", "webx", "db1", "db2"}},
		{limit: []string{"db:web"}, want: []string{"web1", "web2", "webx", "db1", "db2"}}, // list order, not pattern order
		{limit: []string{"prod:!web"}, want: []string{"db1"}},
		{limit: []string{"!web:prod"}, want: []string{"db1"}}, // "!" applies last, as in Ansible
		{limit: []string{"web:&prod"}, want: []string{"web1", "web2", "webx"}},
		{limit: []string{"db:&prod"}, want: []string{"db1"}},
		{limit: []string{"!db"}, want: []string{"lb1", "web1", "web2", "webx", "admin@other:2222", "2001:db8::1"}},
		{limit: []string{"ungrouped"}, want: []string{"lb1", "admin@other:2222", "2001:db8::1"}},
		{limit: []string{"web*"}, want: []string{"web1", "web2", "webx"}},
		{limit: []string{"web[!x]"}, want: []string{"web1", "web2"}},
		{limit: []string{"~web[0-9]"}, want: []string{"web1", "web2"}},
		{limit: []string{"~w"}, want: []string{"web1", "web2", "webx"}}, // matched from the start, not anchored at the end
		{limit: []string{"10.0.0.7"}, want: []string{"webx"}},           // by address
		{limit: []string{"admin@other:2222"}, want: []string{"admin@other:2222"}},
		{limit: []string{"2001:db8::1"}, want: []string{"2001:db8::1"}},
		{limit: []string{"other"}, want: []string{"admin@other:2222"}},
		// "db1" is a host and a group: a plain name is the host...
		{limit: []string{"db1"}, want: []string{"db1"}},
		// ...and after "!" the group, the same host here.
		{limit: []string{"db:!db1"}, want: []string{"db2"}},
		{limit: []string{"web", "db"}, want: []string{"web1", "web2", "webx", "db1", "db2"}}, // joined with ":"
		{exclude: []string{"web"}, want: []string{"lb1", "db1", "db2", "admin@other:2222", "2001:db8::1"}},
		{exclude: []string{"web:db", "lb*"}, want: []string{"admin@other:2222", "2001:db8::1"}},
		{limit: []string{"prod"}, exclude: []string{"web2"}, want: []string{"web1", "webx", "db1"}},
		// A glob or regex never reaches every host through the implicit
		// groups "all" and "ungrouped": only the names it matches.
		{limit: []string{"a*"}, want: []string{"admin@other:2222"}},
		{limit: []string{"~a"}, want: []string{"admin@other:2222"}},
	}
	for _, tt := range tests {
		got, err := Select(hosts, tt.limit, tt.exclude)
		if err != nil {
			t.Errorf("Select(%q, %q): %v", tt.limit, tt.exclude, err)
			continue
		}
		if !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("Select(%q, %q) = %q, want %q", tt.limit, tt.exclude, names(got), tt.want)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	hosts := patternHosts(t)
	tests := []struct {
		limit, exclude []string
		want           string
	}{
		{limit: []string{"wbe"}, want: `--limit: "wbe" matches no group and no host (groups: db, db1, prod, web)`},
		{limit: []string{"web:!dbb"}, want: `--limit: "dbb" matches no group and no host`},
		{exclude: []string{"web3"}, want: `--exclude: "web3" matches no group and no host`},
		{exclude: []string{"!web"}, want: `--exclude "!web": a term starting with "!" belongs in --limit`},
		{limit: []string{"web[0]"}, want: `Ansible's subscripts`},
		{limit: []string{"web[1:3]"}, want: `Ansible's subscripts`},
		{limit: []string{"web[-1]"}, want: `Ansible's subscripts`},
		{limit: []string{"web["}, want: `'[' without ']'`},
		{limit: []string{"~web("}, want: `error parsing regexp`},
		{limit: []string{":"}, want: `empty pattern`},
		{limit: []string{"web:!"}, want: `empty term`},
		// Not through "ungrouped" either: u* names nothing here.
		{limit: []string{"u*"}, want: `--limit: "u*" matches no group and no host`},
		{exclude: []string{"u*"}, want: `--exclude: "u*" matches no group and no host`},
	}
	for _, tt := range tests {
		got, err := Select(hosts, tt.limit, tt.exclude)
		if err == nil || got != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Select(%q, %q) = %q, %v; want an error with %q", tt.limit, tt.exclude, names(got), err, tt.want)
		}
	}
	// A plain host list has no groups, and the message says so.
	plain, _ := ParseArgs("a b", "-H")
	if _, err := Select(plain, []string{"web"}, nil); err == nil || !strings.Contains(err.Error(), "(the host list has no groups)") {
		t.Errorf("no groups: %v", err)
	}
}

// TestSelectEmptyGroups checks that a group the file defines without hosts
// is told from a name it never defined (both stay errors: a selection of
// nothing is one), and that a group empty in one file is not empty when
// another file's hosts are in it.
func TestSelectEmptyGroups(t *testing.T) {
	hosts := mustParse(t, "[web]\nweb1\n[staging]\n[old:children]\nstaging\n[web:vars]\nx=1\n", "inv")
	tests := []struct {
		limit, exclude []string
		want           string
	}{
		{limit: []string{"staging"}, want: `--limit: group "staging" has no hosts`},
		{limit: []string{"web:old"}, want: `--limit: group "old" has no hosts`},
		{limit: []string{"web:&staging"}, want: `--limit: group "staging" has no hosts`},
		{exclude: []string{"staging"}, want: `--exclude: group "staging" has no hosts`},
		{limit: []string{"st*"}, want: `--limit: "st*" matches only groups without hosts (staging)`},
		{limit: []string{"~(old|staging)"}, want: `--limit: "~(old|staging)" matches only groups without hosts (old, staging)`},
		{limit: []string{"wbe"}, want: `--limit: "wbe" matches no group and no host (groups: old (no hosts), staging (no hosts), web)`},
	}
	for _, tt := range tests {
		got, err := Select(hosts, tt.limit, tt.exclude)
		if err == nil || got != nil || err.Error() != tt.want {
			t.Errorf("Select(%q, %q) = %q, %v; want the error %q", tt.limit, tt.exclude, names(got), err, tt.want)
		}
	}
	// A glob that also matches a group with hosts selects them.
	if got, err := Select(hosts, []string{"~(web|staging)"}, nil); err != nil || len(got) != 1 {
		t.Errorf("Select(~(web|staging)) = %q, %v; want web1", names(got), err)
	}
	// staging has hosts in another file: not empty.
	more := mustParse(t, "[staging]\ns1\n", "more")
	got, err := Select(append(hosts, more...), []string{"staging"}, nil)
	if err != nil || !reflect.DeepEqual(names(got), []string{"s1"}) {
		t.Errorf("Select(staging) over two files = %q, %v; want s1", names(got), err)
	}
}

func TestSplitHostPattern(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"web:db", []string{"web", "db"}},
		{"web:!db:&prod", []string{"web", "!db", "&prod"}},
		{" web , db ", []string{"web", "db"}},
		{"web1:22", []string{"web1:22"}},
		{"admin@db1:2222", []string{"admin@db1:2222"}},
		{"2001:db8::1", []string{"2001:db8::1"}},
		{"web1:22,db", []string{"web1:22", "db"}},
		{"web[1:3]:db", []string{"web[1:3]", "db"}},
		{"web::db", []string{"web", "db"}},
		{"a::b", []string{"a::b"}}, // an IPv6 address, as Ansible reads it
	}
	for _, tt := range tests {
		if got := splitHostPattern(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitHostPattern(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
