package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The commands miniShell knows: its builtins, and the external commands
// fleet's recipes and wrappers use, answered as a fresh host would.

// exec runs a function or builtin.
func (sh *miniShell) exec(args []string, in io.Reader, out, errw io.Writer) (int, error) {
	if len(args) == 0 {
		return 0, nil
	}
	if body, ok := sh.funcs[args[0]]; ok {
		saved := sh.args
		sh.args = append([]string{saved[0]}, args[1:]...)
		st, err := sh.list(body, in, out, errw)
		sh.args = saved
		return st, err
	}
	switch name := args[0]; name {
	case "true", ":", "mkdir", "touch", "rm", "cd", "ls":
		return 0, nil
	case "false":
		return 1, nil
	case "sleep": // whole seconds, at most a minute: to hold connections open
		n, err := strconv.Atoi(strings.Join(args[1:], ""))
		if err != nil || n < 0 || n > 60 {
			return 2, &errUnsupported{"sleep " + strings.Join(args[1:], " ")}
		}
		time.Sleep(time.Duration(n) * time.Second)
		return 0, nil
	case "exit":
		n := sh.status
		if len(args) > 1 {
			n, _ = strconv.Atoi(args[1])
		}
		return n, &errExit{n}
	case "exec":
		st, err := sh.exec(args[1:], in, out, errw)
		if err != nil {
			return st, err
		}
		return st, &errExit{st}
	case "export":
		for _, kv := range args[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				sh.vars[k] = v
			}
		}
		return 0, nil
	case "echo":
		fmt.Fprintln(out, strings.Join(args[1:], " "))
		return 0, nil
	case "printf":
		if len(args) < 2 {
			return 1, nil
		}
		_, _ = io.WriteString(out, printf(args[1], args[2:]))
		return 0, nil
	case "command":
		if len(args) == 3 && args[1] == "-v" {
			if _, ok := sh.funcs[args[2]]; ok || isBuiltin(args[2]) {
				fmt.Fprintln(out, args[2])
				return 0, nil
			}
			return 1, nil
		}
		return sh.exec(args[1:], in, out, errw)
	case "setsid":
		return sh.exec(args[1:], in, out, errw)
	case "sudo":
		return sh.exec(sudoCommand(args[1:]), in, out, errw)
	case "sh", "/bin/sh":
		return sh.subshell(args[1:], in, out, errw)
	case "test", "[":
		return test(args[1:]), nil
	default:
		fmt.Fprintf(errw, "sh: 1: %s: not found\n", name)
		return 127, nil
	}
}

// subshell runs sh -c SCRIPT [NAME [ARGS...]] or sh -s as a new process:
// variables, functions and $$ are its own.
func (sh *miniShell) subshell(args []string, in io.Reader, out, errw io.Writer) (int, error) {
	switch {
	case len(args) >= 2 && args[0] == "-c":
		if strings.Contains(args[1], factsMark) {
			_, _ = io.WriteString(out, factsAnswer)
			return 0, nil
		}
		if strings.HasPrefix(args[1], "kill -TERM ") {
			return 0, nil // fleet's kill script (a loop): nothing runs here to kill
		}
		child := newShell(in, out, errw, sh.nextPID, args[2:])
		return child.run(args[1]), nil
	case len(args) == 1 && args[0] == "-s":
		return newShell(in, out, errw, sh.nextPID, nil).runInput(in), nil
	}
	return 2, &errUnsupported{"sh " + strings.Join(args, " ")}
}

// isBuiltin says what command -v finds.
func isBuiltin(name string) bool {
	switch name {
	case "true", "false", ":", "mkdir", "touch", "rm", "cd", "ls", "exit", "exec", "export", "echo", "printf",
		"command", "setsid", "sudo", "sh", "/bin/sh", "test", "[", "sleep":
		return true
	}
	return false
}

// sudoCommand drops sudo's options: -n, -S, -p PROMPT, -u USER, --.
func sudoCommand(args []string) []string {
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--":
			return args[1:]
		case a == "-p" || a == "-u":
			if len(args) < 2 {
				return nil
			}
			args = args[2:]
		case strings.HasPrefix(a, "-"):
			args = args[1:]
		default:
			return args
		}
	}
	return args
}

// test answers for a fresh host: no path exists; strings compare.
func test(args []string) int {
	if len(args) > 0 && args[len(args)-1] == "]" {
		args = args[:len(args)-1]
	}
	ok := false
	switch {
	case len(args) == 2 && args[0] == "-z":
		ok = args[1] == ""
	case len(args) == 2 && args[0] == "-n":
		ok = args[1] != ""
	case len(args) == 3 && (args[1] == "=" || args[1] == "!="):
		ok = (args[0] == args[2]) == (args[1] == "=")
	}
	if ok {
		return 0
	}
	return 1
}

// printf supports what fleet's wrapper and simple scripts use: %s, %d, %%,
// and the escapes \n \t \\; the format is reused while arguments remain.
func printf(format string, args []string) string {
	var b strings.Builder
	for first := true; first || len(args) > 0; first = false {
		used := false
		for i := 0; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '\\' && i+1 < len(format):
				i++
				switch format[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteByte(format[i])
				}
			case c == '%' && i+1 < len(format):
				i++
				switch format[i] {
				case '%':
					b.WriteByte('%')
				case 's', 'd':
					used = true
					if len(args) > 0 {
						b.WriteString(args[0])
						args = args[1:]
					}
				}
			default:
				b.WriteByte(c)
			}
		}
		if !used {
			break
		}
	}
	return b.String()
}
