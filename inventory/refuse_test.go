package inventory

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// refusals parses in and returns each host's refusal by inventory name, as
// "where key group: reason", "" for a host fleet reaches.
func refusals(t *testing.T, in string) map[string]string {
	t.Helper()
	hosts := mustParse(t, in, "f")
	out := map[string]string{}
	for _, h := range hosts {
		out[h.Alias] = ""
		if r := h.Refused; r != nil {
			out[h.Alias] = fmt.Sprintf("%s %s %s: %s", r.Where, r.Key, r.Group, r.Reason)
			if r.Error() != r.Where+": "+r.Reason {
				t.Errorf("Error() = %q, want where and reason", r.Error())
			}
		}
	}
	return out
}

// TestParseAnsibleRefusals checks that a variable fleet cannot honour
// refuses the hosts it applies to, as they stand after Ansible's
// precedence, and not the file (which failed to parse before).
func TestParseAnsibleRefusals(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		{name: "local connection", in: "localhost ansible_connection=local\n[web]\nweb1\n",
			want: map[string]string{
				"localhost": "f:1 ansible_connection : ansible_connection=local: fleet reaches hosts with ssh only",
				"web1":      "",
			}},
		{name: "private key of a group and of a host", in: "[g:vars]\nansible_ssh_private_key_file=~/.ssh/k\n[g]\nh1\nh2 ansible_ssh_private_key_file=~/k2\n[other]\nh3\n",
			want: map[string]string{
				"h1": "f:2 ansible_ssh_private_key_file g: ansible_ssh_private_key_file is not read from an inventory: give the key with --identity FILE or IdentityFile in ssh_config",
				// The host's own variable wins over its group's.
				"h2": "f:5 ansible_ssh_private_key_file : ansible_ssh_private_key_file is not read from an inventory: give the key with --identity FILE or IdentityFile in ssh_config",
				"h3": "",
			}},
		{name: "a host undoes its group's", in: "[g:vars]\nansible_connection=local\nansible_become=yes\n[g]\nh1 ansible_connection=ssh ansible_become=no\nh2\n[p:children]\ng\n",
			want: map[string]string{
				"h1": "",
				// Of two refused variables, the first in the file.
				"h2": "f:2 ansible_connection g: ansible_connection=local: fleet reaches hosts with ssh only",
			}},
		{name: "a child group's wins over its parent's", in: "[p:vars]\nansible_become=true\n[c:vars]\nansible_become=False\n[p:children]\nc\n[c]\nh1\n[p]\nh2\n",
			want: map[string]string{"h1": "", "h2": "f:2 ansible_become p: ansible_become is not read from an inventory: fleet runs as the login user unless --sudo is given"}},
		{name: "password, without its value", in: "h ansible_password=s3cret\nh2 ansible_ssh_pass=s3cret\nh3 ansible_become_pass=s3cret\n",
			want: map[string]string{
				"h":  "f:1 ansible_password : ansible_password is not read from an inventory: use -A (--askpass) or --password-file, -S for sudo",
				"h2": "f:2 ansible_ssh_pass : ansible_ssh_pass is not read from an inventory: use -A (--askpass) or --password-file, -S for sudo",
				"h3": "f:3 ansible_become_pass : ansible_become_pass is not read from an inventory: use -A (--askpass) or --password-file, -S for sudo",
			}},
		{name: "other ansible keys", in: "h ansible_ssh_common_args=-oX=y\nh2 ansible_python_interpreter=/usr/bin/python3 ansible_connection=smart app_port=8080\n",
			want: map[string]string{
				"h":  "f:1 ansible_ssh_common_args : ansible_ssh_common_args is not supported: of the ansible_ variables fleet honours ansible_host, ansible_user and ansible_port (give other ssh settings with -O or ssh_config)",
				"h2": "",
			}},
		{name: "a group without hosts refuses nothing", in: "[all:vars]\nansible_user=u\n[g:vars]\nansible_become=true\n[g]\n[h]\nh1\n",
			want: map[string]string{"h1": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refusals(t, tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			for h, r := range got {
				if strings.Contains(r, "s3cret") {
					t.Errorf("%s: refusal %q shows the password", h, r)
				}
			}
		})
	}
}

