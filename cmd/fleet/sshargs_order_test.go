package main

import (
	"context"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExtraArgsOrderMatchesSSH: pssh runs `ssh [-l USER] WORDS... host`
// (its -l, from -l or the host line, before the -x words), and ssh takes
// the first -l and the first -p. For each case, ssh -G is asked what it
// would use, and fleet must choose the same user and port.
func TestExtraArgsOrderMatchesSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client to compare with")
	}
	cases := []struct {
		user  string // fleet's -l (pssh's -l)
		words []string
	}{
		{"root", []string{"-l", "bob"}},
		{"", []string{"-l", "bob"}},
		{"", []string{"-l", "alice", "-l", "bob"}},
		{"", []string{"-p", "2201", "-p", "2202"}},
		{"root", []string{"-p", "2201", "-l", "bob", "-p", "2202"}},
	}
	for _, tc := range cases {
		name := tc.user + " " + strings.Join(tc.words, " ")
		var argv []string
		if tc.user != "" {
			argv = append(argv, "-l", tc.user)
		}
		argv = append(append([]string{"-G", "-F", "none"}, append(argv, tc.words...)...), "somehost")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, sshBin, argv...).Output()
		cancel()
		if err != nil {
			t.Fatalf("%s: ssh -G: %v", name, err)
		}
		var wantUser string
		wantPort := 0
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "user "); ok {
				wantUser = v
			}
			if v, ok := strings.CutPrefix(l, "port "); ok {
				wantPort, _ = strconv.Atoi(v)
			}
		}
		var o targetOptions
		o.dial.User = tc.user
		if err := applyExtraArgs(tc.words, &o, false); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		gotUser, gotPort := o.dial.User, o.dial.Port
		if gotUser == "" { // the local user, as ssh
			me, err := user.Current()
			if err != nil {
				t.Fatal(err)
			}
			gotUser = me.Username
		}
		if gotPort == 0 {
			gotPort = 22
		}
		if gotUser != wantUser || gotPort != wantPort {
			t.Errorf("%s: fleet uses user %q port %d; ssh -G says %q and %d", name, gotUser, gotPort, wantUser, wantPort)
		}
	}
}
