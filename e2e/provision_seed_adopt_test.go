package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// TestProvisionSeed's adoption subtests: hosts first built with the seed's
// own commands, then given to fleet.
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
			mustExit(t, u.on(f, "copy", "-H", hostsArg(f, h), src, "/tmp/daemon.json"), 0, "the seed's pscp of daemon.json")
			c = "mv /tmp/daemon.json /etc/docker/daemon.json"
		}
		mustExit(t, u.on(f, "run", "-H", hostsArg(f, h), "--sudo", "-i", c), 0, "the seed's %q", c)
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
	if _, uid, _, _ := stat(t, h.Path("/etc/docker/daemon.json")); uid == 0 {
		t.Fatalf("the seed's daemon.json should be the login user's, not root's")
	}

	before := len(calls(t, h))
	r := u.on(f, "provision", "-H", hostsArg(f, h), "docker")
	mustExit(t, r, 0, "docker on the seed-built host")
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
	if mode, uid, _, _ := stat(t, h.Path("/etc/docker/daemon.json")); uid != 0 || mode != 0o644 || readFileOr(h.Path("/etc/docker/daemon.json")) != seedDaemonJSON {
		t.Errorf("daemon.json: want the seed's content, root's, 0644: uid %d mode %04o", uid, mode)
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
	mustExit(t, r, 0, "docker on the seed-built host")
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^changed centos 7 \(yum\): 1 changed, \d+ unchanged; docker 18\.06\.2 found; pass docker_version to change it$`, r)
	got := callsSince(t, h, before)
	if hasCall(got, `^\[root\] (yum (install|update|downgrade)|systemctl restart docker)`) {
		t.Errorf("docker was reinstalled or restarted:\n%s", strings.Join(got, "\n"))
	}
	if b := readFileOr(h.Path("/etc/docker/daemon.json")); b != seedDaemonJSONEL7 {
		t.Errorf("daemon.json changed:\n%s", b)
	}
	if _, uid, _, _ := stat(t, h.Path("/etc/docker/daemon.json")); uid != 0 {
		t.Errorf("daemon.json is uid %d's, not root's", uid)
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
