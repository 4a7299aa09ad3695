package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// The seed's workflow on real clusters (issue 16): the cgroup guard on
// nodes that have joined, whatever state their daemons are in; hosts first
// built by hand with the seed's own commands; the README's walkthrough to
// a node kubeadm's preflight (the doubles' stand-in) accepts; and the
// conditions recipe authors use. Each subtest has a host of its own.

// The hosts of the seed fleet, by index in seedDistros.
const (
	sgDockerStopped = iota
	sgContainerdStopped
	sgDockerMasks
	sgKubeletDisagrees
	sdUbuntuSeed
	sdCentOSSeed
	swDebian
	swCentOS
	scConditions
)

var seedDistros = []string{
	harness.Debian12, harness.Debian12, harness.Debian12, harness.Debian12,
	harness.Ubuntu1604, harness.CentOS7,
	harness.Debian12, harness.CentOS7,
	harness.Ubuntu1604,
}

func TestProvisionSeed(t *testing.T) {
	parent(t)
	if err := harness.OverlayAvailable(); err != nil {
		t.Skipf("distro hosts are not possible here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var log bytes.Buffer
	f, err := harness.Start(ctx, harness.Options{Distros: seedDistros, Log: &log})
	if err != nil {
		t.Fatalf("starting the seed fleet: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("stopping the seed fleet: %v", err)
		}
	})
	for _, st := range []struct {
		name string
		run  func(*testing.T, *harness.Fleet, harness.Host)
		host int
	}{
		{"guard: docker stopped", testGuardDockerStopped, sgDockerStopped},
		{"guard: containerd stopped", testGuardContainerdStopped, sgContainerdStopped},
		{"guard: docker masks containerd", testGuardDockerMasksContainerd, sgDockerMasks},
		{"guard: kubelet config disagrees", testGuardKubeletDisagrees, sgKubeletDisagrees},
		{"seed-built ubuntu adopted", testSeedUbuntu, sdUbuntuSeed},
		{"seed-built centos 7 with docker 18.06", testSeedCentOS, sdCentOSSeed},
		{"conditions", testConditions, scConditions},
		{"walkthrough", func(t *testing.T, f *harness.Fleet, _ harness.Host) {
			testWalkthrough(t, f, f.Hosts[swDebian], f.Hosts[swCentOS])
		}, swDebian},
	} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			st.run(t, f, f.Hosts[st.host])
		})
	}
}

// A config.toml with the CRI plugin on and the cgroupfs driver: what
// `containerd config default` writes, cut to the part that matters.
const criCgroupfsToml = `version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
`

