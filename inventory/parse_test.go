package inventory

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// hostAt is a short way to write an expected host.
func hostAt(user, name string, port int, source string) Host {
	return Host{User: user, Name: name, Port: port, Source: source}
}

// parseCase is a host list, and the hosts or the error it must give.
type parseCase struct {
	name    string
	in      string
	want    []Host
	wantErr string
}

// checkParse runs parse on each case: the error must be wantErr exactly,
// and the hosts want (none with an error).
func checkParse(t *testing.T, call string, parse func(string) ([]Host, error), tests []parseCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in)
			if errText(err) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s(%.200q) = %v, %v\nwant %v, %q", call, tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// errText is err's message, "" for no error.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// parseF and parseH parse in as the file "f" and as -H's argument.
func parseF(in string) ([]Host, error) { return ParseFile(strings.NewReader(in), "f") }
func parseH(in string) ([]Host, error) { return ParseArgs(in, "-H") }

func TestParseFile(t *testing.T) {
	long := strings.Repeat("a", 256)
	checkParse(t, "ParseFile", parseF, []parseCase{
		{name: "empty", in: ""},
		{name: "only comments and blanks", in: "# hosts\n\n   \n\t# indented\n"},
		{name: "bare host", in: "web1\n", want: []Host{hostAt("", "web1", 0, "f:1")}},
		{name: "no final newline", in: "web1", want: []Host{hostAt("", "web1", 0, "f:1")}},
		{name: "user and port", in: "admin@web1:2222\n", want: []Host{hostAt("admin", "web1", 2222, "f:1")}},
		{name: "user at a domain", in: "jane@corp.example.com@web1:2222\n", want: []Host{hostAt("jane@corp.example.com", "web1", 2222, "f:1")}},
		{name: "comments everywhere",
			in: "# head\nweb1 # trailing\nweb2#direct\n  web3  \n",
			want: []Host{
				hostAt("", "web1", 0, "f:2"), hostAt("", "web2", 0, "f:3"), hostAt("", "web3", 0, "f:4"),
			}},
		{name: "crlf", in: "web1\r\nweb2:22\r\n\r\n",
			want: []Host{hostAt("", "web1", 0, "f:1"), hostAt("", "web2", 22, "f:2")}},
		{name: "legacy user field", in: "web1:2222 admin\nweb2\troot\n",
			want: []Host{hostAt("admin", "web1", 2222, "f:1"), hostAt("root", "web2", 0, "f:2")}},
		{name: "legacy user with range", in: "node[1-2] admin",
			want: []Host{hostAt("admin", "node1", 0, "f:1"), hostAt("admin", "node2", 0, "f:1")}},
		{name: "ipv6 bracketed with port", in: "[2001:db8::1]:2222", want: []Host{hostAt("", "2001:db8::1", 2222, "f:1")}},
		{name: "ipv6 bracketed no port", in: "[2001:db8::1]", want: []Host{hostAt("", "2001:db8::1", 0, "f:1")}},
		{name: "ipv6 bare", in: "2001:db8::1", want: []Host{hostAt("", "2001:db8::1", 0, "f:1")}},
		{name: "ipv6 with user", in: "user@[::1]:22", want: []Host{hostAt("user", "::1", 22, "f:1")}},
		{name: "ipv6 zone", in: "fe80::1%eth0\n[fe80::1%eth0]:22",
			want: []Host{hostAt("", "fe80::1%eth0", 0, "f:1"), hostAt("", "fe80::1%eth0", 22, "f:2")}},
		{name: "ipv4 in ipv6", in: "::ffff:10.0.0.1", want: []Host{hostAt("", "::ffff:10.0.0.1", 0, "f:1")}},
		{name: "ipv6 legacy user", in: "[::1]:22 root", want: []Host{hostAt("root", "::1", 22, "f:1")}},
		{name: "range padded", in: "node[01-03]",
			want: []Host{hostAt("", "node01", 0, "f:1"), hostAt("", "node02", 0, "f:1"), hostAt("", "node03", 0, "f:1")}},
		{name: "range list with suffix", in: "web[1-2,7].example.com",
			want: []Host{
				hostAt("", "web1.example.com", 0, "f:1"), hostAt("", "web2.example.com", 0, "f:1"),
				hostAt("", "web7.example.com", 0, "f:1"),
			}},
		{name: "range in ipv4", in: "10.0.0.[1-2]",
			want: []Host{hostAt("", "10.0.0.1", 0, "f:1"), hostAt("", "10.0.0.2", 0, "f:1")}},
		{name: "range with user and port", in: "deploy@node[1-2]:2222",
			want: []Host{hostAt("deploy", "node1", 2222, "f:1"), hostAt("deploy", "node2", 2222, "f:1")}},
		{name: "range at start with port", in: "[1-2].example.com:22",
			want: []Host{hostAt("", "1.example.com", 22, "f:1"), hostAt("", "2.example.com", 22, "f:1")}},
		{name: "range in bare ipv6", in: "2001:db8::[8-9]",
			want: []Host{hostAt("", "2001:db8::8", 0, "f:1"), hostAt("", "2001:db8::9", 0, "f:1")}},
		{name: "cartesian", in: "r[1-2]n[1-2]",
			want: []Host{
				hostAt("", "r1n1", 0, "f:1"), hostAt("", "r1n2", 0, "f:1"),
				hostAt("", "r2n1", 0, "f:1"), hostAt("", "r2n2", 0, "f:1"),
			}},
		{name: "duplicates kept", in: "web1\nweb1\n",
			want: []Host{hostAt("", "web1", 0, "f:1"), hostAt("", "web1", 0, "f:2")}},
		{name: "machine account user", in: "host$@dc1", want: []Host{hostAt("host$", "dc1", 0, "f:1")}},
		{name: "fqdn trailing dot", in: "web1.example.com.", want: []Host{hostAt("", "web1.example.com.", 0, "f:1")}},
		{name: "leading zero port", in: "web1:000022", want: []Host{hostAt("", "web1", 22, "f:1")}},
		{name: "underscore", in: "my_host", want: []Host{hostAt("", "my_host", 0, "f:1")}},

		{name: "bad port", in: "web1\nweb2:22x\n", wantErr: `f:2: invalid port "22x"`},
		{name: "port zero", in: "web1:0", wantErr: `f:1: invalid port "0"`},
		{name: "port too big", in: "web1:65536", wantErr: `f:1: invalid port "65536"`},
		{name: "port overflows int", in: "web1:99999999999999999999", wantErr: `f:1: invalid port "99999999999999999999"`},
		{name: "port empty", in: "web1:", wantErr: `f:1: invalid port ""`},
		{name: "port signed", in: "web1:+22", wantErr: `f:1: invalid port "+22"`},
		{name: "port negative", in: "web1:-1", wantErr: `f:1: invalid port "-1"`},
		{name: "port on bracketed v6 empty", in: "[::1]:", wantErr: `f:1: invalid port ""`},
		{name: "empty user", in: "@web1", wantErr: `f:1: empty user`},
		{name: "empty host", in: "admin@", wantErr: `f:1: empty host`},
		{name: "empty host with port", in: ":22", wantErr: `f:1: empty host`},
		{name: "empty brackets host", in: "[]:22", wantErr: `f:1: empty host`},
		{name: "semicolon", in: "web;1", wantErr: `f:1: invalid character ';' in host "web;1"`},
		{name: "dollar", in: "web$(x)", wantErr: `f:1: invalid character '$' in host "web$(x)"`},
		{name: "backquote", in: "we`b", wantErr: "f:1: invalid character '`' in host \"we`b\""},
		{name: "quote", in: `web"1`, wantErr: `f:1: invalid character '"' in host "web\"1"`},
		{name: "nul", in: "web\x00", wantErr: `f:1: invalid character '\x00' in host "web\x00"`},
		{name: "control", in: "web\x01", wantErr: `f:1: invalid character '\x01' in host "web\x01"`},
		// A lone \r inside a line is white space, like a tab.
		{name: "bare cr", in: "web\rroot\n", want: []Host{hostAt("root", "web", 0, "f:1")}},
		{name: "invalid utf8", in: "web\xff", wantErr: `f:1: invalid UTF-8 in host "web\xff"`},
		{name: "non-ascii letter", in: "wéb", wantErr: `f:1: invalid character 'é' in host "wéb"`},
		{name: "nbsp is not a separator", in: "web1\u00a0admin", wantErr: `f:1: invalid character '\u00a0' in host "web1\u00a0admin"`},
		{name: "comma", in: "web1,web2", wantErr: `f:1: invalid character ',' in host "web1,web2"`},
		{name: "percent outside ipv6", in: "a%b", wantErr: `f:1: invalid character '%' in host "a%b"`},
		{name: "leading dash host", in: "-web1", wantErr: `f:1: host "-web1" must not start with '-'`},
		{name: "dot dot host", in: "..", wantErr: `f:1: host ".." must not start with '.'`},
		{name: "bad user char", in: "a;b@web1", wantErr: `f:1: invalid character ';' in user "a;b"`},
		{name: "dollar inside user", in: "a$b@web1", wantErr: `f:1: invalid character '$' in user "a$b"`},
		{name: "at sign ends the user", in: "a@@web1", wantErr: `f:1: invalid character '@' in user "a@"`},
		{name: "leading dash user", in: "-oX@web1", wantErr: `f:1: user "-oX" must not start with '-'`},
		{name: "too many fields", in: "web1 admin extra",
			wantErr: `f:1: too many fields (3): want "[user@]host[:port]" or "host[:port] user"`},
		{name: "user twice", in: "admin@web1 root", wantErr: `f:1: user given twice: in "admin@web1" and as "root"`},
		{name: "bad legacy user", in: "web1 ro;ot", wantErr: `f:1: invalid character ';' in user "ro;ot"`},
		{name: "junk after v6", in: "[2001:db8::1]x", wantErr: `f:1: unexpected "x" after [2001:db8::1]`},
		{name: "bracketed non-address", in: "[zzz]:22", wantErr: `f:1: [zzz] is neither a range like [1-5,8] nor an IPv6 address`},
		{name: "bracketed ipv4", in: "[10.0.0.1]", wantErr: `f:1: [10.0.0.1] is neither a range like [1-5,8] nor an IPv6 address`},
		{name: "two zones", in: "fe80::1%a%b", wantErr: `f:1: invalid IPv6 address "fe80::1%a%b"`},
		{name: "empty zone", in: "[fe80::1%]:22", wantErr: `f:1: invalid IPv6 address "fe80::1%"`},
		{name: "bad zone char", in: "fe80::1%a/b", wantErr: `f:1: invalid character '/' in host "fe80::1%a/b"`},
		{name: "bad ipv6", in: "[2001:db8::g]:22", wantErr: `f:1: invalid IPv6 address "2001:db8::g"`},
		{name: "two colons not ipv6", in: "web1:22:33", wantErr: `f:1: invalid IPv6 address "web1:22:33"`},
		{name: "range overflows ipv6 group", in: "2001:db8::[99998-99999]", wantErr: `f:1: invalid IPv6 address "2001:db8::99998"`},
		{name: "reversed range", in: "node[5-1]", wantErr: `f:1: host pattern "node[5-1]": range "5-1" ends before it starts`},
		{name: "empty range", in: "node[]", wantErr: `f:1: host pattern "node[]": empty brackets`},
		{name: "mixed widths", in: "node[8-010]",
			wantErr: `f:1: host pattern "node[8-010]": range "8-010" mixes widths; write both bounds with the same number of digits`},
		{name: "non-numeric range", in: "node[a-c]",
			wantErr: `f:1: host pattern "node[a-c]": [a-c] is neither a range like [1-5,8] nor an IPv6 address`},
		{name: "unclosed", in: "node[1-3", wantErr: `f:1: host pattern "node[1-3": unclosed '['`},
		{name: "stray bracket", in: "node]", wantErr: `f:1: host pattern "node]": unexpected ']'`},
		{name: "ipv6 literal inside a name", in: "a[::1]", wantErr: `f:1: invalid character '[' in host "a[::1]"`},
		{name: "invalid char with range", in: "n;[1-3]", wantErr: `f:1: invalid character ';' in host "n;1"`},
		{name: "pattern too big", in: "n[1-100001]", wantErr: `f:1: host pattern "n[1-100001]" expands to more than 100000 hosts`},
		{name: "product too big", in: "r[1-1000]n[1-1000]",
			wantErr: `f:1: host pattern "r[1-1000]n[1-1000]" expands to more than 100000 hosts`},
		{name: "file too big", in: "# many\nn[1-60000]\nm[1-40000]\nx\n", wantErr: `f:4: more than 100000 hosts in total`},
		{name: "file too big by a v6", in: "n[1-100000]\n[::1]", wantErr: `f:2: more than 100000 hosts in total`},
		{name: "host too long", in: long, wantErr: `f:1: host name longer than 255 bytes in "` + long + `"`},
		{name: "range makes host too long", in: long[:250] + "[1-100000]",
			wantErr: `f:1: host name longer than 255 bytes in "` + long[:250] + `[1-100000]"`},
	})
}

