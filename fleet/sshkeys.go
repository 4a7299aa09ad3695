package fleet

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// keyClass says what fleet does with an ssh_config key.
type keyClass int

const (
	// honoured: fleet uses the value as ssh would.
	honoured keyClass = iota
	// refused: the value would change where, as whom or how ssh connects
	// and fleet cannot do the same, so a host it applies to is an error.
	refused
	// ignored: the key does not change where, as whom or how fleet
	// connects (multiplexing, X11, logging, ...), so fleet ignores it.
	ignored
)

// keyInfo describes one ssh_config key.
type keyInfo struct {
	name   string // as ssh_config(5) spells it
	class  keyClass
	oneArg bool // takes one argument (more is an error, as in ssh)
	multi  bool // every value accumulates instead of the first winning
	dedupe bool // a repeated value is dropped (IdentityFile, CertificateFile)
	// fine reports whether a value of a refused key is harmless (its
	// default, say "AddressFamily any"); nil means no value is.
	fine func(v string) bool
	// why is what the key would change, for the refusal message.
	why string
}

func is(vals ...string) func(string) bool {
	return func(v string) bool {
		return slices.ContainsFunc(vals, func(x string) bool { return strings.EqualFold(v, x) })
	}
}

// sshKeys lists every key OpenSSH 9.x knows (lower case), so that an
// unknown key is an error as in ssh, and says what fleet does with each.
var sshKeys = map[string]keyInfo{}

func init() {
	h := func(name string, oneArg bool) {
		sshKeys[strings.ToLower(name)] = keyInfo{name: name, class: honoured, oneArg: oneArg}
	}
	for _, k := range []string{"HostName", "User", "Port", "IdentitiesOnly", "ProxyJump", "ConnectTimeout",
		"ServerAliveInterval", "ServerAliveCountMax", "StrictHostKeyChecking", "HashKnownHosts", "HostKeyAlias",
		"PasswordAuthentication", "BatchMode", "IgnoreUnknown", "Tag",
		// Read by the ProxyCommand, certificate and agent work (issue 12
		// items 1, 4 and 6): resolved here, honoured there.
		"IdentityAgent", "ForwardAgent",
		// The algorithm lists and the RSA size (sshalgos.go): Red Hat's
		// crypto-policies set them for every host.
		"KexAlgorithms", "Ciphers", "MACs", "HostKeyAlgorithms", "PubkeyAcceptedAlgorithms",
		"PubkeyAcceptedKeyTypes", "CASignatureAlgorithms", "RequiredRSASize"} {
		h(k, true)
	}
	for _, k := range []string{"UserKnownHostsFile", "GlobalKnownHostsFile", "ProxyCommand"} {
		h(k, false)
	}
	for _, k := range []string{"IdentityFile", "CertificateFile"} {
		sshKeys[strings.ToLower(k)] = keyInfo{name: k, class: honoured, oneArg: true, multi: true, dedupe: true}
	}
	r := func(name, why string, fine func(string) bool) {
		sshKeys[strings.ToLower(name)] = keyInfo{name: name, class: refused, why: why, fine: fine}
	}
	r("AddressFamily", "it restricts connections to IPv4 or IPv6", is("any"))
	r("BindAddress", "it sets the local address connections come from", nil)
	r("BindInterface", "it sets the local interface connections come from", nil)
	r("CanonicalizeHostname", "it rewrites host names through DNS before connecting", is("no"))
	r("PKCS11Provider", "it authenticates with keys on a smartcard", is("none"))
	r("SecurityKeyProvider", "it sets the library used for FIDO keys", nil)
	r("RemoteCommand", "it replaces the command run on the host", is("none"))
	r("RequestTTY", "it decides whether commands get a terminal", is("auto", "no", "false"))
	r("SessionType", "it runs a subsystem or no command instead of the command", is("default"))
	r("PermitLocalCommand", "it runs LocalCommand on this machine after connecting", is("no", "false"))
	r("Tunnel", "it forwards a tun/tap device", is("no", "false"))
	r("KnownHostsCommand", "it adds host keys from a command", is("none"))
	r("RevokedHostKeys", "it refuses host keys listed in a file", is("none"))
	r("VerifyHostKeyDNS", "it checks host keys against SSHFP records", is("no", "false"))
	r("CheckHostIP", "it also checks the host's IP address in known_hosts", is("no", "false"))
	r("PubkeyAuthentication", "it turns key authentication off or restricts it", is("yes", "true", "unbound", "host-bound"))
	r("KbdInteractiveAuthentication", "it turns keyboard-interactive authentication off", is("yes", "true"))
	r("ChallengeResponseAuthentication", "it turns keyboard-interactive authentication off", is("yes", "true"))
	r("ProxyUseFdpass", "it takes the connection as a passed descriptor from ProxyCommand", is("no", "false"))
	r("StdinNull", "it gives the remote command an empty input", is("no", "false"))
	r("ForkAfterAuthentication", "it puts ssh in the background after authentication", is("no", "false"))
	for _, k := range []string{"AddKeysToAgent", "CanonicalDomains", "CanonicalizeFallbackLocal", "CanonicalizeMaxDots",
		"CanonicalizePermittedCNAMEs", "ClearAllForwardings", "Compression", "ConnectionAttempts", "ControlMaster",
		"ControlPath", "ControlPersist", "DynamicForward", "EnableEscapeCommandline", "EnableSSHKeysign", "EscapeChar",
		"ExitOnForwardFailure", "FingerprintHash", "ForwardX11", "ForwardX11Timeout", "ForwardX11Trusted", "GatewayPorts",
		"GSSAPIClientIdentity", "GSSAPIDelegateCredentials", "GSSAPIRenewalForcesRekey", "GSSAPIServerIdentity",
		"GSSAPITrustDns", "IPQoS", "KbdInteractiveDevices", "KeepAlive", "LocalCommand", "LocalForward", "LogLevel",
		"LogVerbose", "NoHostAuthenticationForLocalhost", "NumberOfPasswordPrompts", "PermitRemoteOpen", "RekeyLimit",
		"RemoteForward", "SendEnv", "SetEnv", "StreamLocalBindMask", "StreamLocalBindUnlink", "SyslogFacility",
		"TCPKeepAlive", "TunnelDevice", "UpdateHostKeys", "UseKeychain", "VisualHostKey", "XAuthLocation",
		"ChannelTimeout", "ObscureKeystrokeTiming",
		// Authentication methods fleet does not have: a host that
		// needs one fails authentication, it is not reached otherwise
		// (Debian's /etc/ssh/ssh_config sets GSSAPIAuthentication yes).
		"GSSAPIAuthentication", "GSSAPIKeyExchange", "HostbasedAuthentication", "PreferredAuthentications",
		// ... and their algorithm lists (crypto-policies set them).
		"GSSAPIKexAlgorithms", "HostbasedAcceptedAlgorithms", "HostbasedKeyTypes",
		// Deprecated or removed in OpenSSH: ssh itself ignores them.
		"Protocol", "Cipher", "UseRoaming", "UsePrivilegedPort", "RSAAuthentication", "RhostsRSAAuthentication",
		"CompressionLevel", "FallBackToRsh", "UseRsh", "GlobalKnownHostsFile2", "UserKnownHostsFile2", "DSAAuthentication",
		"SkeyAuthentication", "TISAuthentication", "KerberosAuthentication", "KerberosTGTPassing", "AFSTokenPassing",
		"SmartcardDevice", "UseBlacklistedKeys"} {
		m := false
		switch k {
		case "SendEnv", "SetEnv", "LocalForward", "RemoteForward", "DynamicForward":
			m = true
		}
		sshKeys[strings.ToLower(k)] = keyInfo{name: k, class: ignored, multi: m}
	}
}

