package fleet

import (
	"io"
	"time"
)

// Options configures a Dialer. The zero value dials with the user's
// ~/.ssh/config, agent, default keys and known_hosts, accept-new host keys and
// a 10 s connect timeout.
type Options struct {
	// User is the default login user (-l): below a user written in the host
	// list, above ssh_config's User. "" falls back to ssh_config, then the
	// local user.
	User string
	// Port is the default port (ssh -p via -x): below a port in the host
	// list, above ssh_config's Port. 0 falls back to ssh_config, then 22.
	Port int
	// IdentityFiles are keys given on the command line (--identity, ssh -i),
	// offered before ssh_config's and the default ones.
	IdentityFiles []string
	// ForwardAgent is ssh's -A ("yes", pssh's -x -A) or -a ("no"): it wins
	// over ssh_config's ForwardAgent. "" leaves it to ssh_config.
	ForwardAgent string
	// ConfigFile is the ssh_config file (-F). "" reads ~/.ssh/config and
	// /etc/ssh/ssh_config; "none" reads no file.
	ConfigFile string
	// Overrides are -O Key=Value settings (and PSSH_OPTIONS); they win over
	// ssh_config, as ssh -o does. pssh passes them first on ssh's command
	// line, before its -l and -p, and ssh takes the first value, so a User
	// or Port here also wins over User, Port and the host list's user@ and
	// :port. Keys are case-insensitive; IdentityFile may repeat.
	Overrides [][2]string
	// ExtraOverrides are pssh's -x "-o Key=Value" words. pssh puts them
	// after its -l and -p, so they lose to User, Port and the host list;
	// they still win over ssh_config.
	ExtraOverrides [][2]string
	// ProxyJump is -J: it wins over ssh_config's ProxyJump.
	ProxyJump string
	// ConnectTimeout bounds TCP connect, SSH handshake and authentication of
	// each host. 0 means ssh_config's ConnectTimeout, else 10 s.
	ConnectTimeout time.Duration
	// MaxConnectTimeout, when not 0, caps the connect timeout that
	// ssh_config or the default gives (not ConnectTimeout): pssh's -t
	// bounds a host's whole time, connecting included.
	MaxConnectTimeout time.Duration
	// Password returns the password (-A); it is asked once by the caller
	// and also tried as the passphrase of encrypted keys, as pssh does.
	// nil disables password authentication.
	Password func() ([]byte, error)
	// Passphrase asks for the passphrase of an encrypted key file (used when
	// Password is nil or its answer does not decrypt the key). nil skips
	// encrypted keys with a warning.
	Passphrase func(file string) ([]byte, error)
	// Warn receives warnings (a weakened host-key policy, a key that could
	// not be read). nil discards them.
	Warn io.Writer
	// ExecStderr receives what ssh_config's Match exec commands write on
	// stderr, a line at a time without its newline, so that the caller can
	// make it safe for a terminal (OpenSSH shows it on its own stderr). It
	// may be called from several goroutines at once (hosts resolve in
	// parallel). nil passes the commands' stderr to os.Stderr as it comes.
	ExecStderr func(line string)
	// NoAgent ignores SSH_AUTH_SOCK.
	NoAgent bool
	// Home is the user's home directory; "" uses os.UserHomeDir. Tests set it.
	Home string
	// LocalUser is the local user name; "" asks the OS. Tests set it.
	LocalUser string
	// GlobalKnownHosts replaces /etc/ssh/ssh_known_hosts (tests set it).
	GlobalKnownHosts []string
	// MaxHandshakes bounds handshakes in flight across all hosts; 0 means 128.
	MaxHandshakes int
	// Parallel bounds how many hosts resolve their ssh_config at once when
	// it runs commands (Match exec); the run's -p. 0 means 32.
	Parallel int
	// Trace, when set, is told what fleet does for each host, as ssh -v
	// says it: how the host resolved, the connection and the host key, each
	// key and password tried, the outcome, with timings (host is the
	// host's label). -v sets it. It is called from the hosts' goroutines
	// and never given a secret.
	Trace func(host, msg string)
	// Retries is how many times a connection reset during the handshake is
	// retried (sshd's MaxStartups drops); 0 means 2, negative means none.
	Retries int
}

const (
	defaultConnectTimeout = 10 * time.Second
	defaultKeepalive      = 15 * time.Second
	defaultKeepaliveMax   = 3
	// maxKeysOffered stays below sshd's default MaxAuthTries (6) so that a
	// password, when there is one, still gets its turn.
	maxKeysOffered = 5
)
