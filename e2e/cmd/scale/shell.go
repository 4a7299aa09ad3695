package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The endpoints do not start /bin/sh: 5,000 hosts times a dozen commands
// would be tens of thousands of fork+exec on the 2 cores that fleet is
// measured on, and the harness would measure the kernel, not fleet. Instead
// each session's command line goes through miniShell, a small interpreter
// of the POSIX sh that fleet sends (parse.go, lex.go), which refuses
// anything else loudly (exit 2, "scale-sh: unsupported: ..."), so that a
// change in what fleet sends shows up as failed hosts, not as faked success:
//
//   - lists with ; && || and newlines, # comments, if/elif/else/fi,
//     functions (name() { ...; }), { ...; } groups, assignments
//   - words in '...', "..." or bare, with $$ $? $# $@ $0-$9 $NAME ${NAME}
//     ${NAME:-word}, and \ escapes
//   - redirections >&2 2>&1 >FILE 2>FILE <FILE (every file is /dev/null)
//   - builtins: true false : exit export echo printf (%s %d %%) exec sleep
//     setsid command -v, sudo (its options dropped), sh -c SCRIPT [ARGS]
//     and sh -s (the script read from standard input as it arrives, which
//     is how fleet's long-lived remote shells work), test / [ for a fresh
//     host on which no path exists, and the file tools recipes use for
//     pending triggers (mkdir touch rm cd ls), which succeed silently
//   - recipes' facts script, recognised by its marker, answered as a
//     Debian 12 host
//
// Pipes, $(...), backquotes, background jobs, subshells, loops, case and
// here-documents are not understood.

// factsMark is recipes' factsMark: the facts script is recognised by it.
const factsMark = "@@fleet-facts:"

// factsAnswer is what the facts script prints on a Debian 12 host, as root,
// with no container runtime and no cluster.
const factsAnswer = factsMark + "os-release\n" +
	"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n" +
	"VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n" +
	factsMark + "arch\nx86_64\n" +
	factsMark + "init\nsystemd\n" +
	factsMark + "sudo\nno\n" +
	factsMark + "cgroup\n" +
	factsMark + "joined\nno\n" +
	factsMark + "end\n"

// miniShell is one shell process: its variables, functions, positional
// parameters and last status. Commands it runs as "other processes"
// (sh -c) get a fresh miniShell with a new PID from nextPID.
type miniShell struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	pid            int
	nextPID        func() int
	vars           map[string]string
	funcs          map[string]list
	args           []string // $0, $1, ...
	status         int
}

// errExit ends the whole script (exit, exec) with a status.
type errExit struct{ status int }

func (e *errExit) Error() string { return fmt.Sprintf("exit %d", e.status) }

// errUnsupported is a construct miniShell does not understand.
type errUnsupported struct{ what string }

func (e *errUnsupported) Error() string { return "unsupported: " + e.what }

// newShell makes a shell process with the given streams.
func newShell(stdin io.Reader, stdout, stderr io.Writer, nextPID func() int, args []string) *miniShell {
	if len(args) == 0 {
		args = []string{"sh"}
	}
	return &miniShell{stdin: stdin, stdout: stdout, stderr: stderr, pid: nextPID(), nextPID: nextPID,
		vars: map[string]string{}, funcs: map[string]list{}, args: args}
}

// run runs script as sh -c would, and returns its exit status.
func (sh *miniShell) run(script string) int {
	l, err := parse(script)
	if err == nil {
		_, err = sh.list(l, sh.stdin, sh.stdout, sh.stderr)
	}
	return sh.finish(err)
}

// finish turns how a script ended into its exit status.
func (sh *miniShell) finish(err error) int {
	var ex *errExit
	var un *errUnsupported
	switch {
	case errors.As(err, &ex):
		return ex.status
	case errors.As(err, &un):
		fmt.Fprintf(sh.stderr, "scale-sh: %s\n", un)
		return 2
	case errors.Is(err, errIncomplete):
		fmt.Fprintln(sh.stderr, "scale-sh: syntax error: unexpected end of file")
		return 2
	}
	return sh.status
}