func TestParseFileTotalCapBoundary(t *testing.T) {
	// Exactly MaxExpansion hosts over two lines is allowed.
	got := mustParse(t, "n[1-60000]\nm[1-40000]\n", "f")
	if len(got) != MaxExpansion {
		t.Fatalf("got %d hosts, want %d", len(got), MaxExpansion)
	}
	if got[0].Name != "n1" || got[MaxExpansion-1].Name != "m40000" || got[MaxExpansion-1].Source != "f:2" {
		t.Errorf("first %v, last %v", got[0], got[MaxExpansion-1])
	}
}

func TestParseFileLineLength(t *testing.T) {
	// A valid spec padded with a comment to exactly n bytes.
	line := func(n int) string { return "web1 #" + strings.Repeat("x", n-len("web1 #")) }
	both := []Host{hostAt("", "web0", 0, "f:1"), hostAt("", "web1", 0, "f:2")}
	checkParse(t, "ParseFile", parseF, []parseCase{
		{name: "max with lf", in: "web0\n" + line(maxLineLen) + "\n", want: both},
		{name: "max with crlf", in: "web0\r\n" + line(maxLineLen) + "\r\n", want: both},
		{name: "max at eof", in: "web0\n" + line(maxLineLen), want: both},
		{name: "over with lf", in: "web0\n" + line(maxLineLen+1) + "\n", wantErr: "f:2: line too long (more than 4096 bytes)"},
		{name: "over with crlf", in: "web0\r\n" + line(maxLineLen+1) + "\r\n", wantErr: "f:2: line too long (more than 4096 bytes)"},
		{name: "over at eof", in: "web0\n" + line(maxLineLen+1), wantErr: "f:2: line too long (more than 4096 bytes)"},
		{name: "far over", in: "web0\n" + line(100000) + "\nweb2\n", wantErr: "f:2: line too long (more than 4096 bytes)"},
	})
}