// joinedNode makes h a joined node with docker on dockerDriver, then
// writes the given files (path: content) and stops the given units.
func joinedNode(t *testing.T, f *harness.Fleet, h harness.Host, dockerDriver string, files map[string]string, stopped ...string) {
	t.Helper()
	if err := f.JoinCluster(h, dockerDriver); err != nil {
		t.Fatalf("%v", err)
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(h.Path(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, h.Path(p), content, 0o644)
	}
	for _, u := range stopped {
		if err := os.Remove(h.Path("/var/lib/fake-systemd/active/" + u)); err != nil {
			t.Fatal(err)
		}
	}
}

func kubeletConfig(driver string) string {
	return "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: " + driver + "\n"
}

// checkRefused runs the recipe on h, then its dry run, and checks both
// refuse at step (exit status 5) naming the disagreeing sources (each a
// regexp), that the files in keep stay as they were, and that nothing was
// restarted (and, for the docker recipe, whose first change is the
// guarded step, that no call changed anything).
func checkRefused(t *testing.T, f *harness.Fleet, h harness.Host, recipe, step string, keep []string, sources ...string) {
	t.Helper()
	u := newUser(t)
	old := map[string]string{}
	for _, p := range keep {
		b, _ := os.ReadFile(h.Path(p))
		old[p] = string(b)
	}
	before := len(calls(t, h))
	r := u.on(f, "provision", "-H", hostsArg(f, h), recipe)
	if r.status != 5 {
		t.Errorf("%s on the joined host: want exit status 5\n%s", recipe, r)
	}
	re := `^step "` + regexp.QuoteMeta(step) + `": .*joined a cluster`
	for _, s := range sources {
		checkStatus(t, statuses(t, r.stdout), f, h, false, re+`.*`+s+`.*kubeadm reset.*--force`, r)
	}
	for p, was := range old {
		if b, _ := os.ReadFile(h.Path(p)); string(b) != was {
			t.Errorf("the refused run changed %s:\nbefore %q\nafter  %q", p, was, b)
		}
	}
	got := callsSince(t, h, before)
	if step == "daemon.json" { // the docker recipe's first change: nothing before it
		checkReadOnly(t, "the refused run", h, got)
	}
	if hasCall(got, `^\[root\] (systemctl (restart|start)|containerd config|sed )`) {
		t.Errorf("the refused run restarted or rewrote something:\n%s", strings.Join(got, "\n"))
	}

	r = u.on(f, "provision", "-H", hostsArg(f, h), "--dry-run", recipe)
	if r.status != 5 || !regexp.MustCompile(`(?m)^fail +`+regexp.QuoteMeta(step)+` \(.*joined a cluster.*`+sources[0]).MatchString(r.stdout) {
		t.Errorf("dry run on the joined host: want exit status 5 and the plan failing at %s naming %s\n%s", step, sources[0], r)
	}
}

// testGuardDockerStopped: docker installed but stopped, its daemon.json
// saying cgroupfs: before, no daemon answered, the guard had no driver
// to compare and daemon.json was switched to systemd.
func testGuardDockerStopped(t *testing.T, f *harness.Fleet, h harness.Host) {
	joinedNode(t, f, h, "cgroupfs", map[string]string{
		"/etc/docker/daemon.json": `{"exec-opts": ["native.cgroupdriver=cgroupfs"]}` + "\n",
	}, "docker.service")
	checkRefused(t, f, h, "docker", "daemon.json", []string{"/etc/docker/daemon.json"},
		`/etc/docker/daemon\.json says cgroupfs`, `/var/lib/kubelet/config\.yaml says cgroupfs`)

	// --force goes on, and says so by changing daemon.json.
	u := newUser(t)
	r := u.on(f, "provision", "-H", hostsArg(f, h), "--force", "docker")
	if r.status != 0 {
		t.Errorf("--force: want exit status 0\n%s", r)
	}
	checkDaemonJSON(t, h)
}

// testGuardContainerdStopped: containerd stopped, its config.toml (CRI
// on) saying SystemdCgroup = false, docker stopped too: before, the guard
// saw no running runtime and the containerd recipe set SystemdCgroup.
func testGuardContainerdStopped(t *testing.T, f *harness.Fleet, h harness.Host) {
	joinedNode(t, f, h, "systemd", map[string]string{
		"/etc/docker/daemon.json":      `{"exec-opts": ["native.cgroupdriver=systemd"]}` + "\n",
		"/etc/containerd/config.toml":  criCgroupfsToml,
		"/var/lib/kubelet/config.yaml": kubeletConfig("cgroupfs"),
	}, "docker.service", "containerd.service")
	checkRefused(t, f, h, "containerd", "containerd config", []string{"/etc/containerd/config.toml"},
		`/etc/containerd/config\.toml says cgroupfs`)
}

// testGuardDockerMasksContainerd: docker runs on systemd while the kubelet
// uses containerd (its CRI on cgroupfs): before, only docker's driver was
// read, it matched, and the containerd recipe flipped containerd's.
func testGuardDockerMasksContainerd(t *testing.T, f *harness.Fleet, h harness.Host) {
	joinedNode(t, f, h, "systemd", map[string]string{
		"/etc/docker/daemon.json":      `{"exec-opts": ["native.cgroupdriver=systemd"]}` + "\n",
		"/etc/containerd/config.toml":  criCgroupfsToml,
		"/var/lib/kubelet/config.yaml": kubeletConfig("cgroupfs"),
	})
	checkRefused(t, f, h, "containerd", "containerd config", []string{"/etc/containerd/config.toml"},
		`/etc/containerd/config\.toml says cgroupfs`, `/var/lib/kubelet/config\.yaml says cgroupfs`)
}

// testGuardKubeletDisagrees: docker and daemon.json on systemd, the
// kubelet's own config on cgroupfs: before, the kubelet was never read.
func testGuardKubeletDisagrees(t *testing.T, f *harness.Fleet, h harness.Host) {
	joinedNode(t, f, h, "systemd", map[string]string{
		"/etc/docker/daemon.json":      `{"exec-opts": ["native.cgroupdriver=systemd"]}` + "\n",
		"/var/lib/kubelet/config.yaml": kubeletConfig("cgroupfs"),
	})
	checkRefused(t, f, h, "docker", "daemon.json", []string{"/etc/docker/daemon.json"},
		`/var/lib/kubelet/config\.yaml says cgroupfs`)
	if s := strings.TrimSpace(readFileOr(h.Path("/var/lib/kubelet/config.yaml"))); !strings.HasSuffix(s, "cgroupDriver: cgroupfs") {
		t.Errorf("the kubelet's config changed: %q", s)
	}
}

// readFileOr is the file's content, or "" when it cannot be read.
func readFileOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// readmeWalkthrough returns the command lines of the README's seed
// walkthrough: the first code block of its provisioning section.
func readmeWalkthrough(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Provisioning: the seed's workflow in one command\n")
	_, block, ok2 := strings.Cut(sec, "With fleet:\n\n```\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README: no code block after \"With fleet:\" in the provisioning section")
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		out = append(out, splitWords(t, line))
	}
	return out
}

