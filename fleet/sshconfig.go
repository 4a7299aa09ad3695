package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"

	"github.com/fleet-sh/fleet/inventory"
)

// sshConfig resolves ssh_config settings for a host alias: the -O overrides
// first, then each file in order, first match wins, as OpenSSH does.
type sshConfig struct {
	files     []*sshconfig.Config
	overrides [][2]string
}

// loadSSHConfig reads the ssh_config files named by path ("" = the user's
// and the system's, "none" = none). A user file that does not parse is an
// error; a broken system file is reported on warn and skipped, since the
// user cannot always fix it (RHEL ships a "Match final" the parser lacks).
func loadSSHConfig(path, home string, overrides [][2]string, warn func(string)) (*sshConfig, error) {
	c := &sshConfig{overrides: overrides}
	for _, kv := range overrides {
		if !knownOverride(kv[0]) {
			return nil, fmt.Errorf("ssh option %s is not supported; fleet understands %s", kv[0], strings.Join(supportedOptions, ", "))
		}
	}
	type file struct {
		path   string
		system bool
	}
	var files []file
	switch path {
	case "none":
	case "":
		files = []file{{filepath.Join(home, ".ssh", "config"), false}, {"/etc/ssh/ssh_config", true}}
	default:
		files = []file{{path, false}}
	}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if errors.Is(err, fs.ErrNotExist) && (path == "" || f.system) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ssh config: %w", err)
		}
		cfg, err := sshconfig.DecodeBytes(b)
		if err != nil {
			if f.system {
				warn(fmt.Sprintf("ignoring %s: %v", f.path, err))
				continue
			}
			return nil, fmt.Errorf("ssh config %s: %w (fleet's parser supports Host, Match host/all and Include; simplify the file or pass another with -F)", f.path, err)
		}
		c.files = append(c.files, cfg)
	}
	return c, nil
}

// supportedOptions are the ssh_config keys fleet honours; -O refuses others
// so that nobody believes an option took effect when it did not.
var supportedOptions = []string{"BatchMode", "CertificateFile", "ConnectTimeout", "ForwardAgent", "GlobalKnownHostsFile", "HashKnownHosts",
	"HostKeyAlias", "HostName", "IdentitiesOnly", "IdentityAgent", "IdentityFile", "PasswordAuthentication", "Port",
	"ProxyJump", "ServerAliveCountMax", "ServerAliveInterval", "StrictHostKeyChecking", "User",
	"UserKnownHostsFile"}

