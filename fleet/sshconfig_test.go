package fleet

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/inventory"
)

func resolveWith(t *testing.T, config string, o Options, h inventory.Host) (*endpoint, error) {
	t.Helper()
	home := t.TempDir()
	path := "none"
	if config != "" {
		path = filepath.Join(home, "config")
		writeFile(t, path, config, 0o600)
	}
	c, err := loadSSHConfig(path, home, o.Overrides, o.ExtraOverrides, func(string) {})
	if err != nil {
		return nil, err
	}
	return c.resolve(h, &o, home, "localme")
}

func TestResolvePrecedence(t *testing.T) {
	config := `Host web*
  HostName %h.example.com
  User cfguser
  Port 2200
  IdentityFile ~/.ssh/web_%r
  ConnectTimeout 7
  StrictHostKeyChecking yes
Host *
  IdentityFile ~/.ssh/common
  UserKnownHostsFile ~/kh1 ~/kh2
`
	tests := []struct {
		name     string
		o        Options
		h        inventory.Host
		user     string
		port     int
		hostName string
	}{
		{"config", Options{}, inventory.Host{Name: "web1"}, "cfguser", 2200, "web1.example.com"},
		{"-l beats config", Options{User: "flag"}, inventory.Host{Name: "web1"}, "flag", 2200, "web1.example.com"},
		{"host line beats -l", Options{User: "flag"}, inventory.Host{Name: "web1", User: "line", Port: 22}, "line", 22, "web1.example.com"},
		{"-O beats config", Options{Overrides: [][2]string{{"user", "opt"}, {"Port", "2022"}}}, inventory.Host{Name: "web1"}, "opt", 2022, "web1.example.com"},
		{"defaults", Options{}, inventory.Host{Name: "db"}, "localme", 22, "db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := resolveWith(t, config, tt.o, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if e.user != tt.user || e.port != tt.port || e.hostName != tt.hostName {
				t.Fatalf("got %s@%s:%d", e.user, e.hostName, e.port)
			}
		})
	}
	e, _ := resolveWith(t, config, Options{}, inventory.Host{Name: "web1"})
	if len(e.identityFiles) != 2 || !strings.HasSuffix(e.identityFiles[0], "/.ssh/web_cfguser") || !strings.HasSuffix(e.identityFiles[1], "/.ssh/common") {
		t.Errorf("identity files %q", e.identityFiles)
	}
	if e.connectTimeout != 7*time.Second || e.strict != "yes" || len(e.knownHosts) != 2 {
		t.Errorf("timeout %s strict %s known %q", e.connectTimeout, e.strict, e.knownHosts)
	}
	e, _ = resolveWith(t, config, Options{}, inventory.Host{Name: "db"})
	if e.strict != "accept-new" || e.connectTimeout != 10*time.Second {
		t.Errorf("defaults: strict %s timeout %s", e.strict, e.connectTimeout)
	}
	// pssh's -t caps ssh_config's and the default connect timeout, not
	// --connect-timeout.
	for _, c := range []struct {
		o    Options
		host string
		want time.Duration
	}{
		{Options{MaxConnectTimeout: 2 * time.Second}, "web1", 2 * time.Second},
		{Options{MaxConnectTimeout: 2 * time.Second}, "db", 2 * time.Second},
		{Options{MaxConnectTimeout: time.Minute}, "web1", 7 * time.Second},
		{Options{MaxConnectTimeout: 2 * time.Second, ConnectTimeout: 5 * time.Second}, "db", 5 * time.Second},
	} {
		e, _ = resolveWith(t, config, c.o, inventory.Host{Name: c.host})
		if e.connectTimeout != c.want {
			t.Errorf("%s with %+v: connect timeout %s, want %s", c.host, c.o, e.connectTimeout, c.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		config string
		o      Options
		want   string
	}{
		{"Host *\n  Port 22x\n", Options{}, `config:2: bad port "22x"`},
		{"", Options{Overrides: [][2]string{{"Compression", "yes"}}}, "Compression is not supported"},
		{"", Options{Overrides: [][2]string{{"StrictHostKeyChecking", "maybe"}}}, "StrictHostKeyChecking must be"},
		{"Match bogus x\n  User x\n", Options{}, "unsupported attribute bogus"},
		{"Host h\n  AddressFamily inet\n", Options{}, "config:2: AddressFamily is not supported by fleet"},
		{"Host h\n  Frobnicate yes\n", Options{}, "bad configuration option: frobnicate"},
		{"Host h\n  BindAddress 127.0.0.1\nHost *\n  ControlMaster auto\n", Options{}, "config:2: BindAddress is not supported by fleet"},
		// -O refuses the keys fleet ignores too, and names the refused ones.
		{"", Options{Overrides: [][2]string{{"ControlMaster", "auto"}}}, ""},
		{"", Options{Overrides: [][2]string{{"Bogus", "1"}}}, ""},
		{"", Options{Overrides: [][2]string{{"BindAddress", "127.0.0.1"}}}, "-O BindAddress: BindAddress is not supported by fleet"},
	}
	for _, tt := range tests {
		_, err := resolveWith(t, tt.config, tt.o, inventory.Host{Name: "h"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q, -O %q: got %v, want %q", tt.config, tt.o.Overrides, err, tt.want)
		}
	}
}

func TestExpandTokens(t *testing.T) {
	env := &tokenEnv{home: "/home/me", localUser: "me", uid: "1000", thisHost: "box.example"}
	got, err := expandPercent("%r@%h:%p-%u-%%-%d-%n-%i-%L-%l-%k", env.tokens("host", "alias", "bob", 22, ""))
	if want := "bob@host:22-me-%-/home/me-alias-1000-box-box.example-alias"; err != nil || got != want {
		t.Errorf("got %q, %v want %q", got, err, want)
	}
	if _, err := expandPercent("%h-%z", env.tokens("host", "alias", "bob", 22, "")); err == nil {
		t.Error("%z expanded without error")
	}
}
