package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEnsurePeersGoesOnWithout: a peer whose package apt-get cannot install
// is left out with apt-get's reason, the bench goes on, and an installed
// peer is ready. apt-get is a stand-in on PATH that fails as it does
// without a mirror, so the test never touches the network or the machine.
func TestEnsurePeersGoesOnWithout(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	fake := "#!/bin/sh\necho \"$*\" >>" + calls + "\necho 'E: Unable to locate package no-such-peer-pkg' >&2\nexit 100\n"
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	saved := peers
	t.Cleanup(func() { peers = saved })
	peers = []peer{
		{Name: "present", Pkg: "coreutils", Bin: "/bin/sh", versionArgs: []string{"/bin/echo", "present 1.0"}},
		{Name: "absent", Pkg: "no-such-peer-pkg", Bin: filepath.Join(bin, "no-such-peer"), versionArgs: []string{"/bin/false"}},
	}

	var log bytes.Buffer
	st, err := ensurePeers(t.Context(), []string{"present", "absent"}, false, t.TempDir(), &log)
	if err != nil {
		t.Fatalf("ensurePeers: %v (it must go on without a peer)", err)
	}
	if len(st.Ready) != 1 || st.Ready[0].Name != "present" {
		t.Errorf("ready peers = %v, want only present", st.Ready)
	}
	if !strings.HasPrefix(st.Version["present"], "present 1.0") {
		t.Errorf("version of present = %q", st.Version["present"])
	}
	why := st.Missing["absent"]
	if os.Geteuid() == 0 {
		if !strings.Contains(why, "Unable to locate package no-such-peer-pkg") {
			t.Errorf("reason for absent = %q, want apt-get's error", why)
		}
		b, _ := os.ReadFile(calls)
		got := strings.Split(strings.TrimSpace(string(b)), "\n")
		// install all, update, install one by one
		if len(got) != 3 || !strings.Contains(got[1], "update") || !slices.ContainsFunc(got, func(c string) bool {
			return strings.HasSuffix(c, "install -y --no-install-recommends no-such-peer-pkg")
		}) {
			t.Errorf("apt-get calls = %q", got)
		}
	} else if !strings.Contains(why, "needs root") {
		t.Errorf("reason for absent = %q, want that installing needs root", why)
	}
	if !strings.Contains(log.String(), "going on without absent") {
		t.Errorf("log does not say the bench goes on without absent:\n%s", log.String())
	}
}
