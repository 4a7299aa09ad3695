package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// testProvisionDocker runs, in order, on the four supported hosts of the
// provision fleet (and its Alpine host): docker, then again, then
// kubernetes and containerd, then a rollout that stops at the first failure.
func testProvisionDocker(t *testing.T, f *harness.Fleet) {
	four := []harness.Host{f.Hosts[pUbuntu], f.Hosts[pDebian], f.Hosts[pCentOS], f.Hosts[pRocky]}
	alpine := f.Hosts[pAlpine]
	// The first run's user keeps its state folder for "run record".
	firstRun := newUser(t)

	first := t.Run("first run", func(t *testing.T) {
		u := firstRun
		u.t = t
		r := u.on(f, "provision", "-H", hostsArg(f, four...), "docker")
		wantExit(t, r, 0)
		st := statuses(t, r.stdout)
		drivers := dockerDrivers(t, newUser(t), f, four...) // another user: runs/latest stays this run
		for _, h := range four {
			checkStatus(t, st, f, h, true, `^changed `+regexp.QuoteMeta(platformOf[h.Distro])+`: \d+ changed, \d+ unchanged$`, r)
			got := calls(t, h)
			pm := map[string]string{"apt": "apt-get", "yum": "yum", "dnf": "dnf"}[platformName(h)]
			if !hasCall(got, `^\[root\] `+pm+` (.* )?install -y (.* )?docker-ce\b`) {
				t.Errorf("%s (%s): no `%s install -y ... docker-ce` call:\n%s", h.Addr, h.Distro, pm, strings.Join(got, "\n"))
			}
			for _, c := range got {
				if slices.Contains(foreignTools[platformName(h)], tool(c)) {
					t.Errorf("%s (%s) is a %s host but fleet called %q", h.Addr, h.Distro, platformName(h), c)
				}
			}
			checkDaemonJSON(t, h)
			if d := drivers[label(f.Users.NoPass, h)]; d != "systemd" {
				t.Errorf("%s (%s): docker's cgroup driver is %q, want systemd", h.Addr, h.Distro, d)
			}
		}
	})

	t.Run("run record", func(t *testing.T) {
		firstRun.t = t
		rec := firstRun.latestRun()
		dir := filepath.Join(firstRun.stateDir, "runs", "latest")
		if rec.Status == nil || *rec.Status != 0 || len(rec.Hosts) != len(four) {
			t.Errorf("run.json: status %v with %d hosts, want 0 with %d", rec.Status, len(rec.Hosts), len(four))
		}
		for i, h := range four {
			if i >= len(rec.Hosts) {
				break
			}
			hr := rec.Hosts[i]
			steps := dockerSteps[platformName(h)]
			if hr.Label != label(f.Users.NoPass, h) || hr.Outcome != "ok" {
				t.Errorf("run.json host %d: %s %s, want %s ok", i, hr.Label, hr.Outcome, label(f.Users.NoPass, h))
			}
			m := regexp.MustCompile(`^` + regexp.QuoteMeta(platformOf[h.Distro]) + `: (\d+) changed, (\d+) unchanged$`).FindStringSubmatch(hr.Detail)
			if m == nil {
				t.Errorf("run.json: detail of %s is %q, want %q and the counts", hr.Label, hr.Detail, platformOf[h.Distro])
			} else if c, _ := strconv.Atoi(m[1]); c == 0 || c+atoi(m[2]) != len(steps) {
				t.Errorf("run.json: detail of %s is %q: want some changed, and changed+unchanged = the %d steps", hr.Label, hr.Detail, len(steps))
			}
			log := readString(t, filepath.Join(dir, hr.Log))
			if got := stepHeaders(log); !slices.Equal(got, steps) {
				t.Errorf("log of %s (%s): step headers\n  %q\nwant\n  %q\n%s", hr.Label, h.Distro, got, steps, log)
			}
		}
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		if !first {
			t.Skip("the first run failed")
		}
		u := newUser(t)
		before := callCounts(t, four...)
		r := u.on(f, "provision", "-H", hostsArg(f, four...), "docker")
		wantExit(t, r, 0)
		st := statuses(t, r.stdout)
		for i, h := range four {
			// Docker is there now: the summary says which version.
			checkStatus(t, st, f, h, true, `^unchanged `+regexp.QuoteMeta(platformOf[h.Distro])+`: 0 changed, \d+ unchanged; docker \d+\.\d+\.\d+ found; pass docker_version to change it$`, r)
			checkReadOnly(t, "the second run", h, callsSince(t, h, before[i]))
		}

		before = callCounts(t, four...)
		r = u.on(f, "provision", "-H", hostsArg(f, four...), "--dry-run", "docker")
		if r.status != 0 || strings.Contains(r.stdout, "would run") || strings.Contains(r.stdout, "would write") {
			t.Errorf("dry run after the second: want exit status 0 and nothing that would run\n%s", r)
		}
		for i, h := range four {
			checkReadOnly(t, "the dry run", h, callsSince(t, h, before[i]))
		}
		checkPlans(t, r, four)
	})

	t.Run("flags after the recipe", func(t *testing.T) {
		// fleet provision --help shows
		//   fleet provision -h kube docker --var docker_version=18.06.2 --var http_proxy=...
		u := newUser(t)
		h := four[0]
		before := len(calls(t, h))
		r := u.on(f, "provision", "-H", hostsArg(f, h), "docker", "--var", "http_proxy=http://proxy.example:3128/", "--dry-run")
		if r.status != 0 || !regexp.MustCompile(`(?m)^would write proxy drop-in\b`).MatchString(r.stdout) {
			t.Errorf("options after RECIPE: want exit status 0 and a plan that would write the proxy drop-in\n%s", r)
		}
		checkReadOnly(t, "a dry run with --dry-run after RECIPE", h, callsSince(t, h, before))
	})

	t.Run("alpine unsupported", func(t *testing.T) {
		u := newUser(t)
		hosts := append([]harness.Host{alpine}, four...)
		r := u.on(f, "provision", "-H", hostsArg(f, hosts...), "docker")
		wantExit(t, r, 5)
		st := statuses(t, r.stdout)
		checkStatus(t, st, f, alpine, false, `^unsupported: alpine 3\.19(\.\d+)? \(this recipe supports: ubuntu >=16\.04, debian >=10, .*centos 7.*rocky >=8.*\)$`, r)
		for _, h := range four {
			checkStatus(t, st, f, h, true, regexp.QuoteMeta(platformOf[h.Distro])+`: 0 changed`, r)
		}
		if c := calls(t, alpine); len(c) > 0 || exists(t, alpine.Path("/etc/docker")) {
			t.Errorf("the unsupported alpine host was touched: /etc/docker exists = %v, calls:\n%s",
				exists(t, alpine.Path("/etc/docker")), strings.Join(c, "\n"))
		}
	})

	t.Run("kubernetes and containerd", func(t *testing.T) {
		u := newUser(t)
		// containerd first: the kubernetes recipe wants a CRI endpoint.
		for _, recipe := range []string{"containerd", "kubernetes"} {
			before := callCounts(t, four...)
			for run := 1; run <= 2; run++ {
				r := u.on(f, "provision", "-H", hostsArg(f, four...), recipe)
				wantExit(t, r, 0, "%s, run %d", recipe, run)
				st := statuses(t, r.stdout)
				for _, h := range four {
					want := `^changed ` + regexp.QuoteMeta(platformOf[h.Distro]) + `: [1-9]\d* changed`
					if run == 2 {
						want = `^unchanged ` + regexp.QuoteMeta(platformOf[h.Distro]) + `: 0 changed, \d+ unchanged$`
					}
					checkStatus(t, st, f, h, true, want, r)
				}
			}
			for i, h := range four {
				got := callsSince(t, h, before[i])
				if recipe == "kubernetes" {
					checkKubernetes(t, h, got)
				} else {
					checkContainerd(t, h, got)
				}
			}
		}
		r := u.on(f, "run", "-H", hostsArg(f, four...), "-i", "systemctl is-enabled kubelet containerd")
		blocks := inlineBlocks(r.stdout)
		for _, h := range four {
			if got := blocks[label(f.Users.NoPass, h)]; got != "enabled\nenabled\n" {
				t.Errorf("%s (%s): systemctl is-enabled kubelet containerd said %q, want both enabled\n%s", h.Addr, h.Distro, got, r)
			}
		}
	})

	t.Run("batch stops at max-fail", func(t *testing.T) {
		u := newUser(t)
		hosts := append([]harness.Host{alpine}, four...)
		before := callCounts(t, four...)
		r := u.on(f, "provision", "-H", hostsArg(f, hosts...), "--batch", "1", "--max-fail", "1", "docker")
		wantExit(t, r, 5, "the one host that ran failed a step, none timed out")
		st := statuses(t, r.stdout)
		checkStatus(t, st, f, alpine, false, `^unsupported: alpine`, r)
		for i, h := range four {
			checkStatus(t, st, f, h, false, `^not started$`, r)
			if got := callsSince(t, h, before[i]); len(got) > 0 {
				t.Errorf("%s (%s) was not to be started, but saw calls:\n%s", h.Addr, h.Distro, strings.Join(got, "\n"))
			}
		}
		for _, hr := range u.latestRun().Hosts {
			want := "not-started"
			if hr.Label == label(f.Users.NoPass, alpine) {
				want = "failed"
			}
			if hr.Outcome != want {
				t.Errorf("run.json: %s is %q, want %q", hr.Label, hr.Outcome, want)
			}
		}
	})

	t.Run("max-fail lets the hosts in flight finish", func(t *testing.T) {
		// A window of five: alpine fails at once (unsupported) while the
		// four others are in the middle of a slow step. --max-fail 1 must
		// stop starting hosts (the four listed again never start), not cut
		// the running steps off: an install killed halfway leaves dpkg or
		// rpm locked.
		u := newUser(t)
		const marker = "/var/tmp/fleet-maxfail-done"
		for _, h := range four {
			os.Remove(h.Path(marker))
		}
		recipe := writeFile(t, filepath.Join(t.TempDir(), "slow.yaml"), `name: slow
description: one slow step
platforms:
  - name: any
    match: [{id: ubuntu}, {id: debian}, {id: centos}, {id: rocky}]
    steps:
      - name: slow
        run: sleep 4; touch `+marker+`
        unless: test -e `+marker+`
`, 0o644)
		hosts := append(append([]harness.Host{alpine}, four...), four...)
		r := u.on(f, "provision", "-H", hostsArg(f, hosts...), "--batch", "5", "--max-fail", "1", "--recipe", recipe)
		wantExit(t, r, 5, "one host failed and none was cut off")
		st := statuses(t, r.stdout)
		checkStatus(t, st, f, alpine, false, `^unsupported: alpine`, r)
		for _, h := range four {
			checkStatus(t, st, f, h, true, `1 changed`, r)
			if !exists(t, h.Path(marker)) {
				t.Errorf("%s (%s): the step in flight did not finish (%s missing)", h.Addr, h.Distro, marker)
			}
		}
		if count, want := u.latestRun().outcomeCounts(), map[string]int{"failed": 1, "ok": 4, "not-started": 4}; !maps.Equal(count, want) {
			t.Errorf("run.json outcomes %v, want %v\n%s", count, want, r)
		}
	})
}

