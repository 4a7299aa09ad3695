package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"mvdan.cc/sh/v3/interp"
)

// The programs an endpoint has besides the interpreter's builtins (echo,
// printf, test, export, exec, command -v, cd, ...), answered in-process as
// a fresh Debian 12 host answers fleet's wrapper, its long-lived remote
// shells and the scale recipe (setup.go):
//
//   - sh -c SCRIPT [NAME [ARGS]] and sh -s (the script read from the
//     session's input as it arrives, which is how fleet's long-lived remote
//     shells work) run in a nested interpreter, as a new process;
//   - sudo (its options dropped) and setsid run their command;
//   - mkdir records a folder for the rest of the session, so that
//     `mkdir -p D && cd D` works; touch, rm and ls succeed silently (the
//     pending-trigger commands of recipes); nothing else exists: this is a
//     fresh host, and test -e says no for every path;
//   - sleep waits (at most a minute, to hold connections open);
//   - recipes' facts script, recognised by its marker, is answered as a
//     Debian 12 host, as root, with no container runtime and no cluster.
//
// kill is the interpreter's builtin, which refuses (exit 2): nothing runs
// here that fleet could stop, and its kill script ends with true.

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

// maxSleep bounds sleep: the hold scenario sleeps a few seconds.
const maxSleep = time.Minute

// exec runs a program that is neither a function nor a builtin.
func (h *hostShell) exec(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	switch name := args[0]; name {
	case "sh", "/bin/sh":
		return exitStatus(h.sh(ctx, hc, args[1:]))
	case "sudo":
		return h.run1(ctx, hc, "sudo", sudoCommand(args[1:]))
	case "setsid":
		return h.run1(ctx, hc, "setsid", args[1:])
	case "mkdir":
		h.fs.mkdir(hc.Dir, args[1:])
		return nil
	case "touch", "rm", "ls":
		return nil
	case "sleep":
		return sleep(ctx, args[1:])
	}
	fmt.Fprintf(hc.Stderr, "sh: 1: %s: not found\n", args[0])
	h.stats.notFound.Add(1)
	return interp.ExitStatus(127)
}

// exitStatus is a handler's result for status: nil for 0, as the
// interpreter wants it.
func exitStatus(status uint8) error {
	if status == 0 {
		return nil
	}
	return interp.ExitStatus(status)
}

// run1 runs the command of sudo or setsid: a builtin as the interpreter
// has it, a program as exec does.
func (h *hostShell) run1(ctx context.Context, hc interp.HandlerContext, via string, args []string) error {
	switch {
	case len(args) == 0:
		return &errUnsupported{via + " without a command"}
	case interp.IsBuiltin(args[0]):
		return hc.Builtin(ctx, args)
	}
	return h.exec(ctx, args)
}

// sh runs sh -c SCRIPT [NAME [ARGS...]] or sh -s as a new process.
func (h *hostShell) sh(ctx context.Context, hc interp.HandlerContext, args []string) uint8 {
	stdin, _ := hc.Stdin.(*os.File) // nil, or /dev/null: see runner
	env := exported(hc.Env)
	switch {
	case len(args) >= 2 && args[0] == "-c":
		if strings.Contains(args[1], factsMark) {
			_, _ = io.WriteString(hc.Stdout, factsAnswer)
			return 0
		}
		name, params := "sh", []string(nil)
		if len(args) > 2 {
			name, params = args[2], args[3:]
		}
		return uint8(h.script(ctx, env, hc.Dir, args[1], name, params, stdin, hc.Stdout, hc.Stderr))
	case len(args) == 0 || len(args) == 1 && args[0] == "-s":
		var in io.Reader = h.input
		if stdin != nil {
			in = stdin
		}
		return uint8(h.inputShell(ctx, env, hc.Dir, in, hc.Stdout, hc.Stderr))
	}
	return uint8(h.refuse(hc.Stderr, "sh "+strings.Join(args, " ")))
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

// sleep waits for its one argument, in seconds, or until the connection
// goes away.
func sleep(ctx context.Context, args []string) error {
	secs, err := 0.0, error(nil)
	if len(args) == 1 {
		secs, err = strconv.ParseFloat(args[0], 64)
	}
	d := time.Duration(secs * float64(time.Second))
	if len(args) != 1 || err != nil || d < 0 || d > maxSleep {
		return &errUnsupported{"sleep " + strings.Join(args, " ")}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fakeFS is a session's file system: /dev/null, and the folders mkdir made.
type fakeFS struct {
	mu   sync.Mutex
	dirs map[string]bool
}

// mkdir records the folders of mkdir [-p] [-m MODE] [--] DIR..., and their
// parents.
func (f *fakeFS) mkdir(cwd string, args []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirs == nil {
		f.dirs = map[string]bool{}
	}
	opts := true
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case opts && a == "--":
			opts = false
		case opts && a == "-m":
			i++
		case opts && strings.HasPrefix(a, "-"):
		default:
			for d := abs(cwd, a); d != "/"; d = filepath.Dir(d) {
				f.dirs[d] = true
			}
		}
	}
}

func (f *fakeFS) isDir(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return path == "/" || f.dirs[path]
}

// open opens /dev/null: for reading as a real file (the interpreter would
// turn any other reader into a pipe and a goroutine), for writing as a
// discarding writer (no system call). Other paths do not exist, and
// writing them is refused: an endpoint keeps no files.
func (f *fakeFS) open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	p := abs(interp.HandlerCtx(ctx).Dir, path)
	writing := flag&(os.O_WRONLY|os.O_RDWR) != 0
	switch {
	case p == "/dev/null" && writing:
		return devNull{}, nil
	case p == "/dev/null":
		return os.OpenFile(p, flag, perm)
	case writing:
		return nil, &errUnsupported{"writing " + path}
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
}

// stat finds the folders mkdir made, and nothing else.
func (f *fakeFS) stat(ctx context.Context, name string, _ bool) (fs.FileInfo, error) {
	if p := abs(interp.HandlerCtx(ctx).Dir, name); f.isDir(p) {
		return dirInfo(filepath.Base(p)), nil
	}
	return nil, &os.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// access allows everything in the folders that exist.
func (f *fakeFS) access(_ context.Context, path string, _ interp.AccessMode) error {
	if f.isDir(path) {
		return nil
	}
	return &os.PathError{Op: "access", Path: path, Err: fs.ErrNotExist}
}

// devNull is /dev/null opened for writing.
type devNull struct{}

func (devNull) Read([]byte) (int, error)    { return 0, io.EOF }
func (devNull) Write(b []byte) (int, error) { return len(b), nil }
func (devNull) Close() error                { return nil }

func abs(cwd, path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(cwd, path)
	}
	return filepath.Clean(path)
}

// dirInfo is the fs.FileInfo of a made folder.
type dirInfo string

func (d dirInfo) Name() string     { return string(d) }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }
