package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/inventory"
)

// sshConfig is the parsed ssh_config of a run: the -O overrides, then
// each file in order (the user's, then the system's, or the -F file). It is
// evaluated per host (sshmatch.go) with OpenSSH's rules.
type sshConfig struct {
	files     [][]*confLine
	overrides []*confLine
	// early is how many of overrides come before the host list's user@
	// and :port, -l and -p (-O's; the rest are -x -o's): see Options.
	early int
	// hasExec says a file has a Match exec line: resolving then runs
	// commands, so Prepare resolves hosts in parallel.
	hasExec bool
}

// loadSSHConfig reads the ssh_config files named by path ("" = the user's
// and the system's, "none" = none), the -O overrides and the -x words'
// (extra, after the host list: see Options). Any file that does not parse
// is an error, as it is for ssh.
func loadSSHConfig(path, home string, overrides, extra [][2]string, warn func(string)) (*sshConfig, error) {
	c := &sshConfig{early: len(overrides)}
	for i, kv := range slices.Concat(overrides, extra) {
		if err := overrideAllowed(kv[0]); err != nil {
			return nil, err
		}
		from := "-O " + kv[0]
		if i >= c.early {
			from = "-x " + kv[0] // from -x -o, -c, -m or scp's -B
		}
		cl, err := parseConfLine(kv[0]+" "+kv[1], from)
		if err != nil {
			return nil, err
		}
		if cl == nil {
			return nil, fmt.Errorf("ssh option %s needs a value", kv[0])
		}
		c.overrides = append(c.overrides, cl)
	}
	type file struct {
		path     string
		optional bool
		user     bool
	}
	var files []file
	switch path {
	case "none":
	case "":
		files = []file{{filepath.Join(home, ".ssh", "config"), true, true}, {"/etc/ssh/ssh_config", true, false}}
	default:
		files = []file{{path, false, true}}
	}
	l := &confLoader{home: home, cache: map[string][]*confLine{}}
	for _, f := range files {
		lines, err := l.loadFile(f.path, f.user, 0)
		if errors.Is(err, fs.ErrNotExist) && f.optional {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ssh config: %w", err)
		}
		c.files = append(c.files, lines)
	}
	isExec := func(cl *confLine) bool {
		return cl.key == "match" && strings.Contains(strings.ToLower(cl.rest), "exec")
	}
	for _, lines := range l.cache {
		c.hasExec = c.hasExec || slices.ContainsFunc(lines, isExec)
	}
	return c, nil
}

