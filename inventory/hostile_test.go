package inventory

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// Hostile input: host lists come from files people edit, paste into and
// generate, and from stdin. Whatever they hold, parsing ends with hosts or
// with an error that names the file and line; it never panics, never
// allocates in proportion to a range it refuses, and never accepts a name
// or a user that a shell or ssh would read as more than one literal word.

// maxRefusedAlloc bounds what refusing one hostile input may allocate. The
// inputs below are at most a few MiB, while expanding the ranges they hold
// would take gigabytes.
const maxRefusedAlloc = 64 << 20

// allocated returns how many bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHostileHostFiles(t *testing.T) {
	mib := strings.Repeat("a", 1<<20)
	elf := "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00\x01\x00\x00\x00"
	tests := []struct {
		name, in string
		wantErr  string // the whole message must contain it
	}{
		{"1 MiB line", "web1\n" + mib + "\n", "f:2: line too long (more than 4096 bytes)"},
		{"1 MiB comment", "web1\n# " + mib + "\nweb2\n", "f:2: line too long"},
		{"1 MiB line without newline", mib, "f:1: line too long"},
		{"NUL line", "web1\n\x00\nweb2\n", `f:2: invalid character '\x00' in host "\x00"`},
		{"NUL in user", "ro\x00ot@web1\n", `f:1: invalid character '\x00' in user`},
		{"NUL in port", "web1:22\x00\n", `f:1: invalid port "22\x00"`},
		{"NUL in range", "web[1-\x003]\n", "f:1: host pattern"},
		{"invalid UTF-8 host", "web1\n\xc3\x28\n", `f:2: invalid UTF-8 in host`},
		{"invalid UTF-8 user", "\xff\xfe@web1\n", `f:1: invalid UTF-8 in user`},
		{"invalid UTF-8 legacy user", "web1 r\x80t\n", `f:1: invalid UTF-8 in user`},
		{"byte order mark", "\ufeffweb1\n", `f:1: invalid character '\ufeff' in host`},
		{"binary file", elf + "\n" + elf, "f:1: "},
		{"huge range", "host[1-99999999]\n", `f:1: host pattern "host[1-99999999]" expands to more than 100000 hosts`},
		{"huge range with user and port", "u@host[1-99999999]:22\n", "f:1: host pattern"},
		{"huge product", "n[1-1000][1-1000]\n", "expands to more than 100000 hosts"},
		{"ranges past the cap together", "a[1-60000]\nb[1-60000]\n", "f:2: more than 100000 hosts in total"},
		{"19-digit bound", "n[1-9999999999999999999]\n", "f:1: host pattern"},
		{"17 MiB of comments", strings.Repeat("#"+strings.Repeat(" ", 1022)+"\n", 17<<10), "input larger than 16 MiB"},
		{"command substitution", "web$(reboot)\n", `invalid character '$' in host`},
		{"command substitution with a space", "web$(touch /tmp/x)\n", `invalid character '/' in user "/tmp/x)"`},
		{"backquotes", "`reboot`\n", "invalid character '`' in host"},
		{"semicolon in user", "root;reboot@web1\n", `invalid character ';' in user`},
		{"ssh option as host", "-oProxyCommand=sh\n", "f:1: invalid character '=' in host"},
		{"ssh option as bare host", "-oProxyCommand\n", `f:1: host "-oProxyCommand" must not start with '-'`},
		{"option as user", "-oProxyCommand@web1\n", `user "-oProxyCommand" must not start with '-'`},
		{"path as host", "../../etc/passwd\n", "invalid character '/' in host"},
		{"newline escape", "web1\\\nweb2\n", `invalid character '\\' in host`},
		{"quote", "'web1'\n", `invalid character '\'' in host`},
		{"glob", "web*\n", `invalid character '*' in host`},
		{"port with sign", "web1:+22\n", `invalid port "+22"`},
		{"port as command", "web1:22;reboot\n", `invalid port "22;reboot"`},
		{"three fields", "web1 root -oProxyCommand=sh\n", "too many fields (3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRefuses(t, parseF, "f:", tt.in, tt.wantErr) })
	}
}