// splitWords splits a command line as sh would, for the README's lines:
// blanks separate words, single quotes group.
func splitWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for _, c := range line {
		switch {
		case c == '\'':
			in, quoted = !in, true
		case c == ' ' && !in:
			if cur.Len() > 0 || quoted {
				words = append(words, cur.String())
			}
			cur.Reset()
			quoted = false
		default:
			cur.WriteRune(c)
		}
	}
	if in {
		t.Fatalf("README: unclosed quote in %q", line)
	}
	if cur.Len() > 0 || quoted {
		words = append(words, cur.String())
	}
	return words
}

// testWalkthrough: on Debian the seed's docker alone leaves a node the
// kubernetes recipe refuses (before changing anything, naming the command
// to run) and kubeadm's preflight fails; then the README's walkthrough,
// run as written on Debian and CentOS 7 hosts, ends with nodes whose
// preflight passes, and a second run changes nothing.
func testWalkthrough(t *testing.T, f *harness.Fleet, debian, centos harness.Host) {
	u := newUser(t)
	// Docker's repository as its current instructions set it up, deb822,
	// with a key of its own: adopted too (Enabled: no), apt stays clean.
	const docker822 = "Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\nSigned-By: /etc/apt/keyrings/docker.asc\n"
	writeFile(t, debian.Path("/etc/apt/sources.list.d/docker.sources"), docker822, 0o644)
	if r := u.on(f, "provision", "-H", hostsArg(f, debian), "docker"); r.status != 0 {
		t.Fatalf("docker: want exit status 0\n%s", r)
	}
	if got := readFileOr(debian.Path("/etc/apt/sources.list.d/docker.sources")); got != "Enabled: no\n"+docker822 {
		t.Errorf("docker.sources: want its stanza disabled, got:\n%s", got)
	}
	if r := u.on(f, "run", "-H", hostsArg(f, debian), "--sudo", "-i", "apt-get update"); r.status != 0 || strings.Contains(r.stdout+r.stderr, "E: ") || strings.Contains(r.stdout+r.stderr, "W: ") {
		t.Errorf("apt-get update after fleet: want it clean\n%s", r)
	}
	before := len(calls(t, debian))
	r := u.on(f, "provision", "-H", hostsArg(f, debian), "kubernetes")
	if r.status != 5 {
		t.Errorf("kubernetes after docker alone: want exit status 5\n%s", r)
	}
	checkStatus(t, statuses(t, r.stdout), f, debian, false, `^step "container runtime": no container runtime the kubelet can use: `+
		`containerd's /etc/containerd/config\.toml disables its CRI plugin .*Run `+"`"+`fleet provision docker --var k8s_node=true`+"`", r)
	checkReadOnly(t, "the refused kubernetes run", debian, callsSince(t, debian, before))
	if !strings.Contains(readFileOr(debian.Path("/etc/containerd/config.toml")), `disabled_plugins = ["cri"]`) {
		t.Errorf("the test double's containerd.io did not ship config.toml as Docker's package does")
	}

	hosts := []harness.Host{debian, centos}
	walk := readmeWalkthrough(t)
	for pass := 1; pass <= 2; pass++ {
		for _, words := range walk {
			if len(words) < 2 || words[0] != "fleet" {
				t.Fatalf("README walkthrough: %q is not a fleet command", words)
			}
			var args []string
			for i := 2; i < len(words); i++ {
				if words[i] == "-h" && i+1 < len(words) && words[i+1] == "kube" {
					args = append(args, "-H", hostsArg(f, hosts...))
					i++
					continue
				}
				args = append(args, words[i])
			}
			r := u.on(f, words[1], args...)
			if r.status != 0 {
				logs, _ := filepath.Glob(filepath.Join(u.stateDir, "runs", "latest", "hosts", "*"))
				var b strings.Builder
				for _, l := range logs {
					b.WriteString(l + ":\n" + readFileOr(l))
				}
				t.Fatalf("pass %d: %q: want exit status 0\n%s\nhost logs:\n%s", pass, strings.Join(words, " "), r, b.String())
			}
			if pass == 2 && words[1] == "provision" && strings.Count(r.stdout, ": 0 changed,") != len(hosts) {
				t.Errorf("pass 2: %q changed something\n%s", strings.Join(words, " "), r)
			}
		}
	}
	for _, h := range hosts {
		conf := readFileOr(h.Path("/etc/containerd/config.toml"))
		if strings.Contains(conf, `"cri"`) || !regexp.MustCompile(`(?m)^\s*SystemdCgroup = true$`).MatchString(conf) {
			t.Errorf("%s (%s): config.toml does not enable the CRI with SystemdCgroup:\n%s", h.Addr, h.Distro, conf)
		}
		if got := strings.TrimSpace(readFileOr(h.Path("/var/lib/fake-containerd/cri"))); got != "enabled" {
			t.Errorf("%s (%s): containerd runs with its CRI %q: not restarted after the change", h.Addr, h.Distro, got)
		}
	}
}

