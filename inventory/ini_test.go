package inventory

import (
	"reflect"
	"strings"
	"testing"
)

// withEmpty sets the groups without hosts of a file's hosts.
func withEmpty(empty []string, hosts ...Host) []Host {
	for i := range hosts {
		hosts[i].EmptyGroups = empty
	}
	return hosts
}

// grouped is a host with groups, for expected results.
func grouped(h Host, alias string, groups ...string) Host {
	h.Alias, h.Groups = alias, groups
	return h
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		in   string
		want format
	}{
		{"web1\nadmin@web2:22 # c\n", formatPssh},
		{"[2001:db8::1]:22\n[::1]\n[fe80::1%eth0]:22\n2001:db8::1\n", formatPssh}, // IPv6 lines are hosts
		{"[1-3]\n[1-3].example.com\n", formatPssh},                                // ranges are hosts
		{"[10.0.0.1]\n", formatPssh},                                              // a mistake, reported as before
		{"web1 root -oProxyCommand=sh\n", formatPssh},                             // a bad pssh line, not a variable
		{"[web]\nweb1\n", formatGrouped},
		{"  [web] # the web servers\nweb1 admin\n", formatGrouped},
		{"[web:children]\n", formatAnsible},
		{"[all:vars]\nx=1\n", formatAnsible},
		{"web1 ansible_host=10.0.0.1\n", formatAnsible},
		{"web[01:20]\n", formatAnsible},
		{"; comment\nweb1\n", formatAnsible},
	}
	for _, tt := range tests {
		if got := detectFormat(strings.Split(tt.in, "\n")); got != tt.want {
			t.Errorf("detectFormat(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseGroupedPssh(t *testing.T) {
	in := `# pssh lines under sections
lb1
[web]
web[1-2]
admin@web3:2222
[2001:db8::1]:22
[db]  # the databases
db1 root
web1
[1-2].example.com
`
	got := mustParse(t, in, "f")
	want := []Host{
		grouped(hostAt("", "lb1", 0, "f:2"), "", "ungrouped"),
		grouped(hostAt("", "web1", 0, "f:4"), "", "db", "web"), // one host in two groups
		grouped(hostAt("", "web2", 0, "f:4"), "", "web"),
		grouped(hostAt("admin", "web3", 2222, "f:5"), "", "web"),
		grouped(hostAt("", "2001:db8::1", 22, "f:6"), "", "web"),
		grouped(hostAt("root", "db1", 0, "f:8"), "", "db"),
		grouped(hostAt("", "1.example.com", 0, "f:10"), "", "db"),
		grouped(hostAt("", "2.example.com", 0, "f:10"), "", "db"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func TestParseAnsible(t *testing.T) {
	in := `# an Ansible inventory
bastion ansible_host=192.0.2.1 ansible_python_interpreter=/usr/bin/python3
; another comment

[web]
web[01:02].example.com ansible_user=deploy
web9 ansible_host='10.0.0.9' ansible_port=2222 http_port=80 # a comment
[db]
db1 ansible_ssh_host="10.0.0.21" ansible_connection=ssh
db2:2200
deploy@db3

[prod:children]
web
db
[edge:children]
prod

[prod:vars]
ansible_user=ops
[db:vars]
ansible_port = "5522" # the databases' sshd
[all:vars]
ansible_user=nobody
ansible_port=2
`
	got := mustParse(t, in, "inv")
	want := []Host{
		// all's variables, and the host's own address.
		grouped(hostAt("nobody", "192.0.2.1", 2, "inv:2"), "bastion", "ungrouped"),
		// A host variable wins over every group's.
		grouped(hostAt("deploy", "web01.example.com", 2, "inv:6"), "web01.example.com", "edge", "prod", "web"),
		grouped(hostAt("deploy", "web02.example.com", 2, "inv:6"), "web02.example.com", "edge", "prod", "web"),
		// prod (depth 2) wins over all (0); the host's port over both.
		grouped(hostAt("ops", "10.0.0.9", 2222, "inv:7"), "web9", "edge", "prod", "web"),
		// db (depth 3) wins over prod (2); the old ansible_ssh_host is read.
		grouped(hostAt("ops", "10.0.0.21", 5522, "inv:9"), "db1", "db", "edge", "prod"),
		// A port written with the host is a host variable.
		grouped(hostAt("ops", "db2", 2200, "inv:10"), "db2", "db", "edge", "prod"),
		grouped(hostAt("deploy", "db3", 5522, "inv:11"), "db3", "db", "edge", "prod"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	Label(got)
	if got[0].Label != "bastion" || got[3].Label != "web9" {
		t.Errorf("labels %q, %q: want the inventory names bastion, web9", got[0].Label, got[3].Label)
	}
}

func TestParseAnsibleDetails(t *testing.T) {
	checkParse(t, "ParseFile", parseF, []parseCase{
		{name: "children declared later", in: "[a:children]\nb\n[b]\nh1\n",
			want: []Host{grouped(hostAt("", "h1", 0, "f:4"), "h1", "a", "b")}},
		{name: "vars before the group", in: "[b:vars]\nansible_port=2022\n[b]\nh1\n",
			want: []Host{grouped(hostAt("", "h1", 2022, "f:4"), "h1", "b")}},
		{name: "same name and port merged, last port wins", in: "[a]\nh1:2201\n[b]\nh1:2202 x=1\n",
			want: []Host{grouped(hostAt("", "h1", 2202, "f:2"), "h1", "a", "b")}},
		{name: "range with stride", in: "n[1:5:2] ansible_user=u\n",
			want: []Host{
				grouped(hostAt("u", "n1", 0, "f:1"), "n1", "ungrouped"),
				grouped(hostAt("u", "n3", 0, "f:1"), "n3", "ungrouped"),
				grouped(hostAt("u", "n5", 0, "f:1"), "n5", "ungrouped"),
			}},
		{name: "ipv6 with port, quoted value with an escape", in: "[2001:db8::1]:2222 a=\"x\\\"y\"\n::1 k=v\n",
			want: []Host{
				grouped(hostAt("", "2001:db8::1", 2222, "f:1"), "2001:db8::1", "ungrouped"),
				grouped(hostAt("", "::1", 0, "f:2"), "::1", "ungrouped"),
			}},
		{name: "hosts of all and of ungrouped are ungrouped", in: "[all]\nh1\n[ungrouped]\nh2\n[g:vars]\nx=1\n[g]\n",
			want: withEmpty([]string{"g"},
				grouped(hostAt("", "h1", 0, "f:2"), "h1", "ungrouped"),
				grouped(hostAt("", "h2", 0, "f:4"), "h2", "ungrouped"),
			)},
		{name: "groups without hosts, through children too", in: "[web]\nw1\n[old]\n[gone:children]\nold\n[p:children]\nweb\n",
			want: withEmpty([]string{"gone", "old"}, grouped(hostAt("", "w1", 0, "f:2"), "w1", "p", "web"))},
		{name: "a group named by a number", in: "[2024]\nh1 a=b\n",
			want: []Host{grouped(hostAt("", "h1", 0, "f:2"), "h1", "2024")}},
	})
}

func TestParseSectionedErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"undefined child", "[a:children]\nb\n[c]\nh\n", `f:2: [a:children] names group b, which no [b] or [b:children] section defines`},
		{"vars of an undefined group", "[a]\nh\n[b:vars]\nx=1\n", `f:3: [b:vars] is for group b, which no [b] or [b:children] section defines`},
		{"first undefined is reported", "[a:children]\nz\n[b:children]\ny\n", `f:2: [a:children] names group z`},
		{"loop", "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n", `f:6: group a is made a child of c, which is already below it: a loop of [...:children]`},
		{"loop found from the other end", "[z:children]\ny\n[y:children]\nz\n[a:children]\nz\n", `f:4: group z is made a child of y`},
		{"child of itself", "[a:children]\na\n", `f:2: group a is made a child of itself`},
		{"unknown section type", "[a:hosts]\nh\n", `f:1: section [a:hosts] has unknown type "hosts"`},
		{"space in a section", "[web]\nh\n[web servers]\nh\n", `f:3: invalid section "[web servers]"`},
		{"space in an Ansible section", "[web servers]\nh a=b\n", `f:1: invalid section "[web servers]"`},
		{"bad group name", "[web@x]\nh\n", `f:1: invalid character '@' in group name "web@x"`},
		{"bad child name", "[a:children]\nb c\n", `f:2: in [a:children]: invalid character ' '`},
		{"no key=value", "[a]\nh1 ansible_host=x root\n", `f:2: expected key=value host variable after the host, got "root"`},
		{"vars line without =", "[a:vars]\nansible_port\n[a]\n", `f:2: expected key=value in [a:vars]`},
		{"bad port in vars", "[a]\nh\n[a:vars]\nansible_port=22x\n", `f:4: ansible_port of h: invalid port "22x"`},
		{"bad port on host", "h ansible_port=0\n", `f:1: ansible_port of h: invalid port "0"`},
		{"bad user", "[g]\nh ansible_user='a;b'\n", `f:2: ansible_user of h: invalid character ';' in user "a;b"`},
		{"bad address", "h ansible_host=-oProxyCommand=x\n", `f:1: ansible_host of h: invalid character '=' in host "-oProxyCommand=x"`},
		{"refused key with a bad value elsewhere", "localhost ansible_connection=local\nh ansible_port=x\n", `f:2: ansible_port of h: invalid port "x"`},
		{"letter range", "db-[a:c] x=1\n", `f:1: letter range [a:c]`},
		{"bad range", "n[5:1] x=1\n", `f:1: `},
		{"unclosed quote", "h x='a\n", `f:1: no closing quotation`},
		{"pssh line under a section", "[web]\nweb1:22x\n", `f:2: invalid port "22x"`},
		{"yaml inventory", "---\nall:\n  hosts:\n    web1:\n", `f:1: host "---" must not start with '-' (this looks like a YAML inventory`},
		{"yaml without its ---", "# x\nall:\n  children:\n", `(this looks like a YAML inventory`},
		{"too many hosts", "[a]\nn[1-60000]\n[b]\nn[1-60000]\n", `f:4: more than 100000 hosts in total`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFile(strings.NewReader(tt.in), "f")
			if err == nil || got != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseFile(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Errorf("error %q does not start with file:line", err)
			}
		})
	}
}

func TestLiteralValue(t *testing.T) {
	for in, want := range map[string]string{
		`2222`: "2222", ` 2222 # ssh`: "2222", `"2222" # ssh`: "2222", `'ops'`: "ops", `"a b"`: "a b",
		`ops # x`: "ops # x", `"a" b`: `"a" b`, `"open`: `"open`, `''`: "", `22x`: "22x",
	} {
		if got := literalValue(in); got != want {
			t.Errorf("literalValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitShlex(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`h a=1  b='x y' c="p \"q\" \z"`, []string{"h", "a=1", "b=x y", `c=p "q" \z`}},
		{`h a=b#c d=e`, []string{"h", "a=b"}},
		{`h a='#x'`, []string{"h", "a=#x"}},
		{`h a=\ b`, []string{"h", "a= b"}},
		{`h a=''`, []string{"h", "a="}},
	}
	for _, tt := range tests {
		got, err := splitShlex(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitShlex(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