func TestParseFileSizeCap(t *testing.T) {
	// 16 MiB of 1 KiB lines: comments, then a host on the last line.
	comment := strings.Repeat("#", 1023) + "\n"
	lines := maxInputSize / len(comment)
	host := "web1:2222 #"
	host += strings.Repeat("x", len(comment)-len(host)-1) + "\n"
	atCap := strings.Repeat(comment, lines-1) + host
	if len(atCap) != maxInputSize {
		t.Fatalf("test input is %d bytes, want %d", len(atCap), maxInputSize)
	}
	got, err := ParseFile(strings.NewReader(atCap), "f")
	if err != nil || len(got) != 1 || got[0].Name != "web1" || got[0].Source != "f:"+itoa(lines) {
		t.Fatalf("exactly 16 MiB: got %v, %v", got, err)
	}

	// One byte more, on a line of its own.
	_, err = ParseFile(strings.NewReader(atCap+"x"), "f")
	want := "f:" + itoa(lines+1) + ": input larger than 16 MiB"
	if err == nil || err.Error() != want {
		t.Fatalf("16 MiB + 1: error = %v, want %q", err, want)
	}

	// The cap falls 5 bytes into the last line, just after "web1:". That
	// half line must not be parsed: it would give invalid port "".
	short := strings.Repeat("#", len(comment)-6) + "\n"
	cut := strings.Repeat(comment, lines-1) + short + "web1:2222\n"
	if len(cut) != maxInputSize+5 {
		t.Fatalf("test input is %d bytes, want %d", len(cut), maxInputSize+5)
	}
	_, err = ParseFile(strings.NewReader(cut), "f")
	want = "f:" + itoa(lines+1) + ": input larger than 16 MiB"
	if err == nil || err.Error() != want {
		t.Fatalf("cut line: error = %v, want %q", err, want)
	}

	// ParseArgs has the same cap.
	_, err = ParseArgs(strings.Repeat(" ", maxInputSize+1), "-H")
	if err == nil || err.Error() != "-H: input larger than 16 MiB" {
		t.Fatalf("ParseArgs: error = %v", err)
	}
}