// foreignTools are, by platform, the tools of the other package families.
var foreignTools = map[string][]string{
	"apt": {"yum", "dnf", "rpm", "yum-config-manager"},
	"yum": {"apt-get", "apt", "dpkg", "apt-mark", "dnf"},
	"dnf": {"apt-get", "apt", "dpkg", "apt-mark", "yum", "yum-config-manager"},
}

// checkPlans checks a dry run's plans: one header per group of hosts with
// the same plan, naming their system, then one line per step.
func checkPlans(t *testing.T, r result, hosts []harness.Host) {
	t.Helper()
	var heads []string
	inPlan := false
	step := regexp.MustCompile(`^(would run|would write|ok|skip|fail|changed) +\S`)
	for _, line := range lines(r.stdout) {
		if rest, ok := strings.CutPrefix(line, "== plan for "); ok {
			inPlan = true
			if _, head, ok := strings.Cut(rest, ": "); ok {
				heads = append(heads, head)
			}
			continue
		}
		if inPlan && !step.MatchString(line) {
			t.Errorf("dry run: plan line %q is not `WORD STEP (REASON)`\n%s", line, r)
		}
	}
	for _, h := range hosts {
		found := false
		for _, head := range heads {
			found = found || strings.HasPrefix(head, platformOf[h.Distro]+":")
		}
		if !found {
			t.Errorf("dry run: no plan header names %q (host %s), the headers are %q: the plan of that host is shown under another system's name\n%s",
				platformOf[h.Distro], h.Addr, heads, r)
		}
	}
}

