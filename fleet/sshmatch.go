package fleet

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file evaluates parsed ssh_config directives for one host as
// OpenSSH's readconf.c and ssh.c do: the first value obtained for a key
// wins (multi-valued keys accumulate), Host patterns are tested against the
// name as given, Match criteria on a line are ANDed and see the HostName
// and User known at that point, and a "Match final" (or canonicalisation)
// asks for a second pass over the same files, which only fills keys still
// unset.

// setting is one value a host obtained and where it came from.
type setting struct {
	args []string
	rest string // the raw argument text (ProxyCommand and friends)
	pos  string // FILE:LINE, "-O", "host list", ...
}

// hostSettings is what the files give one host.
type hostSettings struct {
	vals map[string][]setting
}

func (s *hostSettings) first(key string) (setting, bool) {
	v := s.vals[key]
	if len(v) == 0 {
		return setting{}, false
	}
	return v[0], true
}

// get returns the first argument of key ("" when unset).
func (s *hostSettings) get(key string) string {
	if v, ok := s.first(strings.ToLower(key)); ok && len(v.args) > 0 {
		return v.args[0]
	}
	return ""
}

// evalState is one evaluation pass.
type evalState struct {
	s        *hostSettings
	host     string // what Host lines match: the alias, or in the final pass the HostName
	original string // the name as given (originalhost, %n)
	final    bool
	// wantFinal is set by a "Match final" line, as OpenSSH does.
	wantFinal bool
	env       *tokenEnv
	ctx       context.Context
	// execStderr receives Match exec's stderr by lines (Options.ExecStderr).
	execStderr func(string)
}

// run evaluates lines; active is whether the enclosing block applies and
// never is set inside an Include read from a block that does not.
func (st *evalState) run(lines []*confLine, active, never bool) error {
	for _, cl := range lines {
		switch cl.key {
		case "host":
			active = !never && matchHostLine(st.host, cl.args)
		case "match":
			m, err := st.match(cl)
			if err != nil {
				return err
			}
			active = !never && m
		case "include":
			if err := st.run(cl.include, active, never || !active); err != nil {
				return err
			}
		default:
			if err := st.set(cl, active); err != nil {
				return err
			}
		}
	}
	return nil
}

// set records a directive: keys are checked whether or not the block
// applies (ssh rejects an unknown key anywhere), values only count in an
// active block and only when the key has no value yet.
func (st *evalState) set(cl *confLine, active bool) error {
	ki, ok := sshKeys[cl.key]
	if !ok {
		if ign := st.s.get("ignoreunknown"); ign != "" && matchPatternList(cl.key, strings.ToLower(ign)) {
			return nil
		}
		return fmt.Errorf("ssh config %s: bad configuration option: %s", cl.pos, cl.key)
	}
	if ki.oneArg && len(cl.args) > 1 {
		return fmt.Errorf("ssh config %s: keyword %s extra arguments at end of line", cl.pos, cl.key)
	}
	if len(cl.args) == 0 || (ki.oneArg && cl.args[0] == "") {
		return fmt.Errorf("ssh config %s: missing argument for %s", cl.pos, cl.key)
	}
	if cl.key == "port" {
		if p, err := strconv.Atoi(cl.args[0]); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("ssh config %s: bad port %q", cl.pos, cl.args[0])
		}
	}
	if err := checkAlgoLine(cl); err != nil {
		return err
	}
	if !active {
		return nil
	}
	v := setting{args: cl.args, rest: cl.rest, pos: cl.pos}
	have := st.s.vals[cl.key]
	switch {
	case ki.multi:
		if ki.dedupe && slices.ContainsFunc(have, func(h setting) bool { return h.args[0] == v.args[0] }) {
			return nil // OpenSSH drops a repeated IdentityFile
		}
	case cl.key == "proxycommand":
		// ProxyJump and ProxyCommand share one slot: whichever comes
		// first wins, except that "ProxyJump none" leaves room for a
		// later ProxyCommand (as ssh 9.2 -G shows).
		if len(have) > 0 || (st.s.get("proxyjump") != "" && !strings.EqualFold(st.s.get("proxyjump"), "none")) {
			return nil
		}
	case cl.key == "proxyjump":
		if len(have) > 0 || len(st.s.vals["proxycommand"]) > 0 {
			return nil
		}
	case len(have) > 0:
		return nil
	}
	st.s.vals[cl.key] = append(have, v)
	if cl.key == "canonicalizehostname" && !strings.EqualFold(cl.args[0], "no") {
		st.wantFinal = true // ssh re-reads the files after canonicalising
	}
	return nil
}

