package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// cmdTimeout bounds every fleet invocation of a test.
const cmdTimeout = 30 * time.Second

// statusRE is pssh's status line, as scripts written for pssh match it.
var statusRE = regexp.MustCompile(`^\[\d+\] \d\d:\d\d:\d\d \[(SUCCESS|FAILURE)\] \S+`)

// statusParts splits a status line into outcome, label and reason.
var statusParts = regexp.MustCompile(`^\[(\d+)\] \d\d:\d\d:\d\d \[(SUCCESS|FAILURE)\] (\S+)(?: (.*))?$`)

// user is one person running fleet: an empty home of their own (so the
// real ~/.ssh is never read or written) and a state folder of their own
// (so runs/latest is theirs). The state folder does not exist yet: fleet
// must create it, with the right mode.
type user struct {
	t        *testing.T
	home     string
	stateDir string
	env      []string // more environment, e.g. SSH_AUTH_SOCK
	dir      string   // the folder fleet runs in; "" for the test's own
}

// setup skips the test when this machine cannot run e2e tests, marks it
// parallel, and returns a fresh user.
func setup(t *testing.T) *user {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	t.Parallel()
	return newUser(t)
}

// newUser returns a fresh user without marking the test parallel, for
// subtests that must run one after the other.
func newUser(t *testing.T) *user {
	return &user{t: t, home: t.TempDir(), stateDir: filepath.Join(t.TempDir(), "state")}
}

// parent prepares a test whose subtests call setup: it skips when this
// machine cannot run e2e tests and lets the subtests run alongside the
// other tests.
func parent(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	t.Parallel()
}

// result is what one fleet invocation did.
type result struct {
	args           []string
	stdout, stderr string
	status         int
}

// String shows everything about the invocation, for failure messages.
func (r result) String() string {
	return fmt.Sprintf("fleet %s\nexit status %d\n--- stdout\n%s--- stderr\n%s---",
		shellWords(r.args), r.status, r.stdout, r.stderr)
}

func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$;&|<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// syncBuffer is a bytes.Buffer that a test may read while exec copies
// the child's output into it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a fleet process that a test watches while it runs.
type running struct {
	t              *testing.T
	cmd            *exec.Cmd
	args           []string
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // of cmd.Wait, set before done closes
}

// start runs `fleet run -F <harness ssh_config> args...` with stdin (may
// be empty) as this user and returns at once. The process is killed after
// cmdTimeout and reaped when the test ends.
func (u *user) start(stdin string, args ...string) *running {
	u.t.Helper()
	return u.startSub("run", stdin, args...)
}

// startSub starts `fleet SUB -F <harness ssh_config> args...` with stdin
// and returns at once.
func (u *user) startSub(sub, stdin string, args ...string) *running {
	u.t.Helper()
	return u.startOn(testFleet.SSHConfig, cmdTimeout, sub, stdin, args...)
}

// startOn starts `fleet SUB -F config args...` with stdin, killed after
// limit, and returns at once.
func (u *user) startOn(config string, limit time.Duration, sub, stdin string, args ...string) *running {
	u.t.Helper()
	return u.startArgs(limit, stdin, append([]string{sub, "-F", config}, args...)...)
}

