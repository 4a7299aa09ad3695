package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentAuth: with no key file offered, fleet authenticates through
// ssh-agent; without the agent the same run fails as an authentication
// failure with a hint.
func TestAgentAuth(t *testing.T) {
	u := setup(t)
	sock := startAgent(t, testFleet.Key)
	// A config that names no key: only the agent can authenticate.
	cfg := writeFile(t, filepath.Join(u.home, "agent_config"), "Host *\n  UserKnownHostsFile "+testFleet.KnownHosts+"\n", 0o600)
	hosts := hostArg(testFleet.Users.NoPass, testFleet.Hosts[0], testFleet.Hosts[1])

	u.env = []string{"SSH_AUTH_SOCK=" + sock}
	r := u.run("-F", cfg, "-H", hosts, "true")
	if r.status != 0 {
		t.Fatalf("with the agent:\n%s", r)
	}
	u.env = nil
	r = u.run("-F", cfg, "-H", hosts, "true")
	if r.status != 4 || !strings.Contains(r.stdout, "authentication failed") || !strings.Contains(r.stderr, "fleet: hint:") {
		t.Fatalf("without the agent, want an authentication failure (exit 4) with a hint:\n%s", r)
	}
}

// TestProxyJump reaches hosts through a jump host (-J), and fails every
// host behind a jump host that is down, saying so.
func TestProxyJump(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	jump := label(np, testFleet.Hosts[0])
	targets := hostArg(np, testFleet.Hosts[1], testFleet.Hosts[2])
	r := u.run("-J", jump, "-H", targets, "-i", "echo reached")
	if r.status != 0 || strings.Count(r.stdout, "reached") != 2 {
		t.Fatalf("through %s:\n%s", jump, r)
	}
	r = u.run("-J", testFleet.Unreachable, "-H", targets, "true")
	if r.status != 4 || strings.Count(r.stdout, "jump host "+testFleet.Unreachable) != 2 {
		t.Fatalf("through a jump host that is down, want every host unreachable through it (exit 4):\n%s", r)
	}
	// A jump host that refuses the login: each target says it was the
	// jump host, once, and in the hop's own words.
	hop := testFleet.Hosts[0].HostPort()
	r = u.run("-J", "fleet-nosuchuser@"+hop, "-H", targets, "true")
	want := "unreachable: jump host " + hop + ": authentication failed: "
	if r.status != 4 || strings.Count(r.stdout, want) != 2 || strings.Count(r.stdout, "jump host") != 2 {
		t.Fatalf("through a jump host refusing the login, want %q once per host (exit 4):\n%s", want, r)
	}
}