func TestCheckRefused(t *testing.T) {
	hosts := mustParse(t, "localhost ansible_connection=local\nlb1\n[web]\nweb[01:12]\n[web:vars]\nansible_become=yes\n[db]\ndb1 ansible_password=x\ndb2\n", "inv")
	for _, fine := range [][]Host{hosts[1:2], nil} { // lb1, and no host at all
		if err := CheckRefused(fine); err != nil {
			t.Errorf("CheckRefused(%v) = %v, want nil", fine, err)
		}
	}

	re := mustRefuse(t, hosts[:2])
	if len(re.Hosts) != 1 || re.Hosts[0].Alias != "localhost" {
		t.Fatalf("CheckRefused(localhost, lb1) = %#v, want a *RefusedError with localhost", re)
	}
	if want := "inv:1: localhost: ansible_connection=local: fleet reaches hosts with ssh only"; re.Error() != want {
		t.Errorf("error %q, want %q", re, want)
	}
	if got := re.Exclude(); !reflect.DeepEqual(got, []string{"localhost"}) {
		t.Errorf("Exclude() = %q, want localhost", got)
	}

	// Every refused host is counted; a group's refusal is one line, its
	// hosts folded, and excluded by the group.
	re = mustRefuse(t, hosts)
	want := "14 of the selected hosts are set up in their inventory to be reached in ways fleet cannot:\n" +
		"  inv:1: localhost: ansible_connection=local: fleet reaches hosts with ssh only\n" +
		"  inv:6: web01, web02, web03, web04 and 8 more: ansible_become is not read from an inventory: fleet runs as the login user unless --sudo is given\n" +
		"  inv:8: db1: ansible_password is not read from an inventory: use -A (--askpass) or --password-file, -S for sudo"
	if re.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", re, want)
	}
	if got := re.Exclude(); !reflect.DeepEqual(got, []string{"localhost", "web", "db1"}) || !re.Hosts[1].Refused.WholeGroup {
		t.Errorf("Exclude() = %q, want localhost, web, db1", got)
	}
	// Five hosts of the group are named, not the group.
	if got := mustRefuse(t, hosts[2:7]).Exclude(); len(got) != 5 || got[0] != "web01" {
		t.Errorf("Exclude() of five web hosts = %q, want their names", got)
	}
}

// mustRefuse returns what CheckRefused(hosts) must be: a *RefusedError.
func mustRefuse(t *testing.T, hosts []Host) *RefusedError {
	t.Helper()
	var re *RefusedError
	if err := CheckRefused(hosts); !errors.As(err, &re) {
		t.Fatalf("CheckRefused = %v, want a *RefusedError", err)
	}
	return re
}

func TestCheckRefusedFolds(t *testing.T) {
	// One refusal per host, on lines of their own: at most a few lines,
	// and no --exclude that long.
	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, "h%d ansible_connection=local\n", i)
	}
	re := mustRefuse(t, mustParse(t, in.String(), "inv"))
	lines := strings.Split(re.Error(), "\n")
	if len(lines) != 1+maxRefusalLines || !strings.HasPrefix(lines[0], "20 of the selected hosts") ||
		lines[len(lines)-1] != "  and 13 more such lines" {
		t.Errorf("error\n%v\nwant a count, %d lines and a last line with the rest", re, maxRefusalLines-1)
	}
	if got := re.Exclude(); got != nil {
		t.Errorf("Exclude() = %q, want nil for 20 names", got)
	}
	// A host that undoes its group's variable is not left out with the
	// others by excluding the group: their names are the answer.
	re = mustRefuse(t, mustParse(t, "[g]\nn[1:7]\nn4 ansible_become=no\n[other]\no1\n[g:vars]\nansible_become=yes\n", "inv"))
	if got, want := re.Exclude(), []string{"n1", "n2", "n3", "n5", "n6", "n7"}; !reflect.DeepEqual(got, want) || re.Hosts[0].Refused.WholeGroup {
		t.Errorf("Exclude() = %q, want %q", got, want)
	}
	// A refusal of all's variables is not undone by excluding all.
	if got := mustRefuse(t, mustParse(t, "[all:vars]\nansible_become=1\n[g]\nn[1:9]\n", "inv")).Exclude(); got != nil {
		t.Errorf("Exclude() = %q, want nil (not all)", got)
	}
}
