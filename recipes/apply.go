package recipes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// Target is a connected host; a *fleet.Remote implements it (a *fleet.Conn,
// a session per command, or its *fleet.Shells), and tests use a fake that
// answers from a table.
type Target interface {
	Exec(ctx context.Context, cmd *fleet.Command) error
	Put(ctx context.Context, src *fleet.LocalFile, dst string, o fleet.PutOptions) (changed bool, err error)
	Probe(ctx context.Context, path string, sudo bool, sudoPassword []byte) (*fleet.RemoteFile, error)
}

var (
	_ Target = (*fleet.Conn)(nil)
	_ Target = (*fleet.Shells)(nil)
)

// Options controls Apply.
type Options struct {
	// DryRun changes nothing: only guards (unless, creates) and probes of
	// the files to put run, and the report says what would run. Guards
	// must therefore be read-only, which the recipe format asks of them.
	DryRun bool
	// Force runs cgroup-driver steps even on a host that has joined a
	// cluster.
	Force bool
	// SudoPassword is given to sudo (sudo -S) when the host asks for one.
	SudoPassword []byte
	// Timeout is the default per-step timeout (0 = none); a step's own
	// timeout wins.
	Timeout time.Duration
	// Log, when set, is told when each step starts and receives its output.
	Log StepLog
	// Host is the host's label, for .Host in templates.
	Host string
	// PersistTriggers keeps, on the host, the when_changed steps owed by a
	// run that stopped before them, so that the next run still runs them
	// (see pending.go). fleet provision turns it on.
	PersistTriggers bool
	// Diff computes, for every put step that would change (dry run) or
	// changed a file's content, a unified diff of the file, with secret
	// values masked (StepResult.Diff; see fileDiff).
	Diff bool
}

// StepLog receives a host's step headers and output: Step(name) is called
// before the step's commands run, then the step's stdout and stderr go to
// Stdout() and Stderr().
type StepLog interface {
	Step(name string)
	Stdout() io.Writer
	Stderr() io.Writer
}

// defaultRetryDelay is the wait between tries of a step with retries.
const defaultRetryDelay = 5 * time.Second

// defaultMode is the mode of a put file that does not say.
const defaultMode os.FileMode = 0o644

// Apply runs the steps of the platform chosen for facts on t, in order:
// before, the platform's steps, steps. For each step it checks (guards,
// checksum), applies what is needed, and records what happened. The first
// failed step stops the host: Apply returns the report so far and an error
// wrapping the step's, so that errors.As(err, **fleet.ExitError) and
// errors.Is(err, fleet.ErrTimeout) still answer. A host no platform
// matches gets a report without steps and an *UnsupportedError.
func Apply(ctx context.Context, t Target, r *Recipe, facts *Facts, o Options) (*Report, error) {
	if facts == nil {
		facts = &Facts{}
	}
	rep := &Report{Facts: facts}
	p, err := r.Select(facts)
	if err != nil {
		rep.unsupported = true
		return rep, err
	}
	rep.Platform = p.Name
	a := &applier{
		t: t, r: r, facts: facts, o: o,
		data:    newSlots(r, facts, p.Name, o.Host),
		changed: map[string]bool{},
	}
	steps := make([]*Step, 0, len(r.Before)+len(p.Steps)+len(r.Steps))
	for _, list := range [][]Step{r.Before, p.Steps, r.Steps} {
		for i := range list {
			steps = append(steps, &list[i])
		}
	}
	if err := a.loadPending(ctx, steps); err != nil {
		return rep, err
	}
	for _, s := range steps {
		start := time.Now()
		res := a.step(ctx, s)
		res.Name, res.Duration = s.Name, time.Since(start)
		if res.Status != Failed && len(s.WhenChanged) > 0 {
			if err := a.clearPending(ctx, s); err != nil {
				res = failed(res, err, "")
			}
		}
		if res.Status == Changed {
			if err := a.markPending(ctx, s.Name, steps); err != nil {
				res = failed(res, err, "")
			}
		}
		res = a.scrub(res)
		rep.Steps = append(rep.Steps, res)
		switch res.Status {
		case Failed:
			return rep, fmt.Errorf("step %q: %w", s.Name, res.Err)
		case Changed, WouldRun:
			a.changed[s.Name] = true
		}
	}
	return rep, nil
}

// applier is one Apply: one recipe on one host.
type applier struct {
	t       Target
	r       *Recipe
	facts   *Facts
	o       Options
	data    *tmplData[slot] // what templates see
	changed map[string]bool // steps that changed (or would) in this run
	pending map[string]bool // when_changed steps owed from this or an earlier run
	stdout  io.Writer       // the current step's output
	stderr  io.Writer
}

