package recipes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/fleet-sh/fleet/fleet"
)

// fakeTarget is a host for tests: it records every call, answers commands
// from a table, and keeps "remote files" in a map for Put and Probe.
type fakeTarget struct {
	mu sync.Mutex
	// answers maps a command line to its result; a line not in it
	// succeeds. A func is called with the command (for output, counting,
	// blocking on ctx).
	answers map[string]any // error, or func(ctx, *fleet.Command) error
	files   map[string]*fakeFile
	calls   []string // "exec[sudo] LINE", "put PATH", "probe PATH"
	puts    []fleet.PutOptions
}

type fakeFile struct {
	data         []byte
	mode         os.FileMode
	owner, group string
}

func newFake() *fakeTarget {
	return &fakeTarget{answers: map[string]any{}, files: map[string]*fakeFile{}}
}

func (f *fakeTarget) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeTarget) Exec(ctx context.Context, cmd *fleet.Command) error {
	tag := "exec"
	if cmd.Sudo {
		tag = "exec[sudo]"
	}
	line := inlineVars(cmd)
	f.record(tag + " " + line)
	f.mu.Lock()
	a := f.answers[line]
	if a == nil {
		a = f.readAnswer(line)
	}
	f.mu.Unlock()
	switch a := a.(type) {
	case nil:
		return nil
	case error:
		return a
	case func(context.Context, *fleet.Command) error:
		return a(ctx, cmd)
	}
	panic(fmt.Sprintf("answer of type %T", a))
}

// readAnswer answers fileDiff's read of a file in f.files (nil for
// another command), with a banner first as a login shell may print.
func (f *fakeTarget) readAnswer(line string) any {
	for p, file := range f.files {
		if line == "printf 'fleet-diff-content\\n' && cat -- "+fleet.Quote(p) {
			return output("Welcome to the host\n" + diffStart + string(file.data))
		}
	}
	return nil
}

func (f *fakeTarget) Put(ctx context.Context, src *fleet.LocalFile, dst string, o fleet.PutOptions) (bool, error) {
	f.record("put " + dst)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, o)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	cur, ok := f.files[dst]
	want := &fakeFile{data: src.Data, mode: o.Mode, owner: o.Owner, group: o.Group}
	if ok {
		if want.owner == "" {
			want.owner = cur.owner
		}
		if want.group == "" {
			want.group = cur.group
		}
		if string(cur.data) == string(want.data) && cur.mode == want.mode && cur.owner == want.owner && cur.group == want.group {
			return false, nil
		}
	}
	f.files[dst] = want
	return true, nil
}

func (f *fakeTarget) Probe(ctx context.Context, path string, sudo bool, pw []byte) (*fleet.RemoteFile, error) {
	f.record("probe " + path)
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.files[path]
	if !ok {
		return &fleet.RemoteFile{}, nil
	}
	sum := sha256.Sum256(cur.data)
	return &fleet.RemoteFile{Exists: true, Size: int64(len(cur.data)), Mode: cur.mode, Owner: cur.owner, Group: cur.group,
		SHA256: hex.EncodeToString(sum[:])}, nil
}

// inlineVars writes a command's Vars into its line, quoted, where it
// refers to them: the line as it read before values went through the
// environment, which is what the tables of these tests are written in.
func inlineVars(cmd *fleet.Command) string {
	line := cmd.Line
	for _, kv := range cmd.Vars {
		line = strings.ReplaceAll(line, `"$`+kv[0]+`"`, fleet.Quote(kv[1]))
		line = strings.ReplaceAll(line, "${"+kv[0]+"}", kv[1])
	}
	return line
}

// varsEnv is a command's Vars as os/exec environment entries.
func varsEnv(cmd *fleet.Command) []string {
	var env []string
	for _, kv := range cmd.Vars {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

// runSh runs line with shell -c in dir, as a host runs cmd: env and cmd's
// Vars in the environment, its stdout to cmd.Stdout, its stderr to
// cmd.Stderr once it has ended, and an exit status as a *fleet.ExitError.
// It returns the stderr too.
func runSh(ctx context.Context, cmd *fleet.Command, shell, line, dir string, env ...string) (string, error) {
	c := exec.CommandContext(ctx, shell, "-c", line)
	c.Dir = dir
	c.Env = append(env, varsEnv(cmd)...)
	var errb bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = cmd.Stdin, cmd.Stdout, &errb
	err := c.Run()
	if cmd.Stderr != nil {
		_, _ = cmd.Stderr.Write(errb.Bytes())
	}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		err = &fleet.ExitError{Status: ee.ExitCode()}
	}
	return errb.String(), err
}

// plainEnv is the environment of a command run in dir for a test: a
// short PATH, HOME there, the C locale.
func plainEnv(dir string) []string { return []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LC_ALL=C"} }

// callList returns the calls so far.
func (f *fakeTarget) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// count returns how many calls start with prefix.
func (f *fakeTarget) count(prefix string) int {
	n := 0
	for _, c := range f.callList() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func exitStatus(n int) error { return &fleet.ExitError{Status: n} }

// output answers a command by writing s on its stdout.
func output(s string) func(context.Context, *fleet.Command) error {
	return func(_ context.Context, cmd *fleet.Command) error {
		if cmd.Stdout != nil {
			_, _ = io.WriteString(cmd.Stdout, s)
		}
		return nil
	}
}

// recLog is a StepLog that records headers and output.
type recLog struct {
	mu      sync.Mutex
	steps   []string
	out     strings.Builder
	errText strings.Builder
}

func (l *recLog) Step(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, name)
}
func (l *recLog) Stdout() io.Writer { return lockedWriter{&l.mu, &l.out} }
func (l *recLog) Stderr() io.Writer { return lockedWriter{&l.mu, &l.errText} }

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