// currentHost is what "Match host" tests: the HostName obtained so far
// with %h expanded, else the host of this pass.
func (st *evalState) currentHost() string {
	if hn := st.s.get("hostname"); hn != "" {
		if h, err := expandPercent(hn, map[byte]string{'h': st.host}); err == nil {
			return h
		}
	}
	return st.host
}

// remoteUser is the user known at this point (User, -l, the host list),
// else the local user.
func (st *evalState) remoteUser() string {
	return cmp.Or(st.s.get("user"), st.env.localUser)
}

// match evaluates a Match line. Criteria are ANDed; exec runs only when
// the criteria before it matched, as in OpenSSH.
func (st *evalState) match(cl *confLine) (bool, error) {
	args := cl.args
	bad := func(format string, a ...any) (bool, error) {
		return false, fmt.Errorf("ssh config %s: Match: %s", cl.pos, fmt.Sprintf(format, a...))
	}
	result, attributes := true, 0
	for i := 0; i < len(args); i++ {
		attr := args[i]
		negate := strings.HasPrefix(attr, "!")
		attr = strings.ToLower(strings.TrimPrefix(attr, "!"))
		attributes++
		switch attr {
		case "all":
			// ssh 9.2 accepts one criterion before "all" (as in
			// "Match final all") and nothing after it.
			if attributes > 2 || i+1 < len(args) {
				return bad("'all' cannot be combined with other Match attributes")
			}
			if result {
				result = !negate
			}
			continue
		case "canonical", "final":
			if attr == "final" {
				st.wantFinal = true
			}
			if st.final == negate {
				result = false
			}
			continue
		}
		if i+1 >= len(args) || args[i+1] == "" {
			return bad("missing argument for %s", attr)
		}
		i++
		arg := args[i]
		var r bool
		switch attr {
		case "host":
			r = matchPatternList(strings.ToLower(st.currentHost()), strings.ToLower(arg))
		case "originalhost":
			r = matchPatternList(strings.ToLower(st.original), strings.ToLower(arg))
		case "user":
			r = matchPatternList(st.remoteUser(), arg)
		case "localuser":
			r = matchPatternList(st.env.localUser, arg)
		case "tagged":
			r = matchPatternList(st.s.get("tag"), arg)
		case "localnetwork":
			if !result {
				continue
			}
			r = localNetwork(arg)
		case "exec":
			if !result {
				continue // not run: an earlier criterion failed
			}
			var err error
			if r, err = st.exec(cl, arg); err != nil {
				return false, err
			}
		default:
			return bad("unsupported attribute %s", attr)
		}
		if r == negate {
			result = false
		}
	}
	if len(args) == 0 {
		return bad("missing criteria")
	}
	return result, nil
}

// execTimeout bounds one Match exec command: ssh waits for ever, but a
// hung command must not hang the whole run.
const execTimeout = 30 * time.Second