// step checks and applies one step.
func (a *applier) step(ctx context.Context, s *Step) StepResult {
	a.stdout, a.stderr = io.Discard, io.Discard
	if a.o.Log != nil {
		a.o.Log.Step(s.Name)
		a.stdout, a.stderr = cmp.Or(a.o.Log.Stdout(), io.Discard), cmp.Or(a.o.Log.Stderr(), io.Discard)
		if secrets := a.secretValues(); len(secrets) > 0 {
			// A command that prints a secret must not put it in the log.
			out, errw := newSecretFilter(a.stdout, secrets), newSecretFilter(a.stderr, secrets)
			defer out.flush()
			defer errw.flush()
			a.stdout, a.stderr = out, errw
		}
	}
	res := StepResult{put: s.Put != ""}
	if err := ctx.Err(); err != nil {
		return failed(res, fleet.Classify(ctx, err), "")
	}
	if s.When != "" {
		ok, err := cond(s.When, a.data)
		switch {
		case err != nil:
			return failed(res, fmt.Errorf("when: %w", err), "")
		case !ok:
			res.Status, res.Reason = Skipped, "when: "+s.When+" is false"
			return res
		}
	}
	if len(s.WhenChanged) > 0 && !a.pending[s.Name] && !slices.ContainsFunc(s.WhenChanged, func(n string) bool { return a.changed[n] }) {
		res.Status, res.Reason = Skipped, "no change in: "+strings.Join(s.WhenChanged, ", ")
		return res
	}
	if s.Fail != "" || s.Note != "" {
		return a.message(s, res)
	}
	if err := a.cgroupGuard(s); err != nil {
		return failed(res, err, "")
	}
	if timeout := cmp.Or(time.Duration(s.Timeout), a.o.Timeout); timeout > 0 {
		// The cause makes fleet.Classify report a timeout that says which
		// one passed, not a bare "deadline exceeded".
		cause := &fleet.Error{Kind: fleet.ErrTimeout, Reason: fmt.Sprintf("the step's timeout (%s) passed", timeout)}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, cause)
		defer cancel()
	}
	sudo := a.r.runsAsRoot(s)
	skip, reason, err := a.guards(ctx, s, sudo)
	switch {
	case err != nil:
		return failed(res, err, "")
	case skip:
		res.Status, res.Reason = Skipped, reason
		return res
	case s.Put != "":
		return a.put(ctx, s, sudo, res)
	}
	return a.run(ctx, s, sudo, res)
}

// cgroupGuard refuses to change the cgroup driver on a host that has
// joined a cluster, unless every source that says which driver the node
// uses (the running dockerd, daemon.json, containerd's CRI config, the
// kubelet's config and flags, whatever their service's state) already says
// the step's: the kubelet there was set up for the driver it has, and its
// pods break when the runtime's changes under it.
func (a *applier) cgroupGuard(s *Step) error {
	f := a.facts
	if s.CgroupDriver == "" || a.o.Force || !f.Joined {
		return nil
	}
	conflicts := driverConflicts(f, s.CgroupDriver)
	if f.CgroupDrivers == nil && f.CgroupDriver != "" && f.CgroupDriver != s.CgroupDriver {
		// Facts made by hand, without the sources: the running runtime's.
		conflicts = []string{"the container runtime uses " + f.CgroupDriver}
	}
	if len(conflicts) == 0 {
		return nil
	}
	return fmt.Errorf("the host has joined a cluster and changing its cgroup driver to %s would break its pods: %s; "+
		"drain and remove the node first (kubectl drain NODE; kubeadm reset), then run again, or use --force",
		s.CgroupDriver, strings.Join(conflicts, ", "))
}

// guards runs the step's unless and creates: whether the work is already
// done, and why. They run in a dry run too, which is why they must only
// look.
func (a *applier) guards(ctx context.Context, s *Step, sudo bool) (skip bool, reason string, err error) {
	if s.Unless != "" {
		cmd, err := renderShell(s.Unless, a.data, a.valueName)
		if err != nil {
			return false, "", fmt.Errorf("unless: %w", err)
		}
		ok, err := a.test(ctx, cmd, sudo)
		if err != nil || ok {
			return ok, "unless: " + cmd.display + " succeeded", wrapIf("unless", err)
		}
	}
	if s.Creates != "" {
		p, err := a.renderPlain("creates", s.Creates)
		if err != nil {
			return false, "", err
		}
		ok, err := a.test(ctx, &shellCmd{line: "test -e " + fleet.Quote(p)}, sudo)
		if err != nil || ok {
			return ok, "creates: " + p + " exists", wrapIf("creates", err)
		}
	}
	return false, "", nil
}

