package inventory

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to ParseFile and checks what every caller
// relies on: no panic, errors that name the file and line, and hosts that are
// usable as they are and survive a round trip through String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"web1\n",
		"admin@web1:2222\n# comment\n\nweb2 # trailing\r\n",
		"web1:2222 admin\n",
		"[2001:db8::1]:2222\n[2001:db8::1]\n2001:db8::1\nuser@[::1]:22\nfe80::1%eth0\n",
		"node[01-20]\nweb[1-3,7].example.com\n10.0.0.[1-50]\nuser@node[1-3]:2222\n",
		"r[1-2]n[1-3]\nn[1-10/3]\n[1-3].x:22\n2001:db8::[1-5]\n",
		"web1:22x\n",
		"@web1\nweb;1\n\x00\xff\n",
		"n[1-100001]\n",
		"node[8-010]\nnode[5-1]\nnode[]\n[zzz]:22\n",
		"a b c\nadmin@web1 root\n",
		"lb1\n[web]\nweb[1-2]\nadmin@web3:2222 root\n[2001:db8::1]:22\n[db] # x\nweb1\n[1-2]\n",
		"b ansible_host=10.0.0.1\n; c\n[web]\nw[01:03] ansible_user=u\nw9 ansible_host='::1' ansible_port=2\n" +
			"[p:children]\nweb\ndb\n[db]\nd1:22 x=\"a b\"\n[p:vars]\nansible_user = o\n[all:vars]\nansible_port=9\n",
		"[a:children]\nb\n[b:children]\na\n",
		"[a:vars]\nx\n[b:children]\nc\n[web servers]\n[a:b]\nh ansible_become=1\nn[a:c]\n",
		"localhost ansible_connection=local\n[web]\nw[1:3] ansible_become=no\nw9 ansible_password=x\n[web:vars]\n" +
			"ansible_become=yes\nansible_ssh_private_key_file=k\n[empty]\n[e:children]\nempty\n[all:vars]\nansible_foo=1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hosts, err := ParseFile(bytes.NewReader(data), "fuzz")
		if err != nil {
			if hosts != nil {
				t.Fatalf("hosts %v returned with error %v", hosts, err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		if len(hosts) > MaxExpansion {
			t.Fatalf("%d hosts, more than MaxExpansion", len(hosts))
		}
		for _, h := range hosts {
			if h.Name == "" {
				t.Fatalf("empty name in %#v", h)
			}
			if h.Port < 0 || h.Port > 65535 {
				t.Fatalf("port out of range in %#v", h)
			}
			if !strings.HasPrefix(h.Source, "fuzz:") {
				t.Fatalf("source %q does not name the file", h.Source)
			}
			s := h.String()
			back, err := ParseArgs(s, "again")
			if err != nil {
				t.Fatalf("String() %q of %#v does not parse: %v", s, h, err)
			}
			if len(back) != 1 || back[0].User != h.User || back[0].Name != h.Name || back[0].Port != h.Port {
				t.Fatalf("String() %q of %#v parses as %#v", s, h, back)
			}
		}
		for _, h := range hosts {
			if !sort.StringsAreSorted(h.Groups) {
				t.Fatalf("groups %q not sorted", h.Groups)
			}
			for _, g := range h.Groups {
				if checkGroupName(g) != nil || g == "all" {
					t.Fatalf("bad group %q in %#v", g, h)
				}
			}
			if h.Alias != "" && checkHostName(h.Alias) != nil {
				t.Fatalf("bad alias in %#v", h)
			}
			if r := h.Refused; r != nil && (!strings.HasPrefix(r.Where, "fuzz:") || !strings.HasPrefix(r.Key, "ansible_") || r.Reason == "") {
				t.Fatalf("bad refusal %#v of %#v", r, h)
			}
			for _, g := range h.EmptyGroups {
				if slices.Contains(h.Groups, g) {
					t.Fatalf("group %q of %#v is said to have no hosts", g, h)
				}
			}
		}
		// Selecting by each host's groups and names finds the host,
		// and never panics on what the fuzzer wrote.
		for _, h := range hosts[:min(len(hosts), 8)] {
			pat := labelBase(h)
			if len(h.Groups) > 0 {
				pat = h.Groups[0]
			}
			got, err := Select(hosts, []string{pat}, nil)
			if err != nil {
				if !strings.ContainsAny(pat, ":[@") {
					t.Fatalf("Select(%q): %v", pat, err)
				}
				continue
			}
			if len(got) == 0 {
				t.Fatalf("Select(%q) found nothing in %v", pat, hosts)
			}
		}
		Label(hosts)
		seen := make(map[string]bool, len(hosts))
		for _, h := range hosts {
			if h.Label == "" || seen[h.Label] || strings.ContainsAny(h.Label, "/\x00") {
				t.Fatalf("bad or repeated label %q", h.Label)
			}
			seen[h.Label] = true
		}
	})
}

// FuzzExpand checks that Expand never panics, respects the cap, leaves
// patterns without brackets alone and leaves nothing to expand behind.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"web1", "", "node[01-20]", "web[1-3,7].example.com", "10.0.0.[1-50]", "r[1-2]n[1-3]",
		"n[1-10/3]", "n[01-100]", "[2001:db8::1]:22", "[fe80::1%eth0]", "n[8-010]", "n[5-1]", "n[]",
		"n[a]", "n[1-3", "n]", "n[1,,2]", "n[0-999999999999999999]", "n[1-5/0]", "[::1][1-2]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		// Every name may be as long as the pattern; keep each run's memory
		// small (MaxExpansion names of at most 256 bytes).
		if len(pattern) > 256 {
			return
		}
		names, err := Expand(pattern)
		if err != nil {
			if names != nil {
				t.Fatalf("names returned with error %v", err)
			}
			return
		}
		if len(names) == 0 || len(names) > MaxExpansion {
			t.Fatalf("Expand(%q) gave %d names", pattern, len(names))
		}
		if !strings.ContainsAny(pattern, "[]") && (len(names) != 1 || names[0] != pattern) {
			t.Fatalf("Expand(%q) = %q, want the pattern itself", pattern, names)
		}
		// Check a sample: what comes out has no range left in it.
		for i := 0; i < len(names); i += 1 + len(names)/16 {
			again, err := Expand(names[i])
			if err != nil || len(again) != 1 || again[0] != names[i] {
				t.Fatalf("Expand(%q)[%d] = %q expands again to %q, %v", pattern, i, names[i], again, err)
			}
		}
	})
}
