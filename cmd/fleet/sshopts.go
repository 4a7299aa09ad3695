package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/fleet-sh/fleet/inventory"
)

// pssh passes -x/-X to the program it runs for each host: ssh for pssh,
// scp for pscp and pslurp. fleet runs neither, so it reads those
// arguments as that program would and does the same itself, ignores what
// changes nothing of what fleet does (saying so with -v), and refuses the
// rest by name, so that nothing is silently dropped.

// sshArg is one option letter of ssh or scp.
type sshArg struct {
	value bool   // takes a value
	skip  string // ignored: why it changes nothing for fleet
	why   string // refused: what fleet cannot do
	// apply does what the option means; nil for ignored and refused ones.
	apply func(t *targetOptions, val string) error
}

// The options of ssh(1) and scp(1) (OpenSSH 9.x), by letter.
var sshArgs, scpArgs map[byte]sshArg

func init() {
	common := map[byte]sshArg{
		'4': {apply: family("4")},
		'6': {apply: family("6")},
		'A': {apply: func(t *targetOptions, _ string) error { t.dial.ForwardAgent = "yes"; return nil }},
		'C': {skip: "compression: fleet's SSH has none, and what arrives is the same"},
		'q': {skip: "ssh's quiet mode: fleet prints no ssh diagnostics"},
		'v': {skip: "ssh's debug output: fleet's own -v says what it does"},
		'c': {value: true, apply: override("Ciphers")},
		'F': {value: true, apply: configFile},
		'i': {value: true, apply: func(t *targetOptions, v string) error {
			t.dial.IdentityFiles = append(t.dial.IdentityFiles, v)
			return nil
		}},
		'J': {value: true, apply: func(t *targetOptions, v string) error {
			// ssh takes one -J; a second would silently win here.
			if t.dial.ProxyJump != "" && t.dial.ProxyJump != v {
				return usageError("two jump hosts: -J %s and -x \"-J %s\" (ssh takes a single -J); give one, with commas for a chain", t.dial.ProxyJump, v)
			}
			t.dial.ProxyJump = v
			return nil
		}},
		'o': {value: true, apply: func(t *targetOptions, v string) error {
			kv, err := parseOption(v)
			if err != nil {
				return err
			}
			t.addOverride(kv, "-x -o")
			return nil
		}},
	}
	sshArgs = map[byte]sshArg{
		'a': {apply: func(t *targetOptions, _ string) error { t.dial.ForwardAgent = "no"; return nil }},
		'T': {apply: func(t *targetOptions, _ string) error { t.pty = false; return nil }},
		't': {apply: func(t *targetOptions, _ string) error { t.pty = true; return nil }},
		'l': {value: true, apply: func(t *targetOptions, v string) error {
			// The rule --user follows, so the record's failed file reads back.
			if err := inventory.CheckUser(v); err != nil {
				return usageError("-x/-X: ssh -l: %v", err)
			}
			// pssh puts its own -l before the -x words and ssh takes the
			// first -l: -l, and a host line's user, win over -x "-l".
			if t.dial.User == "" {
				t.dial.User = v
			}
			return nil
		}},
		'p': {value: true, apply: port},
		'm': {value: true, apply: override("MACs")},
		'n': {skip: "the command's input is already empty unless -I"},
		'x': {skip: "X11 forwarding is off: fleet never forwards X11"},
		'k': {skip: "GSSAPI credentials: fleet has no GSSAPI"},
		'K': {skip: "GSSAPI authentication: fleet has no GSSAPI"},
		'y': {skip: "ssh's logging to syslog: fleet's log is the run record"},
		'M': {skip: "connection sharing: fleet keeps one connection per host itself"},
		'S': {value: true, skip: "connection sharing: fleet keeps one connection per host itself"},
		'E': {value: true, skip: "ssh's debug log: fleet's log is the run record"},
		'e': {value: true, skip: "escape characters: fleet reads no keyboard input"},
		'X': {why: "it forwards X11, which fleet does not do"},
		'Y': {why: "it forwards X11, which fleet does not do"},
		'L': {value: true, why: "it forwards a port, which fleet does not do"},
		'R': {value: true, why: "it forwards a port, which fleet does not do"},
		'D': {value: true, why: "it forwards ports (SOCKS), which fleet does not do"},
		'W': {value: true, why: "it forwards standard input and output to a port instead of running the command"},
		'w': {value: true, why: "it forwards a tun device, which fleet does not do"},
		'N': {why: "it runs no command"},
		'f': {why: "it puts ssh in the background"},
		'g': {why: "it lets other hosts use forwarded ports, which fleet does not do"},
		's': {why: "it runs a subsystem instead of the command"},
		'G': {why: "it prints the configuration instead of connecting: fleet hosts does that"},
		'V': {why: "it prints ssh's version"},
		'Q': {value: true, why: "it lists algorithms instead of connecting"},
		'O': {value: true, why: "it controls a connection-sharing master, which fleet does not use"},
		'B': {value: true, why: "it binds to a local interface, which fleet does not do"},
		'b': {value: true, why: "it binds to a local address, which fleet does not do"},
		'I': {value: true, why: "it authenticates with a PKCS#11 token, which fleet does not do"},
		'P': {value: true, why: "it sets a Tag for Match, which fleet does not take on the command line"},
	}
	scpArgs = map[byte]sshArg{
		'l': {value: true, apply: bwLimit},
		'p': {apply: func(t *targetOptions, _ string) error { t.preserve = true; return nil }},
		'P': {value: true, apply: port},
		'r': {apply: func(t *targetOptions, _ string) error { t.recursive = true; return nil }},
		'B': {apply: func(t *targetOptions, _ string) error {
			t.addOverride([2]string{"BatchMode", "yes"}, "-x -B")
			return nil
		}},
		'O': {skip: "scp's old protocol: fleet copies over SFTP, and the files are the same"},
		's': {skip: "SFTP is what fleet uses anyway"},
		'T': {skip: "fleet checks the names a host sends itself"},
		'3': {why: "it copies between two remote hosts through this one"},
		'R': {why: "it copies between two remote hosts"},
		'D': {value: true, why: "it talks to an sftp-server program directly"},
		'S': {value: true, why: "it runs another program instead of ssh: fleet speaks SSH itself (a ProxyCommand goes in -O ProxyCommand=...)"},
		'X': {value: true, why: "it sets SFTP protocol options, which fleet does not take"},
	}
	for k, v := range common {
		sshArgs[k], scpArgs[k] = v, v
	}
}

