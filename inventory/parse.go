package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	// maxLineLen caps one line of a host file (and one -H spec). A host
	// spec is at most a few hundred bytes; a longer line is a binary file
	// or a mistake, and the cap keeps the scanner's buffer small.
	maxLineLen = 4096
	// maxInputSize caps a whole host file or -H argument: far above any
	// real inventory, far below what would hurt to hold in memory.
	maxInputSize = 16 << 20
)

// inputTooLargeError is returned through the scanner when the input passes
// maxInputSize. A type rather than a variable keeps the package free of
// mutable state.
type inputTooLargeError struct{}

func (inputTooLargeError) Error() string { return "input larger than 16 MiB" }

// capReader returns at most limit bytes of r and then inputTooLargeError if
// r has more. Unlike io.LimitReader it tells "exactly at the limit" from
// "over it", so a file of exactly 16 MiB is still accepted.
type capReader struct {
	r    io.Reader
	left int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, inputTooLargeError{}
	}
	// One byte more than allowed is asked for, to find out whether the
	// input goes on past the limit.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n = int(c.left)
		c.left = 0
		c.over = true
		return n, inputTooLargeError{}
	}
	c.left -= int64(n)
	return n, err
}

// ParseFile reads a host file from r. name is used in errors and in
// Host.Source ("kube:7: invalid port \"22x\"").
//
// A pssh host file has one spec a line, [user@]host[:port], or the legacy
// pssh form "host[:port] user"; blank lines are skipped and "#" starts a
// comment. Ranges such as node[01-20] are expanded in the host part (see
// Expand), and a user or port given with a range applies to every host it
// expands to. Duplicates are kept, because pssh contacts a host listed twice
// twice; use Label to tell them apart.
//
// The same file may have [group] lines, each starting a section of the hosts
// of that group (see Host.Groups); and a file with Ansible's own syntax
// ([group:children], [group:vars], host lines with key=value, ranges such as
// web[01:20], ";" comments) is read as an Ansible INI inventory: see
// parseSectioned for both. A line such as [2001:db8::1]:22 or [1-3] is a host,
// as before, never a section.
//
// Parsing stops at the first error, which is prefixed "name:line: ". An input
// without hosts gives no hosts and no error.
func ParseFile(r io.Reader, name string) ([]Host, error) {
	lines, readErr := readLines(r, name)
	var hosts []Host
	var err error
	switch f := detectFormat(lines); f {
	case formatPssh:
		if hosts, err = parsePssh(lines, name); err != nil && looksLikeYAML(lines) {
			err = fmt.Errorf("%w (this looks like a YAML inventory: fleet reads Ansible's INI inventories; convert it to INI)", err)
		}
	default:
		hosts, err = parseSectioned(lines, name, f == formatAnsible)
	}
	// An error in the lines read wins over the read error after them, as
	// it did when lines were parsed as they were read.
	if err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	return hosts, nil
}

// looksLikeYAML reports whether the text starts a YAML document ("---") or
// a mapping ("all:" and an indented line under it), as Ansible's YAML
// inventories do. A pssh line "web1:" alone is a bad port, not YAML.
func looksLikeYAML(lines []string) bool {
	first := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			continue
		}
		if first == "" {
			if t == "---" {
				return true
			}
			k, rest, ok := strings.Cut(t, ":")
			if !ok || strings.TrimSpace(rest) != "" || !isVariableName(strings.ReplaceAll(k, "-", "_")) {
				return false
			}
			first = t
			continue
		}
		return l[0] == ' ' || l[0] == '\t'
	}
	return false
}

// readLines reads r into lines, capped at maxInputSize bytes in all. Reading
// stops at a line longer than the buffer, at the size cap or at a read
// error, which is returned (with "name:line: ") beside the lines before it.
// Lines a little longer than maxLineLen are returned for the parser to
// refuse, with the same message.
func readLines(r io.Reader, name string) ([]string, error) {
	cr := &capReader{r: r, left: maxInputSize}
	sc := bufio.NewScanner(cr)
	// Room for the longest line plus "\r\n", so that a line of exactly
	// maxLineLen bytes is accepted whatever its line ending.
	sc.Buffer(make([]byte, 0, maxLineLen+2), maxLineLen+2)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		// Past the size cap the last line in the buffer is cut short;
		// parsing it would report a bogus error about half a line.
		if atEOF && cr.over && len(data) > 0 && bytes.IndexByte(data, '\n') < 0 {
			return 0, nil, inputTooLargeError{}
		}
		return bufio.ScanLines(data, atEOF)
	})
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		where := name + ":" + strconv.Itoa(len(lines)+1)
		var tooLarge inputTooLargeError
		switch {
		case errors.Is(err, bufio.ErrTooLong):
			return lines, fmt.Errorf("%s: line too long (more than %d bytes)", where, maxLineLen)
		case errors.As(err, &tooLarge):
			return lines, fmt.Errorf("%s: %w", where, err)
		default:
			return lines, fmt.Errorf("%s: reading host list: %w", where, err)
		}
	}
	return lines, nil
}

// parsePssh parses the lines of a pssh host file, which has no sections.
func parsePssh(lines []string, name string) ([]Host, error) {
	var hosts []Host
	for i, line := range lines {
		where := name + ":" + strconv.Itoa(i+1)
		if len(line) > maxLineLen {
			return nil, fmt.Errorf("%s: line too long (more than %d bytes)", where, maxLineLen)
		}
		hs, err := parseLine(line, where, MaxExpansion-len(hosts))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		hosts = append(hosts, hs...)
	}
	return hosts, nil
}