// evaluate returns what the configuration gives alias, with the user and
// port already decided by the host list or the command line seeded first
// (they win, as ssh -l and -p do), then -O, then the files; with a second
// pass when a Match final or canonicalisation asks for it.
func (c *sshConfig) evaluate(ctx context.Context, alias string, seed map[string]setting, env *tokenEnv, execStderr func(string)) (*hostSettings, error) {
	s := &hostSettings{vals: map[string][]setting{}}
	for k, v := range seed {
		s.vals[k] = []setting{v}
	}
	st := &evalState{s: s, host: alias, original: alias, env: env, ctx: ctx, execStderr: execStderr}
	for _, cl := range c.overrides {
		if cl.key == "host" || cl.key == "match" || cl.key == "include" {
			return nil, fmt.Errorf("ssh option %s is not allowed on the command line", cl.key)
		}
		if err := st.set(cl, true); err != nil {
			return nil, err
		}
	}
	passes := func() error {
		for _, lines := range c.files {
			if err := st.run(lines, true, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := passes(); err != nil {
		return nil, err
	}
	hn, err := hostNameOf(s, alias)
	if err != nil {
		return nil, err
	}
	if st.wantFinal {
		// OpenSSH sets the HostName to its final value and reads the
		// files again; Host lines now match that name.
		pos := "host name"
		if v, ok := s.first("hostname"); ok {
			pos = v.pos
		}
		s.vals["hostname"] = []setting{{args: []string{hn}, rest: hn, pos: pos}}
		st.host, st.final = hn, true
		if err := passes(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// hostNameOf is the name ssh connects to: HostName with %h expanded, else
// the alias; lower case, as ssh makes it.
func hostNameOf(s *hostSettings, alias string) (string, error) {
	v, ok := s.first("hostname")
	if !ok {
		return strings.ToLower(alias), nil
	}
	hn, err := expandPercent(v.args[0], map[byte]string{'h': alias, '%': "%"})
	if err != nil {
		return "", fmt.Errorf("ssh config %s: HostName: %w", v.pos, err)
	}
	return strings.ToLower(hn), nil
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
	// proxyCommand is the ProxyCommand in effect, raw: ssh expands its
	// tokens (proxyTokens) when it runs it; resolve checks they expand. At most
	// one of proxyCommand and proxyJump is set.
	proxyCommand string
	// settings is what ssh_config gave this host, with where each value
	// came from (other keys, `fleet hosts`).
	settings *hostSettings
	// certificateFiles are CertificateFile's, expanded; identityAgent is
	// IdentityAgent as written after expansion ("" = unset); forwardAgent
	// is the agent socket to forward ("" = none, "yes" = the one e
	// authenticates with).
	certificateFiles []string
	identityAgent    string
	forwardAgent     string
	// The algorithm keys (sshalgos.go), narrowed to what x/crypto
	// implements in the configuration's order; nil when ssh_config does
	// not set the key. caSigAlgos is always set; requiredRSASize is the
	// smallest RSA key (host, CA or user) fleet uses.
	kex, ciphers, macs []string
	hostKeyAlgos       []string
	pubkeyAlgos        []string
	caSigAlgos         []string
	requiredRSASize    int
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
// list's user and port, then the command line (-l, -p, -i, -J), then -O,
// then ssh_config, then the defaults. A key that applies to h and that
// fleet cannot honour is an error naming its file and line.
func (c *sshConfig) resolve(h inventory.Host, o *Options, home, localUser string) (*endpoint, error) {
	return c.resolveCtx(context.Background(), h, o, newTokenEnv(home, localUser))
}

func (c *sshConfig) resolveCtx(ctx context.Context, h inventory.Host, o *Options, env *tokenEnv) (*endpoint, error) {
	alias := h.Name
	seed := map[string]setting{}
	one := func(key, v, pos string) { seed[key] = setting{args: []string{v}, rest: v, pos: pos} }
	// -O's User and Port come first, as on the ssh command line pssh runs.
	early := func(key string) bool {
		return slices.ContainsFunc(c.overrides[:c.early], func(cl *confLine) bool { return cl.key == key })
	}
	switch {
	case early("user"):
	case h.User != "":
		one("user", h.User, "host list")
	case o.User != "":
		one("user", o.User, "-l")
	}
	switch {
	case early("port"):
	case h.Port != 0:
		one("port", strconv.Itoa(h.Port), "host list")
	case o.Port != 0:
		one("port", strconv.Itoa(o.Port), "-p")
	}
	if o.ProxyJump != "" {
		// ssh refuses -J with -o ProxyCommand: one of them would be
		// silently dropped.
		if slices.ContainsFunc(c.overrides, func(cl *confLine) bool { return cl.key == "proxycommand" && !strings.EqualFold(cl.rest, "none") }) {
			return nil, fmt.Errorf("ssh options: -J and -O ProxyCommand cannot be used together (ssh refuses them too); keep one")
		}
		one("proxyjump", o.ProxyJump, "-J")
	}
	s, err := c.evaluate(ctx, alias, seed, env, o.ExecStderr)
	if err != nil {
		return nil, err
	}
	// -i keys come before the configuration's, as in ssh.
	var ids []setting
	for _, f := range o.IdentityFiles {
		ids = append(ids, setting{args: []string{f}, pos: "-i"})
	}
	s.vals["identityfile"] = append(ids, s.vals["identityfile"]...)
	if err := checkRefused(s); err != nil {
		return nil, err
	}
	e := &endpoint{alias: alias, settings: s}
	if e.hostName, err = hostNameOf(s, alias); err != nil {
		return nil, err
	}
	e.user = cmp.Or(s.get("user"), env.localUser)
	e.port = 22
	if v := s.get("port"); v != "" {
		e.port, _ = strconv.Atoi(v) // checked when read
	}
	t := env.tokens(e.hostName, alias, e.user, e.port, s.get("hostkeyalias"))
	expand := func(v setting, f string) (string, error) {
		x, err := expandPercent(tildeExpand(f, env.home), t)
		if err != nil {
			return "", fmt.Errorf("ssh config %s: %w", v.pos, err)
		}
		return x, nil
	}
	// IdentityFile and CertificateFile: each value one file, "none" none.
	files := func(key string) ([]string, error) {
		var out []string
		for _, v := range s.vals[key] {
			if strings.EqualFold(v.args[0], "none") {
				continue
			}
			f, err := expand(v, v.args[0])
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
	if e.identityFiles, err = files("identityfile"); err != nil {
		return nil, err
	}
	e.identitiesOnly = yes(s.get("IdentitiesOnly"))
	// ProxyJump and ProxyCommand share a slot (see evalState.set); "none"
	// in it means a direct connection.
	if v, ok := s.first("proxycommand"); ok && !strings.EqualFold(v.rest, "none") {
		e.proxyCommand = v.rest
	} else if pj := s.get("proxyjump"); !ok && pj != "" && !strings.EqualFold(pj, "none") {
		e.proxyJump = pj
	}
	e.connectTimeout = o.ConnectTimeout
	if e.connectTimeout == 0 {
		if e.connectTimeout, err = sshTime(s, "ConnectTimeout", defaultConnectTimeout); err != nil {
			return nil, err
		}
		if e.connectTimeout == 0 {
			e.connectTimeout = defaultConnectTimeout // fleet never waits for ever
		}
		if o.MaxConnectTimeout > 0 {
			e.connectTimeout = min(e.connectTimeout, o.MaxConnectTimeout)
		}
	}
	if e.aliveInterval, err = sshTime(s, "ServerAliveInterval", defaultKeepalive); err != nil {
		return nil, err
	}
	e.aliveMax = defaultKeepaliveMax
	if v := s.get("ServerAliveCountMax"); v != "" {
		if e.aliveMax, err = strconv.Atoi(v); err != nil || e.aliveMax < 1 {
			return nil, fmt.Errorf("ssh config: invalid ServerAliveCountMax %q", v)
		}
	}
	if e.strict, err = strictMode(s.get("StrictHostKeyChecking")); err != nil {
		return nil, err
	}
	if v, ok := s.first("userknownhostsfile"); ok {
		for _, f := range v.args {
			if strings.EqualFold(f, "none") {
				continue
			}
			x, err := expand(v, f)
			if err != nil {
				return nil, err
			}
			e.knownHosts = append(e.knownHosts, x)
		}
	} else {
		e.knownHosts = []string{filepath.Join(env.home, ".ssh", "known_hosts"), filepath.Join(env.home, ".ssh", "known_hosts2")}
	}
	// ssh expands neither ~ nor tokens in GlobalKnownHostsFile.
	e.globalKnown = o.GlobalKnownHosts
	if v, ok := s.first("globalknownhostsfile"); ok {
		e.globalKnown = nil
		for _, f := range v.args {
			if !strings.EqualFold(f, "none") {
				e.globalKnown = append(e.globalKnown, f)
			}
		}
	} else if e.globalKnown == nil {
		e.globalKnown = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	}
	e.hashKnownHosts = yes(s.get("HashKnownHosts"))
	e.hostKeyAlias = s.get("HostKeyAlias")
	if strings.EqualFold(e.hostKeyAlias, "none") {
		e.hostKeyAlias = ""
	}
	if e.proxyCommand != "" {
		if _, err := expandProxyCommand(e); err != nil {
			v, _ := s.first("proxycommand")
			return nil, fmt.Errorf("ssh config %s: ProxyCommand %w (ssh refuses it too; write %%%% for a literal %%)", v.pos, err)
		}
	}
	if err := resolveAlgos(s, e); err != nil {
		return nil, err
	}
	e.password = o.Password != nil && !strings.EqualFold(s.get("PasswordAuthentication"), "no")
	if e.certificateFiles, err = files("certificatefile"); err != nil {
		return nil, err
	}
	// IdentityAgent and ForwardAgent take a socket path with tokens; -x -A
	// and -x -a (o.ForwardAgent) come before the files, as ssh's -A/-a.
	var expandErr error
	expandOne := func(key string) func(string) string {
		return func(f string) string {
			v, _ := s.first(key)
			x, err := expand(v, f)
			if err != nil && expandErr == nil {
				expandErr = err
			}
			return x
		}
	}
	e.identityAgent = identityAgentSetting(s.get("IdentityAgent"), expandOne("identityagent"))
	e.forwardAgent = forwardAgentSetting(cmp.Or(o.ForwardAgent, s.get("ForwardAgent")), expandOne("forwardagent"))
	if expandErr != nil {
		return nil, expandErr
	}
	return e, nil
}

// sshTime reads a time value as ssh's convtime: seconds, or a sequence
// like 1m30s (s, m, h, d, w), or "none" (unset).
func sshTime(s *hostSettings, key string, def time.Duration) (time.Duration, error) {
	v := s.get(key)
	if v == "" || strings.EqualFold(v, "none") {
		return def, nil
	}
	d, err := convTime(v)
	if err != nil {
		pos := ""
		if x, ok := s.first(strings.ToLower(key)); ok {
			pos = " " + x.pos
		}
		return 0, fmt.Errorf("ssh config%s: invalid %s %q", pos, key, v)
	}
	return d, nil
}

// convTime is OpenSSH's convtime.
func convTime(v string) (time.Duration, error) {
	var total time.Duration
	for v != "" {
		i := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, errors.New("bad time")
		}
		n, err := strconv.Atoi(v[:i])
		if err != nil {
			return 0, err
		}
		unit := time.Second
		if i < len(v) {
			switch v[i] {
			case 's', 'S':
			case 'm', 'M':
				unit = time.Minute
			case 'h', 'H':
				unit = time.Hour
			case 'd', 'D':
				unit = 24 * time.Hour
			case 'w', 'W':
				unit = 7 * 24 * time.Hour
			default:
				return 0, errors.New("bad time unit")
			}
			i++
		}
		total += time.Duration(n) * unit
		v = v[i:]
	}
	return total, nil
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

func yes(v string) bool { return strings.EqualFold(v, "yes") || strings.EqualFold(v, "true") }