// The seed's daemon.json, for Ubuntu and for CentOS 7, as its heredocs
// write it.
const (
	seedDaemonJSON = `{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2"
}
`
	seedDaemonJSONEL7 = `{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2",
  "storage-opts": [
    "overlay2.override_kernel_check=true"
  ]
}
`
)

// seedRun runs the seed's commands on h the way its pssh lines do: as the
// login user, each through sudo; daemon.json goes to /tmp with fleet copy
// (pscp) and is moved into place with sudo mv.
func seedRun(t *testing.T, u *user, f *harness.Fleet, h harness.Host, daemonJSON string, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if c == "DAEMON.JSON" {
			src := writeFile(t, filepath.Join(t.TempDir(), "daemon.json"), daemonJSON, 0o644)
			if r := u.on(f, "copy", "-H", hostsArg(f, h), src, "/tmp/daemon.json"); r.status != 0 {
				t.Fatalf("the seed's pscp of daemon.json: want exit status 0\n%s", r)
			}
			c = "mv /tmp/daemon.json /etc/docker/daemon.json"
		}
		if r := u.on(f, "run", "-H", hostsArg(f, h), "--sudo", "-i", c); r.status != 0 {
			t.Fatalf("the seed's %q: want exit status 0\n%s", c, r)
		}
	}
}