// test runs a guard: true on exit 0, false on another exit status, an
// error when it could not tell (connection lost, sudo refused, timeout).
func (a *applier) test(ctx context.Context, cmd *shellCmd, sudo bool) (bool, error) {
	err := a.t.Exec(ctx, &fleet.Command{Line: cmd.line, Vars: cmd.env, Sudo: sudo, SudoPassword: a.o.SudoPassword})
	if err == nil {
		return true, nil
	}
	err = fleet.Classify(ctx, err)
	var ee *fleet.ExitError
	if errors.As(err, &ee) {
		return false, nil
	}
	return false, err
}

// run runs a run step, trying again after a non-zero exit while it has
// retries left. A timeout or a lost connection is not retried: the first
// would likely recur, the second leaves nothing to run on.
func (a *applier) run(ctx context.Context, s *Step, sudo bool, res StepResult) StepResult {
	cmd, err := renderShell(s.Run, a.data, a.valueName)
	if err != nil {
		return failed(res, fmt.Errorf("run: %w", err), "")
	}
	if a.o.DryRun {
		res.Status = WouldRun
		return res
	}
	tries, delay := 1+s.Retries, cmp.Or(time.Duration(s.RetryDelay), defaultRetryDelay)
	for try := 1; ; try++ {
		tail, out := &tailWriter{}, &tailWriter{}
		err := a.t.Exec(ctx, &fleet.Command{Line: cmd.line, Vars: cmd.env, Sudo: sudo, SudoPassword: a.o.SudoPassword,
			Stdout: io.MultiWriter(a.stdout, out), Stderr: io.MultiWriter(a.stderr, tail)})
		if err == nil {
			changed, err := a.changedWhen(s, string(out.buf))
			if err != nil {
				return failed(res, err, "")
			}
			res.Status = Changed
			if !changed {
				res.Status, res.Reason = Unchanged, "changed_when: "+s.ChangedWhen
			}
			return res
		}
		err = fleet.Classify(ctx, err)
		var ee *fleet.ExitError
		if errors.As(err, &ee) {
			ee.Stderr = tail.kept() // Classify made this one: ours to fill in
		}
		if ee == nil || try >= tries {
			return failed(res, err, tail.lastLine())
		}
		fmt.Fprintf(a.stderr, "fleet: %s; retry %d/%d in %s\n", err, try+1, tries, delay)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return failed(res, fleet.Classify(ctx, ctx.Err()), "")
		}
	}
}

// put writes a file step's file, or in a dry run compares it with what the
// host has.
func (a *applier) put(ctx context.Context, s *Step, sudo bool, res StepResult) StepResult {
	dst, err := a.renderPlain("put", s.Put)
	if err != nil {
		return failed(res, err, "")
	}
	if !path.IsAbs(dst) {
		return failed(res, fmt.Errorf("put: %q is not an absolute path", dst), "")
	}
	spec, ok := a.r.Files[s.File]
	if !ok {
		return failed(res, fmt.Errorf("no file %q in the recipe's files", s.File), "")
	}
	content, secret, err := renderRaw(spec.Content, a.data)
	if err != nil {
		return failed(res, fmt.Errorf("file %q: %w", s.File, err), "")
	}
	mode := defaultMode
	if s.Mode != "" {
		m, err := parseMode(s.Mode)
		if err != nil {
			return failed(res, err, "")
		}
		mode = os.FileMode(m)
	}
	var owner, group string
	if s.Owner != "" {
		o, err := a.renderPlain("owner", s.Owner)
		if err == nil {
			owner, group, err = parseOwner(o)
			err = wrapIf("owner", err)
		}
		if err != nil {
			return failed(res, err, "")
		}
	}
	src := fleet.BytesFile(s.File, []byte(content), mode)
	var diff string
	if a.o.DryRun || a.o.Diff {
		cur, err := a.t.Probe(ctx, dst, sudo, a.o.SudoPassword)
		if err != nil {
			return failed(res, fleet.Classify(ctx, err), "")
		}
		if cur.Dir {
			return failed(res, fmt.Errorf("%s is a folder", dst), "")
		}
		if a.o.Diff && (!cur.Exists || cur.SHA256 != src.SHA256) {
			// Read before the put replaces it: the diff of a real run is
			// of the file as it was.
			if diff, err = a.fileDiff(ctx, dst, sudo, cur, spec.Content, content); err != nil {
				return failed(res, err, "")
			}
		}
		if a.o.DryRun {
			res.Status, res.Reason = WouldRun, drift(cur, src, owner, group)
			if res.Reason == "" {
				res.Status = Unchanged
			}
			res.Diff = diff
			return res
		}
	}
	// A step's file replaces a symbolic link at its destination, as
	// Ansible's copy and template do (follow: no).
	changed, err := a.t.Put(ctx, src, dst, fleet.PutOptions{Mode: mode, Owner: owner, Group: group, Sudo: sudo, SudoPassword: a.o.SudoPassword,
		Private: secret, ReplaceLink: true})
	if err != nil {
		return failed(res, fleet.Classify(ctx, err), "")
	}
	res.Status = Unchanged
	if changed {
		res.Status, res.Diff = Changed, diff
	}
	return res
}