// itoa avoids importing strconv in tests just for messages.
func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestParseFileReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("web1\n"), failingReader{boom})
	_, err := ParseFile(r, "f")
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want it to wrap %v", err, boom)
	}
	if want := "f:2: reading host list: boom"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestParseArgs(t *testing.T) {
	checkParse(t, "ParseArgs", parseH, []parseCase{
		{name: "empty", in: ""},
		{name: "blank", in: " \t\n"},
		{name: "several", in: " web1 admin@web2:2222\t[::1]:22\nnode[1-2] ",
			want: []Host{
				hostAt("", "web1", 0, "-H"), hostAt("admin", "web2", 2222, "-H"), hostAt("", "::1", 22, "-H"),
				hostAt("", "node1", 0, "-H"), hostAt("", "node2", 0, "-H"),
			}},
		{name: "no legacy user form", in: "web1 admin",
			want: []Host{hostAt("", "web1", 0, "-H"), hostAt("", "admin", 0, "-H")}},
		{name: "duplicates kept", in: "web1 web1",
			want: []Host{hostAt("", "web1", 0, "-H"), hostAt("", "web1", 0, "-H")}},
		{name: "bare ipv6", in: "2001:db8::1", want: []Host{hostAt("", "2001:db8::1", 0, "-H")}},
		{name: "bad port", in: "web1 web2:x", wantErr: `-H: invalid port "x"`},
		{name: "no comments", in: "web1#x", wantErr: `-H: invalid character '#' in host "web1#x"`},
		{name: "no commas", in: "a,b", wantErr: `-H: invalid character ',' in host "a,b"`},
		{name: "empty user", in: "@a", wantErr: `-H: empty user`},
		{name: "bad range", in: "n[3-1]", wantErr: `-H: host pattern "n[3-1]": range "3-1" ends before it starts`},
		{name: "total cap", in: "n[1-60000] m[1-40001]", wantErr: `-H: more than 100000 hosts in total`},
		{name: "spec too long", in: "web1 " + strings.Repeat("a", maxLineLen+1),
			wantErr: "-H: host spec too long (more than 4096 bytes)"},
	})
}

// mustParse parses in as the host file src, failing the test on an error.
func mustParse(t *testing.T, in, src string) []Host {
	t.Helper()
	hosts, err := ParseFile(strings.NewReader(in), src)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	return hosts
}