// checkRefuses checks that parse refuses in, cheaply, with a short error
// that starts with prefix (where it comes from) and contains wantErr.
func checkRefuses(t *testing.T, parse func(string) ([]Host, error), prefix, in, wantErr string) {
	t.Helper()
	var hosts []Host
	var err error
	n := allocated(func() { hosts, err = parse(in) })
	if err == nil || hosts != nil {
		t.Fatalf("accepted: %d hosts, first %v", len(hosts), hosts[:min(1, len(hosts))])
	}
	if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("error %.300q, want it to start with %q and contain %q", err, prefix, wantErr)
	}
	if len(err.Error()) > 1024 {
		t.Errorf("error of %d bytes: a message must not repeat the hostile input whole", len(err.Error()))
	}
	if n > maxRefusedAlloc {
		t.Errorf("refusing it allocated %d MiB", n>>20)
	}
}

// TestHostileHostArgs: -H takes the same specs on the command line.
func TestHostileHostArgs(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"1 MiB word", strings.Repeat("w", 1<<20), "-H: host spec too long (more than 4096 bytes)"},
		{"huge range", "web1 host[1-99999999]", `-H: host pattern "host[1-99999999]" expands to more than 100000 hosts`},
		{"NUL", "web1\x00web2", `-H: invalid character '\x00' in host`},
		{"invalid UTF-8", "web\xe2\x82", "-H: invalid UTF-8 in host"},
		{"command substitution", "root@$(reboot)", "-H: invalid character '$' in host"},
		{"17 MiB", strings.Repeat("w ", 17<<19), "-H: input larger than 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRefuses(t, parseH, "-H: ", tt.in, tt.wantErr) })
	}
}

// TestHostileSpecsNeverYieldShellSyntax parses random specs built from
// host-like text and shell metacharacters, and checks every host that is
// accepted: its name and user are made only of characters with no meaning
// to a shell, ssh or a file path, and none starts with '-'. The fuzz
// targets explore further; this runs the same check on every go test.
func TestHostileSpecsNeverYieldShellSyntax(t *testing.T) {
	// Host-like pieces come up half the time, so that plenty of specs
	// are accepted and the check below has something to check.
	safe := []string{"web", "1", "a", "-", ".", "_", "@", ":", "22", "[1-3]", "::1", "fe80::1%eth0"}
	pieces := []string{"[", "]", "1-3", ",", "/", "%",
		";", "|", "&", "$", "(", ")", "`", "'", "\"", "\\", "<", ">", "*", "?", "{", "}", "!", "~", "#", "=",
		" ", "\t", "\n", "\x00", "\xff", "\u00a0", "é", "$(id)", "'; reboot; '"}
	rng := rand.New(rand.NewPCG(6, 6))
	accepted := 0
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			if rng.IntN(2) == 0 {
				b.WriteString(safe[rng.IntN(len(safe))])
			} else if rng.IntN(4) == 0 {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		}
		spec := b.String()
		hosts, err := ParseFile(bytes.NewReader([]byte(spec)), "f")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("%q: error without the file: %v", spec, err)
			}
			continue
		}
		for _, h := range hosts {
			accepted++
			// A user may hold "@" (user@domain), never first or last.
			user := strings.TrimSuffix(h.User, "$")
			if !inert(h.Name, true) || h.User != "" && (!inert(strings.ReplaceAll(user, "@", ""), false) ||
				strings.HasPrefix(user, "@") || strings.HasSuffix(user, "@")) {
				t.Fatalf("%q was accepted as user %q, host %q", spec, h.User, h.Name)
			}
		}
	}
	t.Logf("%d hosts accepted from 20000 random specs", accepted)
	// The check above means nothing if every spec was refused.
	if accepted < 1000 {
		t.Fatalf("only %d hosts accepted out of 20000 specs: the generator is too hostile to test acceptance", accepted)
	}
}

// inert reports whether s is one literal word anywhere fleet puts it: ASCII
// letters, digits, '.', '_' and '-' (not first), plus ':' and '%' in an
// IPv6 address.
func inert(s string, host bool) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	v6 := host && strings.Contains(s, ":")
	for _, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-' ||
			v6 && (r == ':' || r == '%')
		if !ok {
			return false
		}
	}
	return true
}