func checkKubernetes(t *testing.T, h harness.Host, got []string) {
	t.Helper()
	if platformName(h) == "apt" {
		b, err := os.ReadFile(h.Path("/etc/apt/sources.list.d/kubernetes.list"))
		if err != nil || !regexp.MustCompile(`(?m)^deb \[signed-by=/etc/apt/keyrings/kubernetes-apt-keyring\.gpg\] https://pkgs\.k8s\.io/core:/stable:/v1\.31/deb/ /$`).Match(b) {
			t.Errorf("%s (%s): kubernetes.list: %v\n%s", h.Addr, h.Distro, err, b)
		}
		if !exists(t, h.Path("/etc/apt/keyrings/kubernetes-apt-keyring.gpg")) {
			t.Errorf("%s (%s): no /etc/apt/keyrings/kubernetes-apt-keyring.gpg", h.Addr, h.Distro)
		}
		if !hasCall(got, `^\[root\] apt-mark hold kubelet kubeadm kubectl$`) {
			t.Errorf("%s (%s): kubelet, kubeadm, kubectl not held:\n%s", h.Addr, h.Distro, strings.Join(got, "\n"))
		}
	} else {
		b, err := os.ReadFile(h.Path("/etc/yum.repos.d/kubernetes.repo"))
		if err != nil || !strings.Contains(string(b), "baseurl=https://pkgs.k8s.io/core:/stable:/v1.31/rpm/\n") ||
			!strings.Contains(string(b), "\nexclude=kubelet kubeadm kubectl") {
			t.Errorf("%s (%s): kubernetes.repo: %v\n%s", h.Addr, h.Distro, err, b)
		}
		if !hasCall(got, `^\[root\] `+platformName(h)+` install -y --disableexcludes=kubernetes kubelet kubeadm kubectl$`) {
			t.Errorf("%s (%s): no %s install of kubelet kubeadm kubectl:\n%s", h.Addr, h.Distro, platformName(h), strings.Join(got, "\n"))
		}
	}
}

