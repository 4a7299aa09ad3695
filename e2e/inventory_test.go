package e2e

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAnsibleInventorySelection runs fleet on real sshd hosts named by an
// Ansible INI inventory (inventory names, ansible_host, ansible_port,
// ansible_user from [all:vars], groups and children) with --limit and
// --exclude, and checks which hosts ran the command: each host says the
// address and port its sshd answered on ($SSH_CONNECTION), so a host
// reached at the wrong address, or one that should not have run, shows.
// Its first line is the common "localhost ansible_connection=local", which
// fleet cannot honour: it refuses that host only when it is selected.
func TestAnsibleInventorySelection(t *testing.T) {
	u := setup(t)
	hs := testFleet.Hosts
	np := testFleet.Users.NoPass
	names := []string{"w1", "w2", "d1", "c1"}
	var inv strings.Builder
	line := func(i int) string {
		return fmt.Sprintf("%s ansible_host=%s ansible_port=%d\n", names[i], hs[i].Addr, hs[i].Port)
	}
	inv.WriteString("# written by the e2e test\nlocalhost ansible_connection=local\n[web]\n" + line(0) + line(1))
	inv.WriteString("[db]\n" + line(2) + "[cache]\n" + line(3) + "[staging]\n")
	inv.WriteString("[prod:children]\nweb\ndb\n[all:vars]\nansible_user=" + np + "\nhttp_port=80\n")
	file := writeFile(t, filepath.Join(u.home, "inventory.ini"), inv.String(), 0o600)

	// ran runs the command with the selection flags and returns, by label,
	// the "address port" each host's sshd saw the command on.
	ran := func(t *testing.T, selection ...string) map[string]string {
		t.Helper()
		args := append([]string{"-h", file, "-i"}, selection...)
		r := u.run(append(args, `set -- $SSH_CONNECTION; echo "$3 $4"`)...)
		mustExit(t, r, 0)
		got := map[string]string{}
		for l, block := range inlineBlocks(r.stdout) {
			got[l] = strings.TrimSpace(block)
		}
		return got
	}
	check := func(t *testing.T, got map[string]string, want ...int) {
		t.Helper()
		var wantLabels []string
		for _, i := range want {
			wantLabels = append(wantLabels, names[i])
			if at := hs[i].Addr + " " + strconv.Itoa(hs[i].Port); got[names[i]] != at {
				t.Errorf("%s ran on %q, want %q (its ansible_host and ansible_port)", names[i], got[names[i]], at)
			}
		}
		if labels := slices.Sorted(maps.Keys(got)); !slices.Equal(labels, sorted(wantLabels)) {
			t.Errorf("hosts that ran: %q, want %q", labels, sorted(wantLabels))
		}
	}
	t.Run("limit to a parent group less one host", func(t *testing.T) {
		check(t, ran(t, "--limit", "prod", "--exclude", "w2"), 0, 2)
	})
	t.Run("limit with exclusion and union", func(t *testing.T) {
		check(t, ran(t, "--limit", "prod:!web:cache"), 2, 3)
	})
	t.Run("intersection and exclude by glob", func(t *testing.T) {
		check(t, ran(t, "--limit", "all:&prod", "--exclude", "d*"), 0, 1)
	})
	t.Run("every host but the local one", func(t *testing.T) {
		check(t, ran(t, "--exclude", "localhost"), 0, 1, 2, 3)
	})
	t.Run("the local one selected runs nothing", func(t *testing.T) {
		for _, selection := range [][]string{nil, {"--limit", "localhost:web"}, {"--exclude", "web"}} {
			r := u.run(append(append([]string{"-h", file}, selection...), "true")...)
			if r.status != 2 || r.stdout != "" ||
				!strings.Contains(r.stderr, "fleet: error: "+file+":2: localhost: ansible_connection=local: fleet reaches hosts with ssh only\n") ||
				!strings.Contains(r.stderr, "fleet: hint: leave it out with --exclude localhost (or --limit '!localhost')") {
				t.Fatalf("%q: want exit status 2, the refusal and its line, nothing run\n%s", selection, r)
			}
		}
	})
	t.Run("a group without hosts is said to be one", func(t *testing.T) {
		r := u.run("-h", file, "--limit", "staging", "true")
		if r.status != 2 || !strings.Contains(r.stderr, `--limit: group "staging" has no hosts`) || r.stdout != "" {
			t.Fatalf("want exit status 2, the empty group named, nothing run\n%s", r)
		}
	})
	t.Run("a pattern naming nothing runs nothing", func(t *testing.T) {
		r := u.run("-h", file, "--exclude", "w3", "true")
		if r.status != 2 || !strings.Contains(r.stderr, `--exclude: "w3" matches no group and no host`) || r.stdout != "" {
			t.Fatalf("want exit status 2, the pattern named, nothing run\n%s", r)
		}
	})
}