func knownOverride(key string) bool {
	for _, k := range supportedOptions {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// get returns the first value of key for alias.
func (c *sshConfig) get(alias, key string) string {
	for _, kv := range c.overrides {
		if strings.EqualFold(kv[0], key) {
			return kv[1]
		}
	}
	for _, f := range c.files {
		if v, err := f.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

// getAll returns every value of key for alias (IdentityFile accumulates).
func (c *sshConfig) getAll(alias, key string) []string {
	var out []string
	for _, kv := range c.overrides {
		if strings.EqualFold(kv[0], key) {
			out = append(out, kv[1])
		}
	}
	for _, f := range c.files {
		if v, err := f.GetAll(alias, key); err == nil {
			out = append(out, v...)
		}
	}
	return out
}

// endpoint is everything needed to dial one host, resolved once.
type endpoint struct {
	alias          string // the name as written in the host list
	hostName       string // what we connect to
	port           int
	user           string
	identityFiles  []string
	identitiesOnly bool
	proxyJump      string
	connectTimeout time.Duration
	aliveInterval  time.Duration
	aliveMax       int
	strict         string // yes | accept-new | no
	knownHosts     []string
	globalKnown    []string
	hashKnownHosts bool
	hostKeyAlias   string
	password       bool
	// certificateFiles are CertificateFile's, expanded; identityAgent is
	// IdentityAgent as written after expansion ("" = unset); forwardAgent
	// is the agent socket to forward ("" = none, "yes" = the one e
	// authenticates with).
	certificateFiles []string
	identityAgent    string
	forwardAgent     string
}

// addr is the host:port we dial and check host keys against.
func (e *endpoint) addr() string {
	return inventory.Host{Name: e.hostName, Port: e.port}.Address(22)
}

// keyName is the name known_hosts is checked against (HostKeyAlias wins).
func (e *endpoint) keyName() string {
	if e.hostKeyAlias != "" {
		return inventory.Host{Name: e.hostKeyAlias, Port: e.port}.Address(22)
	}
	return e.addr()
}

// resolve builds the endpoint of h following ssh's precedence: the host
// list's user and port, then the command line, then ssh_config, then the
// defaults.
func (c *sshConfig) resolve(h inventory.Host, o *Options, home, localUser string) (*endpoint, error) {
	alias := h.Name
	e := &endpoint{alias: alias, hostName: alias}
	if v := c.get(alias, "HostName"); v != "" {
		e.hostName = expandTokens(v, alias, 0, "", "", home)
	}
	e.user = firstNonEmpty(h.User, o.User, c.get(alias, "User"), localUser)
	e.port = h.Port
	if e.port == 0 {
		e.port = o.Port
	}
	if e.port == 0 {
		if v := c.get(alias, "Port"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return nil, fmt.Errorf("ssh config: invalid Port %q for %s", v, alias)
			}
			e.port = p
		}
	}
	if e.port == 0 {
		e.port = 22
	}
	expand := func(s string) string { return expandTokens(s, e.hostName, e.port, e.user, localUser, home) }
	for _, f := range o.IdentityFiles {
		e.identityFiles = append(e.identityFiles, expand(f))
	}
	for _, f := range c.getAll(alias, "IdentityFile") {
		e.identityFiles = append(e.identityFiles, expand(f))
	}
	e.identitiesOnly = yes(c.get(alias, "IdentitiesOnly"))
	e.proxyJump = firstNonEmpty(o.ProxyJump, c.get(alias, "ProxyJump"))
	if strings.EqualFold(e.proxyJump, "none") {
		e.proxyJump = ""
	}
	var err error
	e.connectTimeout = o.ConnectTimeout
	if e.connectTimeout == 0 {
		if e.connectTimeout, err = seconds(c.get(alias, "ConnectTimeout"), defaultConnectTimeout); err != nil {
			return nil, err
		}
	}
	if e.aliveInterval, err = seconds(c.get(alias, "ServerAliveInterval"), defaultKeepalive); err != nil {
		return nil, err
	}
	e.aliveMax = defaultKeepaliveMax
	if v := c.get(alias, "ServerAliveCountMax"); v != "" {
		if e.aliveMax, err = strconv.Atoi(v); err != nil || e.aliveMax < 1 {
			return nil, fmt.Errorf("ssh config: invalid ServerAliveCountMax %q", v)
		}
	}
	if e.strict, err = strictMode(c.get(alias, "StrictHostKeyChecking")); err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(c.get(alias, "UserKnownHostsFile")) {
		e.knownHosts = append(e.knownHosts, expand(f))
	}
	if len(e.knownHosts) == 0 {
		e.knownHosts = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	e.globalKnown = o.GlobalKnownHosts
	if v := c.get(alias, "GlobalKnownHostsFile"); v != "" {
		e.globalKnown = strings.Fields(v)
	} else if e.globalKnown == nil {
		e.globalKnown = []string{"/etc/ssh/ssh_known_hosts"}
	}
	e.hashKnownHosts = yes(c.get(alias, "HashKnownHosts"))
	e.hostKeyAlias = c.get(alias, "HostKeyAlias")
	e.password = o.Password != nil && !strings.EqualFold(c.get(alias, "PasswordAuthentication"), "no")
	for _, f := range c.getAll(alias, "CertificateFile") {
		e.certificateFiles = append(e.certificateFiles, expand(f))
	}
	e.identityAgent = identityAgentSetting(c.get(alias, "IdentityAgent"), expand)
	e.forwardAgent = forwardAgentSetting(firstNonEmpty(o.ForwardAgent, c.get(alias, "ForwardAgent")), expand)
	return e, nil
}

// strictMode normalises StrictHostKeyChecking. "ask" cannot prompt in a
// parallel run, so it behaves as "yes", which is what ssh does in batch mode.
func strictMode(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "accept-new":
		return "accept-new", nil
	case "yes", "ask":
		return "yes", nil
	case "no", "off":
		return "no", nil
	}
	return "", fmt.Errorf("ssh config: StrictHostKeyChecking must be yes, accept-new or no, not %q", v)
}

func seconds(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("ssh config: invalid number of seconds %q", v)
	}
	return time.Duration(n) * time.Second, nil
}

func yes(v string) bool { return strings.EqualFold(v, "yes") || strings.EqualFold(v, "true") }

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// expandTokens expands ssh_config's %h %p %r %u %d %% and a leading ~.
func expandTokens(s, host string, port int, user, localUser, home string) string {
	if strings.HasPrefix(s, "~/") {
		s = filepath.Join(home, s[2:])
	}
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'h':
			b.WriteString(host)
		case 'p':
			b.WriteString(strconv.Itoa(port))
		case 'r':
			b.WriteString(user)
		case 'u':
			b.WriteString(localUser)
		case 'd':
			b.WriteString(home)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
