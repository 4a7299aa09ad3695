package recipes

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

const dockerish = `name: dockerish
vars: {pkg: docker-ce}
files:
  daemon.json:
    content: |
      {"exec-opts": ["native.cgroupdriver=systemd"], "platform": "{{.Platform}}"}
before:
  - name: update
    run: apt-get update
platforms:
  - name: apt
    match: [{id: ubuntu}]
    steps:
      - name: install
        run: apt-get install -y {{.Vars.pkg}}
        unless: dpkg -s {{.Vars.pkg}}
      - name: keyring
        run: fetch-key > /etc/apt/keyrings/docker.gpg
        creates: /etc/apt/keyrings/docker.gpg
  - name: dnf
    match: [{id: rocky}]
    steps:
      - name: install
        run: dnf install -y {{.Vars.pkg}}
steps:
  - name: daemon.json
    put: /etc/docker/daemon.json
    file: daemon.json
    cgroup_driver: systemd
  - name: restart
    run: systemctl restart docker
    when_changed: [install, daemon.json]
  - name: as user
    run: id
    sudo: false
`

var ubuntu = &Facts{ID: "ubuntu", VersionID: "24.04", IDLike: []string{"debian"}}

func mustParse(t *testing.T, src string) *Recipe {
	t.Helper()
	r, err := Parse(strings.NewReader(src), "t.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustApply applies r to t and fails the test on an error.
func mustApply(t *testing.T, target Target, r *Recipe, f *Facts, o Options) *Report {
	t.Helper()
	rep, err := Apply(context.Background(), target, r, f, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func statuses(rep *Report) string {
	var s []string
	for _, st := range rep.Steps {
		s = append(s, st.Name+"="+st.Status.String())
	}
	return strings.Join(s, " ")
}

func TestApplyOrderAndGuards(t *testing.T) {
	r := mustParse(t, dockerish)
	ft := newFake()
	ft.answers["dpkg -s docker-ce"] = exitStatus(1)                 // not installed: install runs
	ft.answers["test -e /etc/apt/keyrings/docker.gpg"] = error(nil) // the key is there: skipped
	log := &recLog{}
	rep := mustApply(t, ft, r, ubuntu, Options{Log: log, Host: "h1"})
	want := []string{
		"exec[sudo] apt-get update",
		"exec[sudo] dpkg -s docker-ce",
		"exec[sudo] apt-get install -y docker-ce",
		"exec[sudo] test -e /etc/apt/keyrings/docker.gpg",
		"put /etc/docker/daemon.json",
		"exec[sudo] systemctl restart docker",
		"exec id",
	}
	if got := ft.callList(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, want := statuses(rep), "update=changed install=changed keyring=skipped daemon.json=changed restart=changed as user=changed"; got != want {
		t.Errorf("statuses: %s\nwant      %s", got, want)
	}
	if rep.Steps[2].Reason != "creates: /etc/apt/keyrings/docker.gpg exists" {
		t.Errorf("keyring reason = %q", rep.Steps[2].Reason)
	}
	if want := []string{"update", "install", "keyring", "daemon.json", "restart", "as user"}; !reflect.DeepEqual(log.steps, want) {
		t.Errorf("log headers = %q", log.steps)
	}
	if got := string(ft.files["/etc/docker/daemon.json"].data); got != "{\"exec-opts\": [\"native.cgroupdriver=systemd\"], \"platform\": \"apt\"}\n" {
		t.Errorf("daemon.json = %q", got)
	}
	if o := ft.puts[0]; o.Mode != 0o644 || !o.Sudo || o.Owner != "" {
		t.Errorf("put options = %+v", o)
	}
	if got := rep.Summary(); got != "ubuntu 24.04 (apt): 5 changed, 1 unchanged" {
		t.Errorf("summary = %q", got)
	}

	// The second run: everything is in place.
	ft.calls = nil
	ft.answers["dpkg -s docker-ce"] = error(nil)
	rep = mustApply(t, ft, r, ubuntu, Options{})
	if got, want := statuses(rep), "update=changed install=skipped keyring=skipped daemon.json=unchanged restart=skipped as user=changed"; got != want {
		t.Errorf("second run: %s\nwant        %s", got, want)
	}
	if got := rep.Steps[1].Reason; got != "unless: dpkg -s docker-ce succeeded" {
		t.Errorf("install reason = %q", got)
	}
	if got := rep.Steps[4].Reason; got != "no change in: install, daemon.json" {
		t.Errorf("restart reason = %q", got)
	}
	if ft.count("exec[sudo] systemctl") != 0 || ft.count("exec[sudo] apt-get install") != 0 {
		t.Errorf("second run ran %q", ft.callList())
	}
}

// TestApplyPlatformSteps: a rocky host gets the dnf steps, and its step
// named like the apt one feeds when_changed the same way.
func TestApplyPlatformSteps(t *testing.T) {
	r := mustParse(t, dockerish)
	ft := newFake()
	rep := mustApply(t, ft, r, &Facts{ID: "rocky", VersionID: "9.3"}, Options{})
	if rep.Platform != "dnf" || ft.count("exec[sudo] dnf install -y docker-ce") != 1 || ft.count("exec[sudo] dpkg") != 0 {
		t.Errorf("platform %s, calls %q", rep.Platform, ft.callList())
	}
}

func TestApplyPutDrift(t *testing.T) {
	src := `name: p
files:
  f: {content: "hello {{.Vars.who}}\n"}
vars: {who: world}
steps:
  - name: f
    put: /etc/f
    file: f
    mode: "0600"
    owner: root:adm
`
	r := mustParse(t, src)
	ft := newFake()
	run := func() StepStatus {
		t.Helper()
		return mustApply(t, ft, r, ubuntu, Options{}).Steps[0].Status
	}
	if s := run(); s != Changed {
		t.Errorf("first put: %s", s)
	}
	if o := ft.puts[0]; o.Mode != 0o600 || o.Owner != "root" || o.Group != "adm" || !o.Sudo {
		t.Errorf("put options = %+v", o)
	}
	if s := run(); s != Unchanged {
		t.Errorf("second put: %s", s)
	}
	ft.files["/etc/f"].mode = 0o644 // someone chmodded it
	if s := run(); s != Changed {
		t.Errorf("after a mode drift: %s", s)
	}
	ft.files["/etc/f"].data = []byte("edited by hand\n")
	if s := run(); s != Changed || string(ft.files["/etc/f"].data) != "hello world\n" {
		t.Errorf("after a content drift: %s, %q", s, ft.files["/etc/f"].data)
	}
	if err := r.SetVars(map[string]string{"who": "fleet"}); err != nil {
		t.Fatal(err)
	}
	if s := run(); s != Changed || string(ft.files["/etc/f"].data) != "hello fleet\n" {
		t.Errorf("after --var: %s, %q", s, ft.files["/etc/f"].data)
	}
}

// applyFailedInstall applies dockerish to a fake ubuntu host without
// docker-ce, whose install prints stderr and exits with 100.
func applyFailedInstall(t *testing.T, stderr string) (*fakeTarget, *Report, error) {
	t.Helper()
	ft := newFake()
	ft.answers["dpkg -s docker-ce"] = exitStatus(1)
	ft.answers["apt-get install -y docker-ce"] = func(_ context.Context, cmd *fleet.Command) error {
		_, _ = io.WriteString(cmd.Stderr, stderr)
		return exitStatus(100)
	}
	rep, err := Apply(context.Background(), ft, mustParse(t, dockerish), ubuntu, Options{})
	return ft, rep, err
}

func TestApplyFirstFailureStops(t *testing.T) {
	ft, rep, err := applyFailedInstall(t, "Reading package lists...\nE: Unable to locate package docker-ce\n")
	if err == nil {
		t.Fatal("no error")
	}
	var ee *fleet.ExitError
	if !errors.As(err, &ee) || ee.Status != 100 {
		t.Errorf("errors.As(*fleet.ExitError) failed on %v", err)
	}
	if fleet.OutcomeOf(fleet.Classify(context.Background(), err)) != fleet.Failed {
		t.Errorf("outcome of %v is not Failed", err)
	}
	if got := err.Error(); got != `step "install": exited with error code 100` {
		t.Errorf("error = %q", got)
	}
	if got := statuses(rep); got != "update=changed install=failed" {
		t.Errorf("statuses = %s", got)
	}
	if ft.count("put") != 0 || ft.count("exec[sudo] test -e") != 0 || ft.count("exec id") != 0 {
		t.Errorf("steps after the failure ran: %q", ft.callList())
	}
	want := `ubuntu 24.04 (apt): 1 changed, 0 unchanged; failed at "install": exited with error code 100: E: Unable to locate package docker-ce`
	if got := rep.Summary(); got != want {
		t.Errorf("summary:\n%s\nwant\n%s", got, want)
	}
}

// TestApplyGuardConnectionError: a guard that could not run (not one that
// said no) fails the step rather than running it.
func TestApplyGuardConnectionError(t *testing.T) {
	r := mustParse(t, dockerish)
	ft := newFake()
	ft.answers["dpkg -s docker-ce"] = &fleet.Error{Kind: fleet.ErrUnreachable, Reason: "connection lost"}
	_, err := Apply(context.Background(), ft, r, ubuntu, Options{})
	if !errors.Is(err, fleet.ErrUnreachable) || ft.count("exec[sudo] apt-get install") != 0 {
		t.Errorf("err = %v, calls %q", err, ft.callList())
	}
}

func TestApplyRetries(t *testing.T) {
	src := `name: r
steps:
  - name: fetch
    run: curl -fsS https://example.com/key
    retries: 2
    retry_delay: 1ms
`
	r := mustParse(t, src)
	for _, tt := range []struct {
		name     string
		failures int   // how many tries fail before one succeeds
		err      error // what a failing try returns
		tries    int
		ok       bool
	}{
		{"succeeds on the third try", 2, exitStatus(7), 3, true},
		{"gives up after three", 5, exitStatus(7), 3, false},
		{"no retry after a lost connection", 5, &fleet.Error{Kind: fleet.ErrUnreachable, Reason: "connection lost"}, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFake()
			var n atomic.Int32
			ft.answers["curl -fsS https://example.com/key"] = func(context.Context, *fleet.Command) error {
				if int(n.Add(1)) <= tt.failures {
					return tt.err
				}
				return nil
			}
			log := &recLog{}
			rep, err := Apply(context.Background(), ft, r, ubuntu, Options{Log: log})
			if got := int(n.Load()); got != tt.tries {
				t.Errorf("%d tries, want %d", got, tt.tries)
			}
			if (err == nil) != tt.ok {
				t.Errorf("err = %v", err)
			}
			if logged := log.errText.String(); tt.tries == 3 && (!strings.Contains(logged, "retry 2/3") || !strings.Contains(logged, "retry 3/3")) {
				t.Errorf("log: %q", log.errText.String())
			}
			if tt.ok && rep.Steps[0].Status != Changed {
				t.Errorf("status = %s", rep.Steps[0].Status)
			}
		})
	}
}

func TestApplyTimeout(t *testing.T) {
	src := `name: slow
steps:
  - name: hang
    run: sleep 1000
    timeout: 20ms
  - name: after
    run: echo after
`
	r := mustParse(t, src)
	ft := newFake()
	ft.answers["sleep 1000"] = func(ctx context.Context, _ *fleet.Command) error {
		<-ctx.Done() // as Conn.Exec does: kill the command, return the context's error
		return ctx.Err()
	}
	start := time.Now()
	rep, err := Apply(context.Background(), ft, r, ubuntu, Options{Timeout: time.Hour})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	if !errors.Is(fleet.Classify(context.Background(), err), fleet.ErrTimeout) {
		t.Fatalf("fleet.Classify(%v) is not a timeout", err)
	}
	if fleet.OutcomeOf(err) != fleet.TimedOut {
		t.Errorf("outcome = %v", fleet.OutcomeOf(err))
	}
	if !strings.Contains(err.Error(), "timeout (20ms)") || rep.Steps[0].Status != Failed || len(rep.Steps) != 1 {
		t.Errorf("err = %v, steps %s", err, statuses(rep))
	}

	// Options.Timeout applies to a step without its own.
	r = mustParse(t, "name: slow\nsteps:\n  - name: hang\n    run: sleep 1000\n")
	_, err = Apply(context.Background(), ft, r, ubuntu, Options{Timeout: 20 * time.Millisecond})
	if !errors.Is(err, fleet.ErrTimeout) {
		t.Errorf("with Options.Timeout: %v", err)
	}

	// The run being cancelled is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = Apply(ctx, ft, r, ubuntu, Options{})
	if !errors.Is(err, fleet.ErrCancelled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestApplyQuoting: a hostile value reaches the shell as one literal word
// in run and unless, raw in file content, and whole in creates and put.
func TestApplyQuoting(t *testing.T) {
	const hostile = `a b'; rm -rf / #`
	src := `name: q
vars: {v: x, dir: /tmp}
files:
  f: {content: "value={{.Vars.v}}\n"}
steps:
  - name: echo
    run: printf '%s\n' {{.Vars.v}}
    unless: test {{.Vars.v}} = {{if eq .Vars.dir "/opt/my dir"}}{{.Vars.v}}{{else}}no{{end}}
    creates: "{{.Vars.dir}}/marker"
  - name: file
    put: "{{.Vars.dir}}/f.conf"
    file: f
`
	r := mustParse(t, src)
	if err := r.SetVars(map[string]string{"v": hostile, "dir": "/opt/my dir"}); err != nil {
		t.Fatal(err)
	}
	ft := newFake()
	ft.answers["test -e '/opt/my dir/marker'"] = exitStatus(1)
	q := fleet.Quote(hostile)
	ft.answers["test "+q+" = "+q] = exitStatus(1) // eq saw the raw value; the guard says not done
	mustApply(t, ft, r, ubuntu, Options{})
	want := []string{
		"exec[sudo] test " + q + " = " + q,
		"exec[sudo] test -e '/opt/my dir/marker'",
		"exec[sudo] printf '%s\\n' " + q,
		"put /opt/my dir/f.conf",
	}
	calls := ft.callList()
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if got := string(ft.files["/opt/my dir/f.conf"].data); got != "value="+hostile+"\n" {
		t.Errorf("content = %q", got)
	}
	// And a real shell agrees that it is one word.
	line := strings.TrimPrefix(calls[2], "exec[sudo] ")
	out, err := exec.Command("/bin/sh", "-c", line).Output()
	if err != nil || string(out) != hostile+"\n" {
		t.Errorf("sh -c %s printed %q, %v", line, out, err)
	}
}

func TestApplyDryRun(t *testing.T) {
	r := mustParse(t, dockerish)
	plan := func(host string, installed bool, daemon string) (*Report, *fakeTarget) {
		ft := newFake()
		if !installed {
			ft.answers["dpkg -s docker-ce"] = exitStatus(1)
		}
		ft.answers["test -e /etc/apt/keyrings/docker.gpg"] = exitStatus(1)
		if daemon != "" {
			ft.files["/etc/docker/daemon.json"] = &fakeFile{data: []byte(daemon), mode: 0o644, owner: "root", group: "root"}
		}
		rep := mustApply(t, ft, r, ubuntu, Options{DryRun: true, Host: host})
		for _, c := range ft.callList() {
			if c != "exec[sudo] dpkg -s docker-ce" && c != "exec[sudo] test -e /etc/apt/keyrings/docker.gpg" && c != "probe /etc/docker/daemon.json" {
				t.Errorf("a dry run did %q", c)
			}
		}
		return rep, ft
	}
	const good = "{\"exec-opts\": [\"native.cgroupdriver=systemd\"], \"platform\": \"apt\"}\n"
	a, _ := plan("h1", false, "")
	time.Sleep(2 * time.Millisecond) // different timings must not matter
	b, _ := plan("h2", false, "")
	if a.Plan() != b.Plan() {
		t.Errorf("plans differ:\n%s\n%s", a.Plan(), b.Plan())
	}
	want := `would run   update
would run   install
would run   keyring
would write daemon.json (new file)
would run   restart
would run   as user
`
	if a.Plan() != want {
		t.Errorf("plan:\n%s\nwant:\n%s", a.Plan(), want)
	}
	if got := a.Summary(); got != "ubuntu 24.04 (apt): 6 would run, 0 unchanged" {
		t.Errorf("summary = %q", got)
	}

	c, _ := plan("h3", true, good)
	want = `would run   update
skip        install (unless: dpkg -s docker-ce succeeded)
would run   keyring
ok          daemon.json (unchanged)
skip        restart (no change in: install, daemon.json)
would run   as user
`
	if c.Plan() != want {
		t.Errorf("plan:\n%s\nwant:\n%s", c.Plan(), want)
	}
	d, _ := plan("h4", true, "{}\n")
	if got := d.Plan(); !strings.Contains(got, "would write daemon.json (content differs)\nwould run   restart\n") {
		t.Errorf("plan with a drifted daemon.json:\n%s", got)
	}
}

func TestApplyCgroupGuard(t *testing.T) {
	r := mustParse(t, dockerish)
	joined := func(driver string) *Facts {
		f := *ubuntu
		f.Joined, f.CgroupDriver = true, driver
		return &f
	}
	ft := newFake()
	rep, err := Apply(context.Background(), ft, r, joined("cgroupfs"), Options{})
	if err == nil || !strings.Contains(err.Error(), "joined a cluster") || !strings.Contains(err.Error(), "cgroupfs") ||
		!strings.Contains(err.Error(), "kubectl drain") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	if ft.count("put") != 0 || rep.Steps[len(rep.Steps)-1].Name != "daemon.json" {
		t.Errorf("the guarded step ran: %q", ft.callList())
	}
	for _, tt := range []struct {
		name  string
		facts *Facts
		o     Options
	}{
		{"forced", joined("cgroupfs"), Options{Force: true}},
		{"already systemd", joined("systemd"), Options{}},
		{"no runtime yet", joined(""), Options{}},
		{"not joined", ubuntu, Options{}},
	} {
		ft := newFake()
		if _, err := Apply(context.Background(), ft, r, tt.facts, tt.o); err != nil || ft.count("put /etc/docker/daemon.json") != 1 {
			t.Errorf("%s: %v, %q", tt.name, err, ft.callList())
		}
	}
	// A dry run shows the refusal in the plan.
	rep, err = Apply(context.Background(), newFake(), r, joined("cgroupfs"), Options{DryRun: true})
	if err == nil || !strings.Contains(rep.Plan(), "fail        daemon.json (the host has joined a cluster") {
		t.Errorf("dry run: %v\n%s", err, rep.Plan())
	}
}

func TestApplyUnsupported(t *testing.T) {
	r := mustParse(t, dockerish)
	ft := newFake()
	rep, err := Apply(context.Background(), ft, r, &Facts{ID: "alpine", VersionID: "3.19"}, Options{})
	var ue *UnsupportedError
	if !errors.As(err, &ue) || rep == nil || len(rep.Steps) != 0 || len(ft.callList()) != 0 {
		t.Errorf("err = %v, report %+v, calls %q", err, rep, ft.callList())
	}
	if got := rep.Summary(); got != "alpine 3.19: not supported by this recipe" {
		t.Errorf("summary = %q", got)
	}
}

// TestApplyLog: headers come in order, each before its step's output.
func TestApplyLog(t *testing.T) {
	r := mustParse(t, "name: l\nsteps:\n  - name: one\n    run: echo 1\n  - name: two\n    run: echo 2\n")
	ft := newFake()
	log := &recLog{}
	for _, n := range []string{"1", "2"} {
		ft.answers["echo "+n] = func(_ context.Context, cmd *fleet.Command) error {
			log.mu.Lock()
			seen := len(log.steps)
			log.mu.Unlock()
			_, _ = cmd.Stdout.Write([]byte(n + " after " + string(rune('0'+seen)) + " headers\n"))
			return nil
		}
	}
	mustApply(t, ft, r, ubuntu, Options{Log: log})
	if !reflect.DeepEqual(log.steps, []string{"one", "two"}) || log.out.String() != "1 after 1 headers\n2 after 2 headers\n" {
		t.Errorf("headers %q, output %q", log.steps, log.out.String())
	}
}

func TestStepStatusString(t *testing.T) {
	want := map[StepStatus]string{Changed: "changed", Unchanged: "unchanged", Skipped: "skipped", Failed: "failed", WouldRun: "would-run"}
	for s, w := range want {
		if s.String() != w {
			t.Errorf("%d: %s, want %s", s, s, w)
		}
	}
}