// parseLine parses one line of a host file, comment and legacy user included.
// budget is how many more hosts the file may hold.
func parseLine(line, where string, budget int) ([]Host, error) {
	// "#" cannot occur in a host, a user or a port, so the first one starts
	// the comment wherever it is.
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := splitFields(line)
	switch len(fields) {
	case 0:
		return nil, nil
	case 1:
		return parseSpec(fields[0], where, budget)
	case 2:
		// pssh's older form puts the user after the host.
		if strings.IndexByte(fields[0], '@') >= 0 {
			return nil, fmt.Errorf("user given twice: in %q and as %q", fields[0], fields[1])
		}
		if err := CheckUser(fields[1]); err != nil {
			return nil, err
		}
		return parseSpec(fields[1]+"@"+fields[0], where, budget)
	default:
		return nil, fmt.Errorf("too many fields (%d): want \"[user@]host[:port]\" or \"host[:port] user\"", len(fields))
	}
}

// ParseArgs parses one -H argument: whitespace-separated [user@]host[:port]
// specs, ranges allowed. source is used in errors ("-H: invalid port \"x\"")
// and in Host.Source. Unlike a host file, there are no comments and no legacy
// "host user" form: each word is a host. Duplicates are kept, as in ParseFile.
func ParseArgs(s string, source string) ([]Host, error) {
	if len(s) > maxInputSize {
		return nil, fmt.Errorf("%s: %w", source, inputTooLargeError{})
	}
	var hosts []Host
	for _, f := range splitFields(s) {
		if len(f) > maxLineLen {
			return nil, fmt.Errorf("%s: host spec too long (more than %d bytes)", source, maxLineLen)
		}
		hs, err := parseSpec(f, source, MaxExpansion-len(hosts))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		hosts = append(hosts, hs...)
	}
	return hosts, nil
}

// splitFields splits on ASCII white space only. strings.Fields would also
// split on Unicode spaces such as U+00A0, silently turning a pasted
// "web1\u00a0admin" into a host and a user; here it is an invalid character.
func splitFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	})
}

// parseSpec parses one [user@]host[:port] word and expands ranges in its host
// part. Every host gets source as its Source. budget is how many more hosts
// the list may hold.
func parseSpec(spec, source string, budget int) ([]Host, error) {
	var user string
	hostport := spec
	// A host has no "@" and a user may (user@domain), so the last "@"
	// splits, as in ssh.
	if at := strings.LastIndexByte(spec, '@'); at >= 0 {
		user, hostport = spec[:at], spec[at+1:]
		if err := CheckUser(user); err != nil {
			return nil, err
		}
	}
	name, portText, hasPort, bracketed, err := splitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port := 0
	if hasPort {
		if port, err = parsePort(portText); err != nil {
			return nil, err
		}
	}
	if name == "" {
		return nil, errors.New("empty host")
	}
	if bracketed {
		// Brackets around an address never hold a range: one host.
		if strings.IndexByte(name, ':') < 0 {
			return nil, fmt.Errorf("[%s] is neither a range like [1-5,8] nor an IPv6 address", name)
		}
		if err := checkHostName(name); err != nil {
			return nil, err
		}
		if budget < 1 {
			return nil, fmt.Errorf("more than %d hosts in total", MaxExpansion)
		}
		return []Host{{User: user, Name: name, Port: port, Source: source}}, nil
	}
	segs, err := parsePattern(name)
	if err != nil {
		return nil, err
	}
	// Check the caps before generating anything.
	n := countNames(segs, MaxExpansion)
	if n > MaxExpansion {
		return nil, fmt.Errorf("host pattern %q expands to more than %d hosts", name, MaxExpansion)
	}
	if n > int64(budget) {
		return nil, fmt.Errorf("more than %d hosts in total", MaxExpansion)
	}
	if maxLen(segs) > maxNameLen {
		return nil, fmt.Errorf("host name longer than %d bytes in %q", maxNameLen, name)
	}
	hosts := make([]Host, 0, n)
	err = generate(segs, func(h string) error {
		if err := checkHostName(h); err != nil {
			return err
		}
		hosts = append(hosts, Host{User: user, Name: h, Port: port, Source: source})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hosts, nil
}

// splitHostPort splits host[:port], [v6]:port, [v6] and bare v6. Colons inside
// range brackets do not count, and bracket content that is a range (such as
// "[1-3].example.com") is a pattern, not an address. bracketed reports the
// [v6] forms, whose name is an address and no pattern.
func splitHostPort(hp string) (name, port string, hasPort, bracketed bool, err error) {
	if strings.HasPrefix(hp, "[") {
		if end := strings.IndexByte(hp, ']'); end > 0 && !isRangeText(hp[1:end]) {
			name, rest := hp[1:end], hp[end+1:]
			switch {
			case rest == "":
				return name, "", false, true, nil
			case rest[0] == ':':
				return name, rest[1:], true, true, nil
			default:
				return "", "", false, false, fmt.Errorf("unexpected %q after [%s]", rest, name)
			}
		}
	}
	colons, first := 0, -1
	inRange := false
	for i := 0; i < len(hp); i++ {
		switch hp[i] {
		case '[':
			inRange = true
		case ']':
			inRange = false
		case ':':
			if !inRange {
				if colons == 0 {
					first = i
				}
				colons++
			}
		}
	}
	switch colons {
	case 0:
		return hp, "", false, false, nil
	case 1:
		return hp[:first], hp[first+1:], true, false, nil
	default:
		// pssh's rule: more than one colon is a bare IPv6 address, which
		// cannot carry a port without brackets.
		return hp, "", false, false, nil
	}
}
