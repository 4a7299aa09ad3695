package inventory

import (
	"strings"
	"testing"
)

func TestHostString(t *testing.T) {
	tests := []struct {
		h    Host
		want string
	}{
		{Host{Name: "web1"}, "web1"},
		{Host{User: "admin", Name: "web1"}, "admin@web1"},
		{Host{Name: "web1", Port: 2222}, "web1:2222"},
		{Host{User: "admin", Name: "web1", Port: 2222}, "admin@web1:2222"},
		{Host{Name: "2001:db8::1"}, "2001:db8::1"},
		{Host{Name: "2001:db8::1", Port: 2222}, "[2001:db8::1]:2222"},
		{Host{User: "u", Name: "::1", Port: 22}, "u@[::1]:22"},
		{Host{User: "u", Name: "::1"}, "u@::1"},
		{Host{Name: "fe80::1%eth0", Port: 22}, "[fe80::1%eth0]:22"},
		{Host{Name: "10.0.0.1", Port: 22}, "10.0.0.1:22"},
	}
	for _, tt := range tests {
		got := tt.h.String()
		if got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.h, got, tt.want)
			continue
		}
		// String is host-file form: it parses back to the same host.
		back, err := ParseArgs(got, "x")
		if err != nil || len(back) != 1 {
			t.Errorf("ParseArgs(%q) = %v, %v", got, back, err)
			continue
		}
		if b := back[0]; b.User != tt.h.User || b.Name != tt.h.Name || b.Port != tt.h.Port {
			t.Errorf("ParseArgs(%q) = %#v, want %#v", got, b, tt.h)
		}
	}
}

func TestHostAddress(t *testing.T) {
	tests := []struct {
		h    Host
		def  int
		want string
	}{
		{Host{Name: "web1"}, 22, "web1:22"},
		{Host{User: "admin", Name: "web1", Port: 2222}, 22, "web1:2222"},
		{Host{Name: "2001:db8::1"}, 22, "[2001:db8::1]:22"},
		{Host{Name: "2001:db8::1", Port: 2222}, 22, "[2001:db8::1]:2222"},
		{Host{Name: "fe80::1%eth0"}, 2200, "[fe80::1%eth0]:2200"},
		{Host{Name: "10.0.0.1"}, 22, "10.0.0.1:22"},
	}
	for _, tt := range tests {
		if got := tt.h.Address(tt.def); got != tt.want {
			t.Errorf("%#v.Address(%d) = %q, want %q", tt.h, tt.def, got, tt.want)
		}
	}
}

func TestCheckHostName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{name: "web1"},
		{name: "Web-1.example_net."},
		{name: "10.0.0.1"},
		{name: "2001:DB8::1"},
		{name: "fe80::1%eth0.100"},
		{name: "::ffff:10.0.0.1"},
		{name: strings.Repeat("a", maxNameLen)},
		{name: "", wantErr: "empty host"},
		{name: strings.Repeat("a", maxNameLen+1), wantErr: "host name longer than 255 bytes"},
		{name: "a b", wantErr: `invalid character ' ' in host "a b"`},
		{name: "a|b", wantErr: `invalid character '|' in host "a|b"`},
		{name: "a'b", wantErr: `invalid character '\'' in host "a'b"`},
		{name: "a\tb", wantErr: `invalid character '\t' in host "a\tb"`},
		{name: "a\x7f", wantErr: `invalid character '\x7f' in host "a\x7f"`},
		{name: "a\u200b", wantErr: `invalid character '\u200b' in host "a\u200b"`},
		{name: "a\xc3", wantErr: `invalid UTF-8 in host "a\xc3"`},
		{name: "a\uFFFD", wantErr: `invalid character '�' in host "a�"`},
		{name: "a/b", wantErr: `invalid character '/' in host "a/b"`},
		{name: "a:b", wantErr: `invalid IPv6 address "a:b"`},
		{name: "1.2.3.4:5:6", wantErr: `invalid IPv6 address "1.2.3.4:5:6"`},
		{name: ".", wantErr: `host "." must not start with '.'`},
		{name: "-", wantErr: `host "-" must not start with '-'`},
	}
	for _, tt := range tests {
		if err := checkHostName(tt.name); errText(err) != tt.wantErr {
			t.Errorf("checkHostName(%q) = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestCheckUser(t *testing.T) {
	tests := []struct {
		user    string
		wantErr string
	}{
		{user: "root"},
		{user: "deploy-bot_2.x"},
		{user: "HOST$"},
		{user: "jane@corp.example.com"},
		{user: "@corp", wantErr: `invalid character '@' in user "@corp"`},
		{user: "jane@", wantErr: `invalid character '@' in user "jane@"`},
		{user: "", wantErr: "empty user"},
		{user: "$", wantErr: `invalid character '$' in user "$"`},
		{user: "a$$", wantErr: `invalid character '$' in user "a$$"`},
		{user: "a b", wantErr: `invalid character ' ' in user "a b"`},
		{user: "a:b", wantErr: `invalid character ':' in user "a:b"`},
		{user: "é", wantErr: `invalid character 'é' in user "é"`},
		{user: "a\xff", wantErr: `invalid UTF-8 in user "a\xff"`},
		{user: "-l", wantErr: `user "-l" must not start with '-'`},
	}
	for _, tt := range tests {
		if err := CheckUser(tt.user); errText(err) != tt.wantErr {
			t.Errorf("CheckUser(%q) = %v, want %q", tt.user, err, tt.wantErr)
		}
	}
}