func checkContainerd(t *testing.T, h harness.Host, got []string) {
	t.Helper()
	b, err := os.ReadFile(h.Path("/etc/containerd/config.toml"))
	if err != nil || !regexp.MustCompile(`(?m)^\s*SystemdCgroup = true$`).Match(b) ||
		regexp.MustCompile(`(?m)^\s*SystemdCgroup = false$`).Match(b) {
		t.Errorf("%s (%s): /etc/containerd/config.toml does not set SystemdCgroup = true: %v", h.Addr, h.Distro, err)
	}
	if !hasCall(got, `^\[root\] systemctl restart containerd$`) {
		t.Errorf("%s (%s): containerd was not restarted with its new config:\n%s", h.Addr, h.Distro, strings.Join(got, "\n"))
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// testClusterGuard: on a host that has joined a cluster with docker on the
// cgroupfs driver, the docker recipe stops before daemon.json and says what
// to do; --force goes on.
func testClusterGuard(t *testing.T, f *harness.Fleet, h harness.Host) {
	if err := f.JoinCluster(h, "cgroupfs"); err != nil {
		t.Fatalf("%v", err)
	}
	u := newUser(t)
	dj := h.Path("/etc/docker/daemon.json")
	old, oldErr := os.ReadFile(dj)
	before := len(calls(t, h))

	r := u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	wantExit(t, r, 5, "joined host")
	checkStatus(t, statuses(t, r.stdout), f, h, false,
		`"daemon\.json".*joined a cluster.*cgroupfs.*drain.*(remove the node|kubeadm reset).*--force`, r)
	now, nowErr := os.ReadFile(dj)
	if string(now) != string(old) || (oldErr == nil) != (nowErr == nil) || strings.Contains(string(now), "native.cgroupdriver=systemd") {
		t.Errorf("the refused run changed daemon.json: before %q (%v), after %q (%v)", old, oldErr, now, nowErr)
	}
	got := callsSince(t, h, before)
	checkReadOnly(t, "the refused run", h, got)
	if d := dockerDrivers(t, u, f, h)[label(f.Users.NoPass, h)]; d != "cgroupfs" {
		t.Errorf("after the refused run docker's driver is %q, want cgroupfs still", d)
	}

	r = u.on(f, "provision", "-H", hostsArg(f, h), "--dry-run", "docker")
	if r.status != 5 || !regexp.MustCompile(`(?m)^fail +daemon\.json \(.*joined a cluster`).MatchString(r.stdout) {
		t.Errorf("dry run on the joined host: want exit status 5 and the plan failing at daemon.json\n%s", r)
	}

	before = len(calls(t, h))
	r = u.on(f, "provision", "-H", hostsArg(f, h), "--force", "docker")
	wantExit(t, r, 0, "--force")
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^changed debian 12 \(apt\): `, r)
	checkDaemonJSON(t, h)
	if got := callsSince(t, h, before); !hasCall(got, `^\[root\] systemctl restart docker$`) {
		t.Errorf("--force: docker not restarted with the new daemon.json:\n%s", strings.Join(got, "\n"))
	}
	if d := dockerDrivers(t, u, f, h)[label(f.Users.NoPass, h)]; d != "systemd" {
		t.Errorf("after --force docker's driver is %q, want systemd", d)
	}
}

// testProvisionVars: --var pins docker's version and sets a proxy, on fresh
// hosts; an undeclared variable is a usage error.
func testProvisionVars(t *testing.T, f *harness.Fleet, ubuntu, rocky harness.Host) {
	u := newUser(t)
	hosts := []harness.Host{ubuntu, rocky}
	const proxy = "http://proxy.example:3128/"

	r := u.on(f, "provision", "-H", hostsArg(f, hosts...), "--var", "dockr_version=20.10.24", "docker")
	if r.status != 2 || !strings.Contains(r.stderr, `"dockr_version"`) ||
		!strings.Contains(r.stderr, "docker_version, http_proxy, k8s_node, no_proxy") {
		t.Errorf("unknown --var: want exit status 2 naming it and the declared variables\n%s", r)
	}
	for _, h := range hosts {
		if c := calls(t, h); len(c) > 0 {
			t.Errorf("the usage error touched %s (%s):\n%s", h.Addr, h.Distro, strings.Join(c, "\n"))
		}
	}

	r = u.on(f, "provision", "-H", hostsArg(f, hosts...), "--var", "docker_version=20.10.24", "--var", "http_proxy="+proxy, "docker")
	wantExit(t, r, 0)
	st := statuses(t, r.stdout)
	q := regexp.QuoteMeta(proxy)
	for _, h := range hosts {
		checkStatus(t, st, f, h, true, `^changed `+regexp.QuoteMeta(platformOf[h.Distro])+`: `, r)
		got := calls(t, h)
		install := `^\[root\] apt-get -o Acquire::http::Proxy=` + q + ` -o Acquire::https::Proxy=` + q +
			` install -y --allow-downgrades docker-ce=5:20\.10\.24~\* docker-ce-cli=5:20\.10\.24~\* containerd\.io$`
		if platformName(h) == "dnf" {
			install = `^\[root\] dnf --setopt=proxy=` + q + ` install -y docker-ce-20\.10\.24 docker-ce-cli-20\.10\.24 containerd\.io$`
		}
		if !hasCall(got, install) {
			t.Errorf("%s (%s): no install call matching %s:\n%s", h.Addr, h.Distro, install, strings.Join(got, "\n"))
		}
		for _, c := range got {
			if tool(c) == "curl" && !strings.Contains(c, " -x "+proxy+" ") {
				t.Errorf("%s (%s): curl without the proxy: %q", h.Addr, h.Distro, c)
			}
		}
		if s := st[label(f.Users.NoPass, h)]; !s.ok {
			t.Logf("%s (%s) failed; its calls:\n%s", h.Addr, h.Distro, strings.Join(got, "\n"))
			continue // the run stopped before the drop-in
		}
		b, err := os.ReadFile(h.Path("/etc/systemd/system/docker.service.d/http-proxy.conf"))
		if err != nil || !strings.Contains(string(b), `"HTTP_PROXY=`+proxy+`"`) || !strings.Contains(string(b), `"HTTPS_PROXY=`+proxy+`"`) {
			t.Errorf("%s (%s): http-proxy.conf: %v\n%s", h.Addr, h.Distro, err, b)
		}
	}
	if t.Failed() {
		return // a second run would wait out the failed step's retries again
	}
	r = u.on(f, "run", "-H", hostsArg(f, hosts...), "--sudo", "-i", `docker version --format "{{.Server.Version}}"`)
	for _, h := range hosts {
		if got := inlineBlocks(r.stdout)[label(f.Users.NoPass, h)]; got != "20.10.24\n" {
			t.Errorf("%s (%s): docker version %q, want 20.10.24\n%s", h.Addr, h.Distro, got, r)
		}
	}
	r = u.on(f, "provision", "-H", hostsArg(f, hosts...), "--var", "docker_version=20.10.24", "--var", "http_proxy="+proxy, "docker")
	if r.status != 0 || strings.Count(r.stdout, ": 0 changed,") != len(hosts) {
		t.Errorf("the same --var again: want exit status 0 and 0 changed on every host\n%s", r)
	}
}

// testRerunResumes: a run that changed daemon.json and installed docker,
// then failed to restart it, leaves the restart owed; the next run, which
// changes nothing, still restarts docker.
func testRerunResumes(t *testing.T, f *harness.Fleet, h harness.Host) {
	u := newUser(t)
	// The admin has masked docker: systemctl refuses to restart it. (The
	// systemctl double keeps masks as files; `systemctl mask` wants the unit
	// to exist, and docker is not installed yet.)
	masked := h.Path("/var/lib/fake-systemd/masked/docker.service")
	if err := os.MkdirAll(filepath.Dir(masked), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, masked, "", 0o644)

	r := u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	wantExit(t, r, 5, "restart refused")
	checkStatus(t, statuses(t, r.stdout), f, h, false, `failed at "restart docker": .*masked`, r)
	got := calls(t, h)
	if !hasCall(got, `^\[root\] yum install -y docker-ce\b`) || hasCall(got, `^\[root\] systemctl enable docker`) {
		t.Errorf("first run: want docker installed and the run stopped before enable docker:\n%s", strings.Join(got, "\n"))
	}

	mustExit(t, u.on(f, "run", "-H", hostsArg(f, h), "--sudo", "systemctl unmask docker"), 0, "unmask")
	before := len(calls(t, h))
	r = u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	wantExit(t, r, 0, "rerun")
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^changed centos 7 \(yum\): 2 changed, 14 unchanged; docker 26\.1\.4 found; pass docker_version to change it$`, r)
	got = callsSince(t, h, before)
	if !hasCall(got, `^\[root\] systemctl restart docker$`) || !hasCall(got, `^\[root\] systemctl enable docker$`) ||
		hasCall(got, `^\[root\] yum install`) {
		t.Errorf("rerun: want the owed restart and the enable, and no install:\n%s", strings.Join(got, "\n"))
	}
	if d := dockerDrivers(t, u, f, h)[label(f.Users.NoPass, h)]; d != "systemd" {
		t.Errorf("after the rerun docker's driver is %q, want systemd", d)
	}

	before = len(calls(t, h))
	r = u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	if r.status != 0 || !strings.Contains(r.stdout, "centos 7 (yum): 0 changed") {
		t.Errorf("third run: want exit status 0 and 0 changed\n%s", r)
	}
	checkReadOnly(t, "the third run", h, callsSince(t, h, before))
}
