package fleet

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// generatedCases builds combinations for the differential test: Host
// patterns against names, every Match criterion before and after the Host
// block that sets HostName and User, every token, first-match-wins with
// and without -o, and the ProxyJump/ProxyCommand slot.
func generatedCases(t *testing.T, dir string) []diffCase {
	gdir := filepath.Join(dir, "generated")
	if err := os.MkdirAll(gdir, 0o700); err != nil {
		t.Fatal(err)
	}
	var out []diffCase
	n := 0
	add := func(config string, cs ...diffCase) {
		n++
		path := filepath.Join(gdir, fmt.Sprintf("c%03d", n))
		writeFile(t, path, config, 0o600)
		for i, c := range cs {
			c.name = fmt.Sprintf("generated/c%03d#%d", n, i+1)
			c.config = path
			out = append(out, c)
		}
	}
	// Host patterns.
	for _, pat := range []string{"*", "web*", "*1", "w?b1", "web1 !web2", "!web1 *", "* !db*", "web1,web2",
		"*.example.com", "WEB1", "web[1]", "?", "db.*.com", "!*", "\"web1\" x"} {
		var cs []diffCase
		for _, a := range []string{"web1", "web2", "db.example.com", "WEB1", "x"} {
			cs = append(cs, diffCase{alias: a})
		}
		add("Host "+pat+"\n  User matched\n  Port 2201\nHost *\n  User fallback\n", cs...)
	}
	// Match criteria, before and after the block that sets HostName/User.
	me := "root"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	crits := []string{"host web1", "host real.lan", "originalhost web1", "originalhost real.lan", "host web1,real.lan",
		"host !real.lan,*", "!host real.lan", "host *.lan", "originalhost WEB1", "host REAL.LAN", "user root",
		"user bob", "localuser " + me, "localuser nobody", "!user bob", "host real.lan user bob",
		"host real.lan originalhost web1", "canonical", "final", "!final", "final host real.lan", "all",
		"canonical all", "final all", "exec true", "exec false", "host nomatch exec false", "!exec false",
		`exec "test %h = real.lan"`, `exec "test %n = web1"`, `exec "test %r = bob"`, `exec "test %p = 2222"`,
		"host real.lan exec true user carol", "Host web1"}
	for _, c := range crits {
		m := "Match " + c + "\n  Port 2222\n  User matched\n  IdentityFile ~/.ssh/m_%h\n"
		h := "Host web1\n  HostName real.lan\n  User bob\n  IdentityFile ~/.ssh/h\n"
		add(h+m, diffCase{alias: "web1"}, diffCase{alias: "web1", user: "carol"})
		add(m+h, diffCase{alias: "web1"}, diffCase{alias: "web1", user: "carol"})
	}
	// Tokens, in UserKnownHostsFile (ssh -G expands it).
	for _, tok := range []string{"C", "d", "h", "i", "k", "L", "l", "n", "p", "r", "u", "%"} {
		cfg := "Host *\n  HostName H.%h\n  UserKnownHostsFile ~/kh_%" + tok + " /k2_%" + tok + "x\n"
		add(cfg, diffCase{alias: "a"}, diffCase{alias: "a", user: "u1", port: 2022})
		add("Host a\n  HostKeyAlias alias1\n"+cfg, diffCase{alias: "a"})
	}
	add("Host *\n  UserKnownHostsFile ~/kh_%z\n", diffCase{alias: "a", failing: true})
	add("Host *\n  HostName %h.%p\n", diffCase{alias: "a", failing: true})
	// First match wins, and -o before everything.
	vals := map[string][3]string{
		"User": {"u1", "u2", "u0"}, "Port": {"2201", "2202", "2200"}, "HostName": {"n1", "n2", "n0"},
		"ConnectTimeout": {"5", "1m", "7"}, "ServerAliveInterval": {"3", "4", "1m5s"}, "ServerAliveCountMax": {"2", "4", "6"},
		"StrictHostKeyChecking": {"yes", "no", "accept-new"}, "HostKeyAlias": {"a1", "a2", "a0"},
		"GlobalKnownHostsFile": {"/g1", "/g2 /g3", "/g0"}, "ProxyJump": {"j1", "j2,j3", "j0"},
		"ProxyCommand": {"nc %h %p", "nc x", "nc y"}, "IdentityFile": {"~/.ssh/i1", "~/.ssh/i2", "~/.ssh/i0"},
		"UserKnownHostsFile": {"~/u1", "~/u2 ~/u3", "/u0"},
	}
	for k, v := range vals {
		cfg := fmt.Sprintf("Host h*\n  %s %s\nHost *\n  %s %s\n", k, v[0], k, v[1])
		add(cfg, diffCase{alias: "h1"}, diffCase{alias: "x1"}, diffCase{alias: "h1", opts: [][2]string{{k, v[2]}}})
	}
	// The one slot of ProxyJump and ProxyCommand, with none.
	for _, pair := range [][2]string{{"ProxyJump j1", "ProxyCommand nc x"}, {"ProxyCommand nc x", "ProxyJump j1"},
		{"ProxyJump none", "ProxyCommand nc x"}, {"ProxyCommand none", "ProxyJump j1"}, {"ProxyJump none", "ProxyJump j1"},
		{"ProxyCommand none", "ProxyCommand nc x"}, {"ProxyJump j1", "ProxyJump j2"}} {
		add("Host h\n  "+pair[0]+"\nHost *\n  "+pair[1]+"\n", diffCase{alias: "h"}, diffCase{alias: "other"})
	}
	return out
}
