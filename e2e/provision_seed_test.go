package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
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
	f := startFleet(t, harness.Options{Distros: seedDistros})
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
	wantExit(t, r, 5, "%s on the joined host", recipe)
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
	wantExit(t, r, 0, "--force")
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