// message is a fail or note step: its message, rendered here, fails the
// host or is reported.
func (a *applier) message(s *Step, res StepResult) StepResult {
	key, text := "fail", s.Fail
	if s.Note != "" {
		key, text = "note", s.Note
	}
	msg, _, err := renderRaw(text, a.data)
	if err != nil {
		return failed(res, fmt.Errorf("%s: %w", key, err), "")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if s.Fail != "" {
		return failed(res, errors.New(msg), "")
	}
	res.Status, res.Reason, res.note = Unchanged, msg, true
	return res
}

// renderPlain renders a path or an owner: values as they are, and no
// secret, which would show in messages, plans and command lines.
func (a *applier) renderPlain(key, text string) (string, error) {
	out, secret, err := renderRaw(text, a.data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if secret {
		return "", fmt.Errorf("%s: a secret variable cannot be used in %s, which shows in plans and messages", key, key)
	}
	return out, nil
}

// scrub takes the values of secret variables out of a step's reason and
// error (a template's error can quote a value, a command's last line of
// stderr can print one), so that neither the report, the plan nor the
// record shows them.
func (a *applier) scrub(res StepResult) StepResult {
	secrets := a.secretValues()
	if len(secrets) == 0 {
		return res
	}
	rep := secretReplacer(secrets)
	res.Reason = rep.Replace(res.Reason)
	res.Diff = rep.Replace(res.Diff) // masked already; a second net costs nothing
	var ee *fleet.ExitError
	if errors.As(res.Err, &ee) {
		ee.Stderr = rep.Replace(ee.Stderr) // for the record: the log had it filtered
	}
	if res.Err != nil {
		if msg := res.Err.Error(); rep.Replace(msg) != msg {
			res.Err = &scrubbedError{msg: rep.Replace(msg), err: res.Err}
		}
	}
	return res
}

// secretValues are the values of the secret variables, longest first (so
// that a secret holding another is replaced whole).
func (a *applier) secretValues() []string {
	var out []string
	for _, k := range sortedKeys(a.r.Vars) {
		if a.r.IsSecret(k) {
			out = append(out, a.r.Vars[k])
		}
	}
	return longestFirst(out)
}

// scrubbedError is an error whose text had a secret taken out; errors.Is
// and errors.As still see the original.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// valueName names a value for a message: the variables that hold it, or
// a fact; a secret by its name only.
func (a *applier) valueName(value string, secret bool) string {
	var names []string
	for _, k := range sortedKeys(a.r.Vars) {
		if a.r.Vars[k] == value && a.r.IsSecret(k) == secret {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "the value of a fact or an expression"
	}
	return "the value of variable " + strings.Join(names, " or ")
}

// drift says how the remote file differs from what a put would write, or
// "" when it does not: the same comparison Conn.Put makes.
func drift(cur *fleet.RemoteFile, src *fleet.LocalFile, owner, group string) string {
	var d []string
	switch {
	case !cur.Exists:
		return "new file"
	case cur.SHA256 != src.SHA256:
		d = append(d, "content differs")
	}
	if cur.Mode != src.Mode {
		d = append(d, fmt.Sprintf("mode %04o, want %04o", cur.Mode, src.Mode))
	}
	if owner != "" && owner != cur.Owner || group != "" && group != cur.Group {
		d = append(d, fmt.Sprintf("owner %s:%s, want %s", cur.Owner, cur.Group, strings.TrimSuffix(owner+":"+group, ":")))
	}
	return strings.Join(d, ", ")
}

// failed records a failure; detail (the command's last line of stderr)
// goes into the reason, not into the error, which stays the classified one.
func failed(res StepResult, err error, detail string) StepResult {
	res.Status, res.Err, res.Reason = Failed, err, err.Error()
	if detail != "" {
		res.Reason += ": " + detail
	}
	return res
}

func wrapIf(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// tailWriter keeps the end of a command's stderr, for the failure reason
// and the record: at least its last fleet.StderrKeep bytes.
type tailWriter struct{ buf []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	// Trimmed at twice the size kept, so that a chatty command does not
	// pay a copy of the whole tail on every write.
	if len(t.buf) > 2*fleet.StderrKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-fleet.StderrKeep:]...)
	}
	return len(p), nil
}

// kept is what the step's error keeps of the stderr (see fleet.KeepStderr).
func (t *tailWriter) kept() string { return fleet.KeepStderr(t.buf) }

// lastLine is the last non-empty line written, trimmed to a sane length.
func (t *tailWriter) lastLine() string {
	s := strings.TrimRight(string(t.buf), " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