// startArgs starts `fleet args...` with stdin, killed after limit, and
// returns at once.
func (u *user) startArgs(limit time.Duration, stdin string, args ...string) *running {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := u.command(ctx, nil, args...)
	cmd.Dir = u.dir
	cmd.Stdin = strings.NewReader(stdin)
	r := &running{t: u.t, cmd: cmd, args: args, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		u.t.Fatalf("starting fleet: %v", err)
	}
	go func() {
		r.err = cmd.Wait()
		cancel()
		close(r.done)
	}()
	u.t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// command is `fleet args...` as this user, not started, killed with ctx.
// Its environment is minimal, so that nothing of the caller's
// (SSH_AUTH_SOCK, PSSH_*, XDG_STATE_HOME) changes what fleet does, plus
// u.env and extra.
func (u *user) command(ctx context.Context, extra []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, fleetBin, args...)
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.home, "FLEET_STATE_DIR=" + u.stateDir, "LANG=C.UTF-8"}, u.env...), extra...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// wait waits at most d for fleet to exit and returns what it did; it fails
// the test when fleet is still running then or was killed.
func (r *running) wait(d time.Duration) result {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(d):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.t.Fatalf("fleet still running after %v; killed it\n%s", d, r.result())
	}
	res := r.result()
	var ee *exec.ExitError
	if r.err != nil && !errors.As(r.err, &ee) {
		r.t.Fatalf("fleet: %v\n%s", r.err, res)
	}
	if res.status < 0 {
		r.t.Fatalf("fleet was killed (%v), probably after the %v limit\n%s", r.err, cmdTimeout, res)
	}
	return res
}

// finished reports whether fleet has exited.
func (r *running) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *running) result() result {
	status := 0
	if r.finished() {
		status = r.cmd.ProcessState.ExitCode()
	}
	return result{args: r.args, stdout: r.stdout.String(), stderr: r.stderr.String(), status: status}
}

// run runs `fleet run -F <harness ssh_config> args...` to its end.
func (u *user) run(args ...string) result {
	u.t.Helper()
	return u.start("", args...).wait(cmdTimeout + 5*time.Second)
}

// provision runs `fleet provision -F <harness ssh_config> args...` to its
// end.
func (u *user) provision(args ...string) result {
	u.t.Helper()
	return u.startSub("provision", "", args...).wait(cmdTimeout + 5*time.Second)
}

// runInput is run with stdin.
func (u *user) runInput(stdin string, args ...string) result {
	u.t.Helper()
	return u.start(stdin, args...).wait(cmdTimeout + 5*time.Second)
}

// label is how fleet names a host given as user@addr:port.
func label(user string, h harness.Host) string { return user + "@" + h.HostPort() }

// hostArg joins hosts into one -H value, each as user@addr:port; a host
// may be given as a harness.Host or as a ready "addr:port" string (the
// unreachable address).
func hostArg(user string, hosts ...any) string {
	var words []string
	for _, h := range hosts {
		switch h := h.(type) {
		case harness.Host:
			words = append(words, label(user, h))
		case string:
			words = append(words, user+"@"+h)
		default:
			panic(fmt.Sprintf("hostArg: %T", h))
		}
	}
	return strings.Join(words, " ")
}

// allLabels are the labels of every host of the hosts file, in its order.
func allLabels(user string) []string {
	var out []string
	for _, h := range testFleet.Hosts {
		out = append(out, label(user, h))
	}
	return out
}

// status is one parsed status line.
type status struct {
	ok     bool
	label  string
	reason string
}

// statuses parses every status line of out, by label. It fails the test on
// a line that starts like a status line ("[") but does not match pssh's
// format, and on a label reported twice.
func statuses(t *testing.T, out string) map[string]status {
	t.Helper()
	got := map[string]status{}
	for _, line := range lines(out) {
		if !strings.HasPrefix(line, "[") {
			continue
		}
		m := statusParts.FindStringSubmatch(line)
		if m == nil || !statusRE.MatchString(line) {
			t.Errorf("line %q does not match pssh's status format %s", line, statusRE)
			continue
		}
		if _, dup := got[m[3]]; dup {
			t.Errorf("host %s reported twice", m[3])
		}
		got[m[3]] = status{ok: m[2] == "SUCCESS", label: m[3], reason: m[4]}
	}
	return got
}

// inlineBlocks splits -i output into each host's text: what follows its
// status line up to the next status line. Outputs must end in a newline.
func inlineBlocks(out string) map[string]string {
	blocks := map[string]string{}
	cur := ""
	for _, line := range lines(out) {
		if m := statusParts.FindStringSubmatch(line); m != nil {
			cur = m[3]
			blocks[cur] = ""
			continue
		}
		if cur != "" {
			blocks[cur] += line + "\n"
		}
	}
	return blocks
}

