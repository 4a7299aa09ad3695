package fleet

import (
	"os"
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
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := loadSSHConfig(path, home, o.Overrides, func(string) {})
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
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		config string
		o      Options
		want   string
	}{
		{"Host *\n  Port 22x\n", Options{}, `invalid Port "22x"`},
		{"", Options{Overrides: [][2]string{{"Compression", "yes"}}}, "Compression is not supported"},
		{"", Options{Overrides: [][2]string{{"StrictHostKeyChecking", "maybe"}}}, "StrictHostKeyChecking must be"},
		{"Match exec \"true\"\n  User x\n", Options{}, "ssh config"},
	}
	for _, tt := range tests {
		_, err := resolveWith(t, tt.config, tt.o, inventory.Host{Name: "h"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: got %v, want %q", tt.config, err, tt.want)
		}
	}
}

func TestExpandTokens(t *testing.T) {
	got := expandTokens("~/keys/%r@%h:%p-%u-%%-%d", "host", 22, "bob", "me", "/home/me")
	if want := "/home/me/keys/bob@host:22-me-%-/home/me"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}