// runInput runs commands from r as they arrive, as sh -s does: each line is
// added to what is pending and run as soon as it parses whole.
func (sh *miniShell) runInput(r io.Reader) int {
	in := bufio.NewReader(r)
	var pending strings.Builder
	for {
		line, rerr := in.ReadString('\n')
		pending.WriteString(line)
		l, err := parse(pending.String())
		switch {
		case errors.Is(err, errIncomplete) && rerr == nil:
			continue
		case err != nil:
			return sh.finish(err)
		}
		pending.Reset()
		if _, err := sh.list(l, eofReader{}, sh.stdout, sh.stderr); err != nil {
			return sh.finish(err)
		}
		if rerr != nil {
			return sh.status
		}
	}
}

// eofReader is /dev/null: commands of sh -s must not eat the script.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (sh *miniShell) list(l list, in io.Reader, out, errw io.Writer) (int, error) {
	for _, ao := range l {
		for i, c := range ao.cmds {
			if i > 0 && (ao.ops[i-1] == "&&") != (sh.status == 0) {
				continue
			}
			st, err := sh.command(c, in, out, errw)
			sh.status = st
			if err != nil {
				return st, err
			}
		}
	}
	return sh.status, nil
}

func (sh *miniShell) command(c command, in io.Reader, out, errw io.Writer) (int, error) {
	switch c := c.(type) {
	case funcDef:
		sh.funcs[c.name] = c.body
		return 0, nil
	case group:
		return sh.list(c.body, in, out, errw)
	case ifCmd:
		for i, cond := range c.conds {
			if st, err := sh.list(cond, in, out, errw); err != nil || st != 0 {
				if err != nil {
					return st, err
				}
				continue
			}
			return sh.list(c.bodies[i], in, out, errw)
		}
		if c.hasElse {
			return sh.list(c.orElse, in, out, errw)
		}
		return 0, nil
	case simple:
		return sh.simple(c, in, out, errw)
	}
	return 2, &errUnsupported{fmt.Sprintf("command %T", c)}
}

func (sh *miniShell) simple(c simple, in io.Reader, out, errw io.Writer) (int, error) {
	for _, r := range c.redirs {
		switch r.op {
		case ">&2", "1>&2":
			out = errw
		case "2>&1":
			errw = out
		case ">", "1>", ">>":
			out = io.Discard
		case "2>", "2>>":
			errw = io.Discard
		case "<":
			in = eofReader{}
		}
	}
	var args []string
	for _, w := range c.words {
		args = append(args, sh.expand(w)...)
	}
	for len(args) > 0 { // leading NAME=value words are assignments
		k, v, ok := strings.Cut(args[0], "=")
		if !ok || !isName(k) {
			break
		}
		sh.vars[k] = v
		args = args[1:]
	}
	return sh.exec(args, in, out, errw)
}

// expand turns a word into its fields, as sh does: the values of unquoted
// parameters are split on blanks (and vanish when empty), "$@" gives one
// field per positional parameter, and a word of quotes only is one empty
// field.
func (sh *miniShell) expand(w word) []string {
	if len(w.parts) == 0 {
		return []string{""}
	}
	var fields []string
	var cur strings.Builder
	has := false // cur is a field, even if empty
	end := func() {
		if has {
			fields = append(fields, cur.String())
		}
		cur.Reset()
		has = false
	}
	for _, p := range w.parts {
		if p.name == "" {
			cur.WriteString(p.lit)
			has = true
			continue
		}
		if p.name == "@" && p.quoted {
			for i, a := range sh.args[1:] {
				if i > 0 {
					end()
				}
				cur.WriteString(a)
				has = true
			}
			continue
		}
		v, set := sh.param(p.name)
		if p.hasDef && (!set || p.colon && v == "") {
			v = p.def
		}
		if p.quoted {
			cur.WriteString(v)
			has = true
			continue
		}
		if v != "" && strings.TrimLeft(v, " \t\n") != v {
			end()
		}
		for i, f := range strings.Fields(v) {
			if i > 0 {
				end()
			}
			cur.WriteString(f)
			has = true
		}
		if v != "" && strings.TrimRight(v, " \t\n") != v {
			end()
		}
	}
	end()
	return fields
}

// param is a parameter's value and whether it is set.
func (sh *miniShell) param(name string) (string, bool) {
	switch name {
	case "$":
		return strconv.Itoa(sh.pid), true
	case "?":
		return strconv.Itoa(sh.status), true
	case "#":
		return strconv.Itoa(len(sh.args) - 1), true
	case "@":
		return strings.Join(sh.args[1:], " "), true
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < len(sh.args) {
			return sh.args[n], true
		}
		return "", false
	}
	v, ok := sh.vars[name]
	return v, ok
}
