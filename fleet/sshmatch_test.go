package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/inventory"
)

func TestSplitArgs(t *testing.T) {
	tests := map[string][]string{
		`a b`:              {"a", "b"},
		`"a b" c`:          {"a b", "c"},
		`a"b c"d`:          {"ab cd"},
		`'x y'`:            {"x y"},
		`a\"b`:             {`a"b`},
		`a\ b`:             {"a b"},
		`a # comment`:      {"a"},
		`a#b`:              {"a#b"},
		`"#not" # comment`: {"#not"},
		`a\qb`:             {`a\qb`},
	}
	for in, want := range tests {
		got, err := splitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitArgs(`"open`); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}

func TestMatchPatterns(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{{"web1", "web*", true}, {"web1", "w?b1", true}, {"web1", "w?b", false}, {"web[1]", "web[1]", true},
		{"web1", "web[1]", false}, {"a.b.c", "*.c", true}, {"", "*", true}, {"x", "", false}} {
		if got := matchPattern(c.s, c.p); got != c.want {
			t.Errorf("matchPattern(%q, %q) = %v", c.s, c.p, got)
		}
	}
	if !matchPatternList("a", "x,a") || matchPatternList("a", "!a,*") || !matchPatternList("b", "!a,*") || matchPatternList("a", "!b") {
		t.Error("pattern lists")
	}
	if matchHostLine("a", []string{"a,b"}) || !matchHostLine("a", []string{"x", "a"}) || matchHostLine("a", []string{"*", "!a"}) {
		t.Error("Host lines take one pattern per argument, and a negated match wins")
	}
}

// TestMatchSemantics covers what the old parser got wrong (issue 12).
func TestMatchSemantics(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	config := fmt.Sprintf(`Match host X user nobody
  Port 1001
Match host who exec "test -e /nonexistent-flag"
  User ops
Match host nomatch exec "touch %s"
  User never
Host who
  HostName real.example
  User root
Match host real.example
  IdentityFile ~/.ssh/by_hostname
Match originalhost who
  IdentityFile ~/.ssh/by_alias
Match host who
  IdentityFile ~/.ssh/wrong
`, ran)
	e, err := resolveWith(t, config, Options{}, inventory.Host{Name: "who"})
	if err != nil {
		t.Fatal(err)
	}
	if e.user != "root" || e.port != 22 || e.hostName != "real.example" {
		t.Errorf("got %s@%s:%d, want root@real.example:22", e.user, e.hostName, e.port)
	}
	if len(e.identityFiles) != 2 || !strings.HasSuffix(e.identityFiles[0], "by_hostname") || !strings.HasSuffix(e.identityFiles[1], "by_alias") {
		t.Errorf("identity files %q", e.identityFiles)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("Match exec ran although an earlier criterion on its line failed")
	}
	e, _ = resolveWith(t, "Match host X user nobody\n  Port 1001\n", Options{User: "nobody"}, inventory.Host{Name: "X"})
	if e.port != 1001 {
		t.Errorf("both criteria true: port %d", e.port)
	}
}

// TestMatchExecCannotRun: a Match exec that cannot be run is an error,
// never a match.
func TestMatchExecCannotRun(t *testing.T) {
	t.Setenv("SHELL", "/nonexistent/shell")
	_, err := resolveWith(t, "Match exec true\n  User x\n", Options{}, inventory.Host{Name: "h"})
	if err == nil || !strings.Contains(err.Error(), "Match exec") {
		t.Fatalf("got %v", err)
	}
}

// TestRefusedOnlyWhereItApplies: a refused key in a block for another host
// is fine (TestResolveErrors has the host it applies to).
func TestRefusedOnlyWhereItApplies(t *testing.T) {
	config := "Host legacy\n  BindAddress 127.0.0.1\nHost *\n  ControlMaster auto\n"
	if _, err := resolveWith(t, config, Options{}, inventory.Host{Name: "web"}); err != nil {
		t.Errorf("a key for another host refused this one: %v", err)
	}
}

func TestIncludeDepth(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	writeFile(t, loop, "Include "+loop+"\n", 0o600)
	_, err := loadSSHConfig(loop, dir, nil, nil, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "too many nested Include") {
		t.Fatalf("got %v", err)
	}
}

// TestResolveManyHostsCheap: the files are parsed once; resolving 5000
// distinct hosts against a config of realistic size stays cheap.
// manyHostsConfig is an ssh_config of 200 Host and 200 Match blocks, as
// large sites keep, and the resolver it loads.
func manyHostsConfig(tb testing.TB) (*sshConfig, string) {
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "Host app%d-*\n  User u%d\n  IdentityFile ~/.ssh/k%d\nMatch host *.dc%d user root\n  Port %d\n", i, i, i, i, 2000+i)
	}
	b.WriteString("Host *\n  ServerAliveInterval 30\n  UserKnownHostsFile ~/.ssh/kh_%h\n")
	home := tb.TempDir()
	path := filepath.Join(home, "config")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	c, err := loadSSHConfig(path, home, nil, nil, func(string) {})
	if err != nil {
		tb.Fatal(err)
	}
	return c, home
}

// TestResolveManyHosts checks that a large config resolves each host to
// its own block; how fast is BenchmarkResolveManyHosts's to say (a timed
// test fails on a loaded machine and proves nothing on a fast one).
func TestResolveManyHosts(t *testing.T) {
	c, home := manyHostsConfig(t)
	env := newTokenEnv(home, "me")
	for i := 0; i < 600; i++ {
		e, err := c.resolveCtx(t.Context(), inventory.Host{Name: fmt.Sprintf("app%d-%d", i%300, i)}, &Options{}, env)
		if err != nil {
			t.Fatal(err)
		}
		if i%300 < 200 && e.user != fmt.Sprintf("u%d", i%300) {
			t.Fatalf("host %d: user %s", i, e.user)
		}
		if i%300 >= 200 && e.user != "" && e.user != "me" {
			t.Fatalf("host %d matches no Host block but got user %s", i, e.user)
		}
	}
}

// BenchmarkResolveManyHosts is the cost of resolving one host against
// the 400-block config (about 90 µs a host on 2 cores without the race
// detector: 5,000 hosts in under half a second).
func BenchmarkResolveManyHosts(b *testing.B) {
	c, home := manyHostsConfig(b)
	env := newTokenEnv(home, "me")
	i := 0
	for b.Loop() {
		if _, err := c.resolveCtx(b.Context(), inventory.Host{Name: fmt.Sprintf("app%d-%d", i%300, i)}, &Options{}, env); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
