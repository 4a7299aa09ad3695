// Package inventory reads host lists: pssh host files, -H arguments and
// stdin, in the form [user@]host[:port], with IPv6 literals, comments and
// pdsh/clush ranges such as node[01-20]; host files with [group] sections and
// Ansible INI inventories (recognised by their content); and it selects hosts
// by shell globs (-g) and Ansible host patterns (--limit, --exclude).
//
// It knows host lists and nothing else. Parsing is pure (no DNS, no network):
// every function takes text and returns typed [Host] values, and every error
// names where the bad text came from ("hosts.txt:7: invalid port \"22x\"") so
// that a user with a thousand-line file can fix it without guessing.
//
// The parsers treat their input as hostile: size and line length are capped,
// range expansion is capped at [MaxExpansion] hosts, and host names and users
// are restricted to characters that cannot change the meaning of a command
// line or a file path, because other packages put them in both.
package inventory

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxNameLen is the longest host name accepted: the DNS limit of 253
// characters plus room for a trailing dot, and far more than any IPv6
// literal with a zone needs. It also bounds what a range can allocate.
const maxNameLen = 255

// Host is one target as the user wrote it.
type Host struct {
	User   string // "" when not given
	Name   string // host name or IP address, IPv6 without brackets
	Port   int    // 0 when not given
	Label  string // unique within a list, set by Label(); see below
	Source string // where it came from, for messages: "kube:7", "-H", "stdin:3"
	// Alias is the host's name in an Ansible inventory (its
	// inventory_hostname), which ansible_host may have replaced in Name
	// with the address to dial; "" for other lists. Labels and patterns
	// use it, the dialler never.
	Alias string
	// Groups are the groups of a sectioned host file or Ansible inventory
	// the host is in, directly or through children, sorted; nil for hosts
	// of a plain host list. "all" is implied, never listed.
	Groups []string
	// EmptyGroups are the groups the host's file defines that no host is
	// in, sorted; every host of the file shares the one slice. Select
	// tells a pattern naming one ("group X has no hosts") from a typo.
	EmptyGroups []string
	// Refused, when not nil, is why fleet will not reach the host: its
	// Ansible inventory asks for a way of reaching it that fleet cannot
	// honour and must not ignore (ansible_connection=local,
	// ansible_password, ...). The host is kept so that the file stays
	// usable; a caller about to connect checks it (see [CheckRefused]),
	// and fleet's dialler refuses such a host with this error.
	Refused *Refusal
}

// String returns the host in pssh host-file form: [user@]host[:port], IPv6 in
// brackets when a port is given ("[2001:db8::1]:2222"), bare IPv6 without port
// ("2001:db8::1"). Parsing String() again gives the same User/Name/Port, which
// is what lets a label or a message be pasted back into a host file.
func (h Host) String() string {
	s := h.Name
	// Brackets only when a port follows: a bare IPv6 literal is unambiguous
	// on its own (more than one colon), and pssh users write it that way.
	if h.Port != 0 {
		s = net.JoinHostPort(h.Name, strconv.Itoa(h.Port))
	}
	if h.User != "" {
		s = h.User + "@" + s
	}
	return s
}

// Address returns "host:port" for net.Dial, using defaultPort when the host
// has no port of its own. net.JoinHostPort adds the brackets IPv6 needs.
func (h Host) Address(defaultPort int) string {
	return net.JoinHostPort(h.Name, strconv.Itoa(cmp.Or(h.Port, defaultPort)))
}

// checkHostName accepts a host name or IP address as it will be dialled.
// The allowed set is deliberately small: names end up in file names (run
// logs), in messages and possibly in ssh or shell command lines, so anything
// that could be read as syntax there is refused rather than escaped.
func checkHostName(name string) error {
	if name == "" {
		return fmt.Errorf("empty host")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("host name longer than %d bytes", maxNameLen)
	}
	// A colon can only mean IPv6 here: the port has already been split off.
	v6 := strings.IndexByte(name, ':') >= 0
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				return fmt.Errorf("invalid UTF-8 in host %q", name)
			}
		}
		if isNameChar(r) || v6 && (r == ':' || r == '%') {
			continue
		}
		return fmt.Errorf("invalid character %q in host %q", r, name)
	}
	// A leading "-" would read as an option to ssh or scp; a leading "."
	// allows "." and "..", which are not usable as log file names.
	if name[0] == '-' || name[0] == '.' {
		return fmt.Errorf("host %q must not start with %q", name, name[0])
	}
	if v6 {
		// netip takes any zone, even one with another "%" in it; one
		// "%" keeps the zone readable and the name unambiguous.
		if strings.Count(name, "%") > 1 {
			return fmt.Errorf("invalid IPv6 address %q", name)
		}
		if _, err := netip.ParseAddr(name); err != nil {
			return fmt.Errorf("invalid IPv6 address %q", name)
		}
	}
	return nil
}

// CheckUser accepts a login name: the portable POSIX user name characters,
// "@" inside it (user@domain logins of SSSD and Active
// Directory; a host spec splits at its last "@", as ssh does), and a
// trailing "$" after at least one of them (Samba machine accounts). Shell
// metacharacters are refused because the user may be passed to ssh or sudo
// on a command line.
func CheckUser(user string) error {
	if user == "" {
		return fmt.Errorf("empty user")
	}
	for i, r := range user {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(user[i:]); size == 1 {
				return fmt.Errorf("invalid UTF-8 in user %q", user)
			}
		}
		if isNameChar(r) || r == '@' && i > 0 && i < len(user)-1 || r == '$' && i > 0 && i == len(user)-1 {
			continue
		}
		return fmt.Errorf("invalid character %q in user %q", r, user)
	}
	if user[0] == '-' {
		return fmt.Errorf("user %q must not start with '-'", user)
	}
	return nil
}

// isNameChar reports whether r may appear in a host name or a user name.
// ASCII only: Go's resolver does not apply IDNA, so a non-ASCII name would
// fail later with a worse message, and look-alike letters hide mistakes.
func isNameChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		r == '-' || r == '.' || r == '_'
}

// parsePort accepts a decimal port 1..65535. strconv.Atoi alone would also
// take "+22" and "-1", which are typos, not ports.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || strings.Trim(s, digits) != "" || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return n, nil
}