// lines splits text into lines without their newlines.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// proc is a live process of this machine.
type proc struct {
	pid, uid int
	cmdline  string // NULs replaced by spaces
}

// procsMatching lists every live, non-zombie process (any user) whose
// command line contains needle, this test process excepted.
func procsMatching(needle string) []proc {
	var out []proc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 { // gone, zombie or kernel thread
			continue
		}
		line := string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '}))
		if !strings.Contains(line, needle) {
			continue
		}
		p := proc{pid: pid, uid: -1, cmdline: line}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			if zombie := bytes.Contains(st, []byte("\nState:\tZ")); zombie {
				continue
			}
			if i := bytes.Index(st, []byte("\nUid:")); i >= 0 {
				if f := strings.Fields(string(st[i+5:])); len(f) > 0 {
					p.uid, _ = strconv.Atoi(f[0])
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// userProcsMatching lists the command lines of the harness user's
// processes that contain needle.
func userProcsMatching(t *testing.T, name, needle string) []string {
	t.Helper()
	all, err := harness.Processes(name)
	if err != nil {
		t.Fatalf("processes of %s: %v", name, err)
	}
	var out []string
	for _, p := range all {
		if strings.Contains(p, needle) {
			out = append(out, p)
		}
	}
	return out
}

// uniqueSleep returns a command "sleep SECS.NNNNNN" whose command line no
// other process on the machine has: the test users are shared by every
// fleet here, and another test run may sleep as long at the same time.
func uniqueSleep(secs int) string {
	return fmt.Sprintf("sleep %d.%06d", secs, rand.IntN(1000000))
}

// eventually polls cond every 50 ms until it holds or d has passed, and
// reports whether it held. Every wait in these tests is bounded by it.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeFile writes a test input file with the given mode.
func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// sharedTemp is a fresh folder every harness user may write (all hosts
// share this machine's filesystem, and a test's own temporary folder is
// private to root).
func sharedTemp(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fleet-e2e-")
	if err != nil || os.Chmod(d, 0o777) != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// canary returns a path that a hostile value would create if it ran as
// shell code, and a check that fails the test once it exists.
func canary(t *testing.T) (path string, noCanary func(*testing.T, result)) {
	t.Helper()
	path = "/tmp/fleet-pwned-" + randomHex(t)
	t.Cleanup(func() { os.Remove(path) })
	return path, func(t *testing.T, r result) {
		t.Helper()
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("a value ran a command of its own: %s exists\n%s", path, r)
		}
	}
}

// mustExit stops the test unless fleet exited with status want; what (a
// format and its arguments, optional) says which run it was.
func mustExit(t *testing.T, r result, want int, what ...any) {
	t.Helper()
	if r.status != want {
		t.Fatal(exitMessage(r, want, what))
	}
}

// wantExit is mustExit that lets the test go on.
func wantExit(t *testing.T, r result, want int, what ...any) {
	t.Helper()
	if r.status != want {
		t.Error(exitMessage(r, want, what))
	}
}

func exitMessage(r result, want int, what []any) string {
	msg := fmt.Sprintf("want exit status %d\n%s", want, r)
	if len(what) > 0 {
		msg = fmt.Sprintf(what[0].(string), what[1:]...) + ": " + msg
	}
	return msg
}

// checkGone fails the test unless, within window after fleet exited, no
// process of any user has one of needles in its command line.
func checkGone(t *testing.T, r result, window time.Duration, needles ...string) {
	t.Helper()
	var left []proc
	if !eventually(window, func() bool {
		left = nil
		for _, n := range needles {
			left = append(left, procsMatching(n)...)
		}
		return len(left) == 0
	}) {
		t.Errorf("%v after fleet exited, still running: %+v\n%s", window, left, r)
	}
}