// testSeedUbuntu: an Ubuntu 16.04 host first built with the seed's own
// commands (add-apt-repository's entry without signed-by, apt-key, docker
// 18.06 pinned, daemon.json left to the login user) is adopted by the
// docker recipe: one entry for Docker's repository, a clean apt-get
// update, daemon.json root's, docker neither upgraded nor restarted, and
// the version it found said. Before, fleet added a second, signed-by entry
// (which real apt refuses) and left daemon.json to its user.
func testSeedUbuntu(t *testing.T, f *harness.Fleet, h harness.Host) {
	u := newUser(t)
	seedRun(t, u, f, h, seedDaemonJSON,
		"apt-get update && apt-get install -y apt-transport-https ca-certificates curl software-properties-common",
		"curl -fsSL https://download.docker.com/linux/ubuntu/gpg | apt-key add -",
		`add-apt-repository "deb [arch=amd64] https://download.docker.com/linux/ubuntu $(lsb_release -cs) stable"`,
		"apt-get update && apt-get install -y docker-ce=18.06.2~ce~3-0~ubuntu",
		"DAEMON.JSON",
		"mkdir -p /etc/systemd/system/docker.service.d",
		"systemctl daemon-reload",
		"systemctl restart docker")
	if fi, err := os.Stat(h.Path("/etc/docker/daemon.json")); err != nil || statOwner(fi) == 0 {
		t.Fatalf("the seed's daemon.json should be the login user's: %v", err)
	}

	before := len(calls(t, h))
	r := u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	if r.status != 0 {
		t.Fatalf("docker on the seed-built host: want exit status 0\n%s", r)
	}
	checkStatus(t, statuses(t, r.stdout), f, h, true, `; docker 18\.06\.2 found; pass docker_version to change it$`, r)
	got := callsSince(t, h, before)
	if hasCall(got, `^\[root\] (apt-get (install|update)|systemctl restart docker)`) {
		t.Errorf("docker was reinstalled or restarted:\n%s", strings.Join(got, "\n"))
	}

	var entries []string
	for _, p := range append([]string{"/etc/apt/sources.list"}, globIn(t, h, "/etc/apt/sources.list.d/*")...) {
		for _, l := range strings.Split(readFileOr(h.Path(p)), "\n") {
			if strings.Contains(l, "download.docker.com") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				entries = append(entries, p+": "+l)
			}
		}
	}
	if len(entries) != 1 || !strings.Contains(entries[0], "signed-by=/etc/apt/keyrings/docker.gpg") {
		t.Errorf("want one (signed-by) entry for Docker's repository, got:\n%s", strings.Join(entries, "\n"))
	}
	if !strings.Contains(readFileOr(h.Path("/etc/apt/sources.list")), "# disabled by fleet (docker.list replaces it): deb [arch=amd64] https://download.docker.com/linux/ubuntu xenial stable") {
		t.Errorf("the seed's entry is not kept, commented out:\n%s", readFileOr(h.Path("/etc/apt/sources.list")))
	}
	r = u.on(f, "run", "-H", hostsArg(f, h), "--sudo", "-i", "apt-get update")
	if r.status != 0 || strings.Contains(r.stderr+r.stdout, "E: ") || strings.Contains(r.stderr+r.stdout, "W: ") {
		t.Errorf("apt-get update after fleet: want it clean\n%s", r)
	}
	fi, err := os.Stat(h.Path("/etc/docker/daemon.json"))
	if err != nil || statOwner(fi) != 0 || fi.Mode().Perm() != 0o644 || readFileOr(h.Path("/etc/docker/daemon.json")) != seedDaemonJSON {
		t.Errorf("daemon.json: want the seed's content, root's, 0644: %v %v", err, fi)
	}

	// And again: nothing to do.
	r = u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	if r.status != 0 || !strings.Contains(r.stdout, ": 0 changed,") {
		t.Errorf("second run: want exit status 0 and 0 changed\n%s", r)
	}
}

