package main

import "testing"

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
		if err := applySSHArgs(c.args, &o); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if o.dial.ForwardAgent != c.want {
			t.Errorf("%v: ForwardAgent %q, want %q", c.args, o.dial.ForwardAgent, c.want)
		}
	}
	var o targetOptions
	if err := applySSHArgs([]string{"-R", "80:x:80"}, &o); err == nil {
		t.Error("-R accepted")
	}
}