// fleetFlag names fleet's own flag for an ssh option it refuses, where
// there is one.
var fleetFlag = map[byte]string{'G': "fleet hosts"}

// applyExtraArgs reads pssh's -x/-X words as ssh's (run) or scp's (copy,
// slurp) options.
func applyExtraArgs(args []string, t *targetOptions, scp bool) error {
	table, prog := sshArgs, "ssh"
	if scp {
		table, prog = scpArgs, "scp"
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			return usageError("-x/-X: %q is not an %s option (pssh passes these words to %s; a command goes after the options)", a, prog, prog)
		}
		// Letters may be bundled (-qC, -vvv, -p4 for ssh's port), as
		// ssh's getopt reads them.
		for j := 1; j < len(a); j++ {
			letter := a[j]
			opt, ok := table[letter]
			if !ok {
				return usageError("-x/-X: %s has no option -%c", prog, letter)
			}
			name := "-" + string(letter)
			val := ""
			if opt.value {
				val = a[j+1:]
				if val == "" {
					if i+1 == len(args) {
						return usageError("-x/-X: %s %s needs a value", prog, name)
					}
					i++
					val = args[i]
				}
				j = len(a)
			}
			switch {
			case opt.why != "":
				msg := fmt.Sprintf("-x/-X: %s %s is not supported by fleet: %s", prog, name, opt.why)
				if f := fleetFlag[letter]; f != "" {
					msg += "; use " + f
				}
				return usageError("%s", msg)
			case opt.skip != "":
				t.ignored = append(t.ignored, prog+" "+strings.TrimSpace(name+" "+val)+" ("+opt.skip+")")
			default:
				if err := opt.apply(t, val); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func family(f string) func(*targetOptions, string) error {
	return func(t *targetOptions, _ string) error { t.family = f; return nil }
}

func override(key string) func(*targetOptions, string) error {
	return func(t *targetOptions, v string) error {
		t.addOverride([2]string{key, v}, "-x")
		return nil
	}
}

func port(t *targetOptions, v string) error {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return usageError("-x/-X: invalid port %q", v)
	}
	if t.dial.Port == 0 { // ssh takes the first -p; a host line's port wins (pssh)
		t.dial.Port = p
	}
	return nil
}

func configFile(t *targetOptions, v string) error {
	if t.dial.ConfigFile != "" && t.dial.ConfigFile != v {
		return usageError("two ssh_config files: -F %s and -x \"-F %s\"; give one", t.dial.ConfigFile, v)
	}
	t.dial.ConfigFile = v
	return nil
}

// bwLimit is scp's -l: a limit in Kbit/s (1024 bits), per host.
func bwLimit(t *targetOptions, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > 100*1024*1024 {
		return usageError("-x/-X: scp -l %q: want a bandwidth limit in Kbit/s", v)
	}
	t.bwLimit = n * 1024 / 8
	return nil
}

// checkFamily keeps the meaning of ssh's -4 and -6 where fleet can: every
// host is an address of that family. fleet cannot restrict how a name
// resolves, so a name is refused rather than reached some other way.
func checkFamily(t *targetOptions) error {
	if t.family == "" {
		return nil
	}
	for _, h := range t.hosts {
		ip, err := netip.ParseAddr(h.Name)
		if err != nil || (t.family == "4") != ip.Unmap().Is4() {
			return usageError("-x -%s: %s is not an IPv%s address, and fleet cannot make a name resolve to IPv%s only; "+
				"give the hosts as IPv%s addresses, or leave -%s out", t.family, h.Name, t.family, t.family, t.family, t.family)
		}
	}
	t.ignored = append(t.ignored, "-"+t.family+" (every host is an IPv"+t.family+" address)")
	return nil
}

// harmlessOptions are ssh_config keys that change nothing of where, as
// whom or how fleet connects, or of what a command prints: -O and -x -o
// take them, and fleet ignores them (saying so with -v). The keys fleet
// ignores in an ssh_config file but whose request it cannot keep
// (LocalForward, SendEnv, ForwardX11 yes, ...) stay refused on the command
// line, by the engine.
var harmlessOptions = map[string]func(v string) bool{}

func init() {
	all := func(string) bool { return true }
	no := func(v string) bool { return strings.EqualFold(v, "no") || strings.EqualFold(v, "false") }
	for _, k := range []string{"LogLevel", "LogVerbose", "SyslogFacility", "ControlMaster", "ControlPath",
		"ControlPersist", "Compression", "CompressionLevel", "ConnectionAttempts", "TCPKeepAlive", "KeepAlive",
		"IPQoS", "EscapeChar", "EnableEscapeCommandline", "VisualHostKey", "FingerprintHash", "UpdateHostKeys",
		"AddKeysToAgent", "UseKeychain", "NumberOfPasswordPrompts", "RekeyLimit", "XAuthLocation",
		"ClearAllForwardings", "ExitOnForwardFailure", "ChannelTimeout", "ObscureKeystrokeTiming",
		"GSSAPIAuthentication", "GSSAPIDelegateCredentials", "GSSAPIKeyExchange", "GSSAPITrustDns",
		"GSSAPIRenewalForcesRekey", "GSSAPIKexAlgorithms", "HostbasedAuthentication", "HostbasedAcceptedAlgorithms",
		"HostbasedKeyTypes", "PreferredAuthentications", "KbdInteractiveDevices", "Protocol", "Cipher", "UseRoaming",
		"UsePrivilegedPort"} {
		harmlessOptions[strings.ToLower(k)] = all
	}
	for _, k := range []string{"ForwardX11", "ForwardX11Trusted", "EnableSSHKeysign", "NoHostAuthenticationForLocalhost"} {
		harmlessOptions[strings.ToLower(k)] = no
	}
}

// addOverride adds an ssh_config setting given on the command line, or
// notes it as ignored when it changes nothing for fleet.
func (t *targetOptions) addOverride(kv [2]string, from string) {
	if ok := harmlessOptions[strings.ToLower(kv[0])]; ok != nil && ok(kv[1]) {
		t.ignored = append(t.ignored, from+" "+kv[0]+"="+kv[1])
		return
	}
	if from == "-O" {
		t.dial.Overrides = append(t.dial.Overrides, kv)
	} else { // -x words: after -l and -p (see fleet.Options)
		t.dial.ExtraOverrides = append(t.dial.ExtraOverrides, kv)
	}
}

// parseOption reads Key=Value (or "Key Value", as ssh_config writes it).
func parseOption(s string) ([2]string, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "= \t")
	if i <= 0 {
		return [2]string{}, usageError("ssh option %q: want Key=Value", s)
	}
	return [2]string{s[:i], strings.TrimSpace(strings.TrimLeft(s[i:], "= \t"))}, nil
}

// splitWords splits s like a POSIX shell does (quotes and backslashes), as
// pssh splits -x with shlex.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %c quote", ch)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
