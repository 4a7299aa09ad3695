package main

import (
	"strings"
	"testing"
)

// ssh's -A/-a given through -x set agent forwarding; the last one wins, as
// on ssh's command line. fleet's own -A (askpass) is another flag.
func TestSSHArgsAgentForwarding(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-A"}, "yes"},
		{[]string{"-a"}, "no"},
		{[]string{"-A", "-a"}, "no"},
		{[]string{"-o", "User=x"}, ""},
	}
	for _, c := range cases {
		var o targetOptions
		if err := applyExtraArgs(c.args, &o, false); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if o.dial.ForwardAgent != c.want {
			t.Errorf("%v: ForwardAgent %q, want %q", c.args, o.dial.ForwardAgent, c.want)
		}
	}
}

// Issue 15 item 3: the common ssh options pssh users pass are taken (the
// harmless ones noted as ignored), the rest refused by name.
func TestSSHArgsAcceptedAndRefused(t *testing.T) {
	var o targetOptions
	args := []string{"-q", "-C", "-4", "-F", "cfg", "-vvv", "-tt", "-p2222", "-lroot", "-o", "LogLevel=ERROR",
		"-o", "ControlMaster=auto", "-o", "KexAlgorithms=curve25519-sha256", "-c", "aes128-ctr"}
	if err := applyExtraArgs(args, &o, false); err != nil {
		t.Fatal(err)
	}
	if o.dial.ConfigFile != "cfg" || o.dial.Port != 2222 || o.dial.User != "root" || !o.pty || o.family != "4" {
		t.Errorf("not applied: %+v", o.dial)
	}
	want := [][2]string{{"KexAlgorithms", "curve25519-sha256"}, {"Ciphers", "aes128-ctr"}}
	// -x words come after -l and -p (fleet.Options.ExtraOverrides).
	if len(o.dial.Overrides) != 0 || len(o.dial.ExtraOverrides) != 2 || o.dial.ExtraOverrides[0] != want[0] || o.dial.ExtraOverrides[1] != want[1] {
		t.Errorf("overrides %q and -x's %q, want none and %q", o.dial.Overrides, o.dial.ExtraOverrides, want)
	}
	if got := strings.Join(o.ignored, "\n"); !strings.Contains(got, "LogLevel=ERROR") || !strings.Contains(got, "ssh -q") ||
		!strings.Contains(got, "ControlMaster=auto") {
		t.Errorf("ignored: %q", o.ignored)
	}
	for _, bad := range [][]string{{"-R", "80:x:80"}, {"-L8080:x:80"}, {"-X"}, {"-N"}, {"-Z"}, {"uptime"}, {"-p"},
		// ssh -l takes the user -l takes: one that a run record's failed
		// file could not read back is refused.
		{"-l", "a;b"}, {"-l-x"}} {
		var o targetOptions
		if err := applyExtraArgs(bad, &o, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// What -x meets is already set: ssh takes one -F and one -J ("Only a
	// single -J option is permitted"), so a second is refused, not taken
	// over the first; the same -J twice is no conflict.
	for _, tc := range []struct {
		config, jump string
		args         []string
		scp, ok      bool
	}{
		{"a", "", []string{"-F", "b"}, false, false},
		{"", "a", []string{"-J", "b"}, false, false},
		{"", "", []string{"-J", "a", "-Jb"}, false, false},
		{"", "a", []string{"-J", "a"}, true, true},
	} {
		var o targetOptions
		o.dial.ConfigFile, o.dial.ProxyJump = tc.config, tc.jump
		if err := applyExtraArgs(tc.args, &o, tc.scp); (err == nil) != tc.ok || tc.ok && o.dial.ProxyJump != tc.jump {
			t.Errorf("-F %q -J %q, then -x %q: %v, ProxyJump %q", tc.config, tc.jump, tc.args, err, o.dial.ProxyJump)
		}
	}
	o = targetOptions{}
	o.addOverride([2]string{"ForwardX11", "yes"}, "-O")
	if len(o.dial.Overrides) != 1 {
		t.Error("ForwardX11 yes dropped as harmless: the engine must refuse it")
	}
}

// Issue 15 item 2: pscp's and pslurp's -x are scp's options: -l is a
// bandwidth limit (not a user), -P the port, -p preserve.
func TestSCPArgs(t *testing.T) {
	var o targetOptions
	if err := applyExtraArgs([]string{"-l", "8192", "-p", "-P", "22", "-r", "-C", "-q", "-o", "User=x", "-i", "k"}, &o, true); err != nil {
		t.Fatal(err)
	}
	if o.dial.User != "" || o.bwLimit != 8192*1024/8 || !o.preserve || o.dial.Port != 22 || !o.recursive ||
		len(o.dial.IdentityFiles) != 1 || len(o.dial.ExtraOverrides) != 1 {
		t.Errorf("scp args: %+v bw %d preserve %v", o.dial, o.bwLimit, o.preserve)
	}
	for _, bad := range [][]string{{"-3"}, {"-S", "prog"}, {"-R"}, {"-t"}, {"-l", "x"}} {
		var o targetOptions
		if err := applyExtraArgs(bad, &o, true); err == nil {
			t.Errorf("scp %q accepted", bad)
		}
	}
}