// refusal returns the error for a refused key that applies to a host with
// a value fleet cannot honour, or nil.
func refusal(key string, v setting) error {
	ki := sshKeys[key]
	if ki.class != refused || len(v.args) == 0 || (ki.fine != nil && ki.fine(v.args[0])) {
		return nil
	}
	return fmt.Errorf("ssh config %s: %s is not supported by fleet: %s; remove it for the hosts fleet reaches, or put it in a Host block that excludes them", v.pos, ki.name, ki.why)
}

// checkRefused returns the first refusal among what s obtained, in a
// stable order so the message does not change between runs.
func checkRefused(s *hostSettings) error {
	for _, k := range slices.Sorted(maps.Keys(s.vals)) {
		if len(s.vals[k]) == 0 {
			continue
		}
		if err := refusal(k, s.vals[k][0]); err != nil {
			return err
		}
	}
	return nil
}

// overrideAllowed says whether -O may set key: -O is a request, so a key
// fleet ignores is refused there too (nobody should believe it took effect).
func overrideAllowed(key string) error {
	ki, ok := sshKeys[strings.ToLower(key)]
	switch {
	case !ok || strings.EqualFold(key, "Tag") || strings.EqualFold(key, "IgnoreUnknown"):
		return fmt.Errorf("ssh option %s is not supported; fleet understands %s", key, strings.Join(supportedOptions(), ", "))
	case ki.class == ignored:
		return fmt.Errorf("ssh option %s is not supported: fleet ignores it (see docs/ssh.md); fleet understands %s", ki.name, strings.Join(supportedOptions(), ", "))
	}
	return nil
}

// supportedOptions lists the keys -O accepts.
func supportedOptions() []string {
	var out []string
	for _, ki := range sshKeys {
		if ki.class == honoured && ki.name != "Tag" && ki.name != "IgnoreUnknown" {
			out = append(out, ki.name)
		}
	}
	slices.Sort(out)
	return out
}