// testSeedCentOS: a CentOS 7 host built the seed's way with Docker
// 18.06.2 (daemon.json with overlay2.override_kernel_check) keeps its
// docker and daemon.json, unrestarted, and is told which version it has.
// Before, with no docker_version given, daemon.json lost its storage-opts
// (written for the latest Docker) and docker was restarted.
func testSeedCentOS(t *testing.T, f *harness.Fleet, h harness.Host) {
	u := newUser(t)
	seedRun(t, u, f, h, seedDaemonJSONEL7,
		"yum install -y yum-utils device-mapper-persistent-data lvm2",
		"yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo",
		"yum update -y && yum install -y docker-ce-18.06.2.ce",
		"mkdir -p /etc/docker", // the seed says mkdir; the docker-ce package of the doubles made it
		"DAEMON.JSON",
		"mkdir -p /etc/systemd/system/docker.service.d",
		"systemctl daemon-reload",
		"systemctl restart docker",
		"systemctl enable docker")
	before := len(calls(t, h))
	r := u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	if r.status != 0 {
		t.Fatalf("docker on the seed-built host: want exit status 0\n%s", r)
	}
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^changed centos 7 \(yum\): 1 changed, \d+ unchanged; docker 18\.06\.2 found; pass docker_version to change it$`, r)
	got := callsSince(t, h, before)
	if hasCall(got, `^\[root\] (yum (install|update|downgrade)|systemctl restart docker)`) {
		t.Errorf("docker was reinstalled or restarted:\n%s", strings.Join(got, "\n"))
	}
	if b := readFileOr(h.Path("/etc/docker/daemon.json")); b != seedDaemonJSONEL7 {
		t.Errorf("daemon.json changed:\n%s", b)
	}
	fi, err := os.Stat(h.Path("/etc/docker/daemon.json"))
	if err != nil || statOwner(fi) != 0 {
		t.Errorf("daemon.json is not root's: %v", err)
	}
}

func globIn(t *testing.T, h harness.Host, pattern string) []string {
	m, err := filepath.Glob(h.Path(pattern))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = strings.TrimPrefix(m[i], strings.TrimSuffix(h.Path("/"), "/"))
	}
	return m
}

func statOwner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// condRecipe uses what docs/recipes.md's Conditions section documents:
// when on vars and facts, fail and note, changed_when (literal and on the
// command's output), versions with ranges and exclude, and a template file
// that renders the same content.
const condRecipe = `name: conditions
description: the conditions of docs/recipes.md
vars:
  role: web
files:
  motd:
    content: "{{ .Facts.ID }} {{ .Facts.VersionID }} {{ .Vars.role }}\n"
before:
  - name: refuse db on xenial
    fail: role {{ .Vars.role }} is not for {{ .Facts.ID }} {{ .Facts.VersionID }}
    when: and (eq .Vars.role "db") (eq .Facts.VersionID "16.04")
platforms:
  - name: modern
    match:
      - {id: ubuntu, version: ">=18.04 <26.04"}
      - {id_like: debian}
      - {id: ubuntu, version: "<18.04", exclude: true}
    steps:
      - name: modern only
        run: touch /tmp/fleet-cond-modern
        creates: /tmp/fleet-cond-modern
  - name: legacy
    match:
      - {id_like: debian}
    steps:
      - name: legacy only
        run: touch /tmp/fleet-cond-legacy
        creates: /tmp/fleet-cond-legacy
steps:
  - name: web only
    run: touch /tmp/fleet-cond-web
    creates: /tmp/fleet-cond-web
    when: eq .Vars.role "web"
  - name: db only
    run: touch /tmp/fleet-cond-db
    when: eq .Vars.role "db"
  - name: motd
    put: /etc/motd
    file: motd
    mode: "0644"
  - name: reload
    run: systemctl daemon-reload
    changed_when: "false"
  - name: install figlet
    run: apt-get install -y figlet
    changed_when: contains .Stdout "Setting up"
  - name: say
    note: role {{ .Vars.role }} on {{ .Platform }}
`

// testConditions: on Ubuntu 16.04 the exclude rule sends the host to the
// legacy platform (without it, the earlier modern one would win through
// id_like); when skips the db step; a second run changes nothing (the
// motd renders the same, daemon-reload never counts, apt-get says it
// installed nothing); role=db is refused before anything runs, in a dry
// run too.
func testConditions(t *testing.T, f *harness.Fleet, h harness.Host) {
	u := newUser(t)
	recipe := writeFile(t, filepath.Join(t.TempDir(), "conditions.yaml"), condRecipe, 0o644)
	r := u.on(f, "provision", "-H", hostsArg(f, h), "--recipe", recipe)
	if r.status != 0 {
		t.Fatalf("conditions: want exit status 0\n%s", r)
	}
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^changed ubuntu 16\.04 \(legacy\): 4 changed, 4 unchanged; role web on legacy$`, r)
	for p, want := range map[string]bool{"/tmp/fleet-cond-legacy": true, "/tmp/fleet-cond-modern": false, "/tmp/fleet-cond-web": true, "/tmp/fleet-cond-db": false} {
		if exists(t, h.Path(p)) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
	if got := readFileOr(h.Path("/etc/motd")); got != "ubuntu 16.04 web\n" {
		t.Errorf("motd %q", got)
	}

	before := len(calls(t, h))
	r = u.on(f, "provision", "-H", hostsArg(f, h), "--recipe", recipe)
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^unchanged ubuntu 16\.04 \(legacy\): 0 changed, 8 unchanged; role web on legacy$`, r)
	if got := callsSince(t, h, before); !hasCall(got, `^\[root\] systemctl daemon-reload$`) || !hasCall(got, `^\[root\] apt-get install -y figlet$`) {
		t.Errorf("second run: the changed_when steps did not run:\n%s", strings.Join(got, "\n"))
	}

	for _, dry := range []bool{false, true} {
		args := []string{"-H", hostsArg(f, h), "--recipe", recipe, "--var", "role=db"}
		if dry {
			args = append(args, "--dry-run")
		}
		before := len(calls(t, h))
		r = u.on(f, "provision", args...)
		if r.status != 5 {
			t.Errorf("role=db (dry run %v): want exit status 5\n%s", dry, r)
		}
		if dry && !regexp.MustCompile(`(?m)^fail +refuse db on xenial \(role db is not for ubuntu 16\.04\)$`).MatchString(r.stdout) {
			t.Errorf("role=db dry run: want the plan to fail at the refusal\n%s", r)
		}
		if !dry {
			checkStatus(t, statuses(t, r.stdout), f, h, false, `^step "refuse db on xenial": role db is not for ubuntu 16\.04`, r)
		}
		if got := callsSince(t, h, before); hasCall(got, `^\[root\] (systemctl|apt-get)`) || exists(t, h.Path("/tmp/fleet-cond-db")) {
			t.Errorf("role=db (dry run %v) went past the refusal:\n%s", dry, strings.Join(got, "\n"))
		}
	}
}
