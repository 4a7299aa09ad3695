package fleet

import (
	"cmp"
	"strconv"
	"testing"

	"github.com/fleet-sh/fleet/inventory"
)

// TestOverridesOrderMatchesPSSH: pssh runs `ssh host -o OPT... -l USER -p
// PORT WORDS...`, with -O's options first, its -l (the host line's user,
// else -l) and -p (the host line's port) next, and the -x words last; ssh
// takes the first value of each. So -O User and -O Port win over the host
// list and -l, and -x "-o User=..." loses to them. Each case is put to ssh
// -G in that order and fleet must reach the same user and port.
func TestOverridesOrderMatchesPSSH(t *testing.T) {
	sshBin := sshClient(t)
	cases := []struct {
		host        inventory.Host
		user        string // -l
		early, late [][2]string
	}{
		{host: inventory.Host{Name: "h", User: "hostuser", Port: 2200}, early: [][2]string{{"User", "opt"}, {"Port", "2998"}}},
		{host: inventory.Host{Name: "h", User: "hostuser"}, user: "lflag", early: [][2]string{{"User", "opt"}}},
		{host: inventory.Host{Name: "h"}, user: "lflag", late: [][2]string{{"User", "xword"}}},
		{host: inventory.Host{Name: "h", Port: 2200}, late: [][2]string{{"Port", "2998"}, {"User", "xword"}}},
		{host: inventory.Host{Name: "h"}, early: [][2]string{{"User", "opt"}}, late: [][2]string{{"User", "xword"}}},
	}
	for _, tc := range cases {
		argv := []string{"-F", "none"}
		name := tc.host.String()
		for _, kv := range tc.early {
			argv = append(argv, "-o", kv[0]+"="+kv[1])
			name += " -O " + kv[0] + "=" + kv[1]
		}
		if u := cmp.Or(tc.host.User, tc.user); u != "" {
			argv = append(argv, "-l", u)
			name += " -l " + u
		}
		if tc.host.Port != 0 {
			argv = append(argv, "-p", strconv.Itoa(tc.host.Port))
		}
		for _, kv := range tc.late {
			argv = append(argv, "-o", kv[0]+"="+kv[1])
			name += ` -x "-o ` + kv[0] + "=" + kv[1] + `"`
		}
		ssh, err := sshDashG(sshBin, append(argv, tc.host.Name)...)
		if err != nil {
			t.Fatalf("%s: ssh -G: %v", name, err)
		}
		wantUser, wantPort := ssh["user"], ssh["port"]
		home := t.TempDir()
		d, err := NewDialer(Options{ConfigFile: "none", Home: home, LocalUser: "localme", User: tc.user,
			Overrides: tc.early, ExtraOverrides: tc.late})
		if err != nil {
			t.Fatal(err)
		}
		e, err := d.endpoint(tc.host)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.user != wantUser || strconv.Itoa(e.port) != wantPort {
			t.Errorf("%s: fleet reaches %s@:%d; ssh -G (in pssh's order) says %s@:%s", name, e.user, e.port, wantUser, wantPort)
		}
		if eff := d.Effective(tc.host); eff.User != e.user || (eff.Port != e.port && !(eff.Port == 0 && e.port == 22)) {
			t.Errorf("%s: Effective says %s, the endpoint %s@:%d", name, eff, e.user, e.port)
		}
		d.Close()
	}
}