// exec runs a Match exec command as OpenSSH does: tokens expanded, run by
// $SHELL (else /bin/sh) -c with stdin and stdout on /dev/null, stderr
// shown; exit status 0 matches. A command that cannot be run is an error,
// never a match.
func (st *evalState) exec(cl *confLine, cmd string) (bool, error) {
	port, _ := strconv.Atoi(st.s.get("port"))
	if port == 0 {
		port = 22
	}
	t := st.env.tokens(st.currentHost(), st.original, st.remoteUser(), port, st.s.get("hostkeyalias"))
	expanded, err := expandPercent(cmd, t)
	if err != nil {
		return false, fmt.Errorf("ssh config %s: Match exec: %w", cl.pos, err)
	}
	ctx, cancel := context.WithTimeout(st.ctx, execTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmp.Or(os.Getenv("SHELL"), "/bin/sh"), "-c", expanded)
	c.Stderr = os.Stderr
	var lines *lineSplitter
	if st.execStderr != nil {
		lines = &lineSplitter{line: st.execStderr}
		c.Stderr = lines
	}
	c.WaitDelay = time.Second
	err = c.Run()
	if lines != nil {
		lines.flush() // Run has waited for the copy of stderr to end
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("ssh config %s: Match exec %q did not finish within %s", cl.pos, cmd, execTimeout)
	case errors.As(err, &ee) && ee.Exited():
		return false, nil
	}
	return false, fmt.Errorf("ssh config %s: Match exec %q: %w", cl.pos, cmd, err)
}

// localNetwork reports whether an address of this machine is in one of
// the CIDR blocks of list (OpenSSH's Match localnetwork, 9.4 and later).
func localNetwork(list string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		neg, pos := false, false
		for _, c := range strings.Split(list, ",") {
			not := strings.HasPrefix(c, "!")
			_, n, err := net.ParseCIDR(strings.TrimPrefix(c, "!"))
			if err != nil || !n.Contains(ipn.IP) {
				continue
			}
			if not {
				neg = true
			} else {
				pos = true
			}
		}
		if pos && !neg {
			return true
		}
	}
	return false
}

// matchHostLine is a Host line: any pattern matching activates the block,
// a matching negated pattern deactivates it whatever else matches. Each
// argument is one pattern (commas are not lists here), case-sensitive, as
// in OpenSSH.
func matchHostLine(host string, patterns []string) bool {
	ok := false
	for _, p := range patterns {
		if neg := strings.HasPrefix(p, "!"); neg {
			if matchPattern(host, p[1:]) {
				return false
			}
		} else if matchPattern(host, p) {
			ok = true
		}
	}
	return ok
}

// matchPatternList is OpenSSH's match_pattern_list: a comma-separated
// list matches as the patterns of a Host line do.
func matchPatternList(s, list string) bool { return matchHostLine(s, strings.Split(list, ",")) }

// matchPattern is OpenSSH's match_pattern: * matches any run, ? one byte,
// everything else itself ([ and \ are not special, unlike path.Match).
func matchPattern(s, p string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchPattern(s[i:], p) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		s, p = s[1:], p[1:]
	}
	return s == ""
}

// maxExecLine bounds a line of Match exec's stderr held back for its
// newline: a longer one is passed on in pieces of this size.
const maxExecLine = 4096

// lineSplitter passes what a command writes to line, one line at a time
// without its newline (and the CR before it). os/exec writes it from one
// goroutine; flush passes the last, unterminated line once the command
// has ended.
type lineSplitter struct {
	line func(string)
	buf  []byte
}

func (l *lineSplitter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := maxExecLine - len(l.buf)
			if len(b) < room {
				l.buf = append(l.buf, b...)
				break
			}
			l.buf = append(l.buf, b[:room]...)
			b = b[room:]
			l.flush()
			continue
		}
		l.buf = append(l.buf, b[:i]...)
		b = b[i+1:]
		l.line(strings.TrimSuffix(string(l.buf), "\r"))
		l.buf = l.buf[:0]
	}
	return n, nil
}

func (l *lineSplitter) flush() {
	if len(l.buf) > 0 {
		l.line(string(l.buf))
		l.buf = l.buf[:0]
	}
}
