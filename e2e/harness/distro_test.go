package harness

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestDistroHosts is not parallel: it checks that the machine is the same
// after as before, which Start of another test's fleet could change.
func TestDistroHosts(t *testing.T) {
	f, stop := startFleet(t, Options{Distros: []string{Ubuntu1604, Debian12, CentOS7, Rocky8, Alpine319}})
	// The machine as it is once the fleet is up: Start itself rewrites
	// /etc/shadow (chpasswd) and the users' homes, and nothing a host does
	// may change anything else.
	before := machineState(t)

	ubuntu, debian, centos, rocky, alpine := f.Hosts[0], f.Hosts[1], f.Hosts[2], f.Hosts[3], f.Hosts[4]
	np := f.Users.NoPass
	ssh := func(h Host, script string) (string, error) { return sshRun(t, f.SSHConfig, h, np, script) }
	mustSSH := func(t *testing.T, h Host, script string) string {
		t.Helper()
		out, err := ssh(h, script)
		if err != nil {
			t.Fatalf("%s (%s): %s: %v\n%s", h.Addr, h.Distro, script, err, out)
		}
		return out
	}

	t.Run("identity", func(t *testing.T) {
		want := map[string][2]string{ // ID, VERSION_ID
			Ubuntu1604: {"ubuntu", "16.04"}, Debian12: {"debian", "12"}, CentOS7: {"centos", "7"},
			Rocky8: {"rocky", "8.10"}, Alpine319: {"alpine", "3.19.1"},
		}
		var wg sync.WaitGroup
		for _, h := range f.Hosts {
			wg.Go(func() {
				out, err := ssh(h, `. /etc/os-release; echo "$ID $VERSION_ID"; for c in yum dnf rpm apt-get apt-mark dpkg systemctl docker kubectl; do command -v $c >/dev/null && echo has-$c; done; true`)
				if err != nil {
					t.Errorf("%s: %v", h.Distro, err)
					return
				}
				lines := strings.Fields(out)
				if len(lines) < 2 || lines[0] != want[h.Distro][0] || lines[1] != want[h.Distro][1] {
					t.Errorf("%s: os-release says %q", h.Distro, out)
				}
				has := func(c string) bool { return slices.Contains(lines, "has-"+c) }
				deb, rhel := h.Distro == Ubuntu1604 || h.Distro == Debian12, h.Distro == CentOS7 || h.Distro == Rocky8
				for c, want := range map[string]bool{
					"apt-get": deb, "apt-mark": deb, "dpkg": deb, "yum": rhel, "rpm": rhel,
					"dnf": h.Distro == Rocky8, "systemctl": deb || rhel,
					"docker": false, "kubectl": false, // until a package provides them
				} {
					if has(c) != want {
						t.Errorf("%s: command -v %s succeeded=%v, want %v", h.Distro, c, has(c), want)
					}
				}
				b, err := os.ReadFile(h.Path("/etc/os-release"))
				if err != nil || !strings.Contains(string(b), "ID="+want[h.Distro][0]) && !strings.Contains(string(b), `ID="`+want[h.Distro][0]) {
					t.Errorf("%s: Path(/etc/os-release) = %q, %v", h.Distro, b, err)
				}
			})
		}
		wg.Wait()
		if fi, err := os.Lstat(debian.Path("/etc/os-release")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("debian host's /etc/os-release should be a regular file (the machine's link replaced): %v %v", fi, err)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		marker := fmt.Sprintf("/etc/fleet-e2e-x-%d", f.Block)
		mustSSH(t, ubuntu, "echo host1 | sudo tee "+marker+" >/dev/null && echo user > /tmp/fleet-x && echo home > ~/fleet-x")
		if b, err := os.ReadFile(ubuntu.Path(marker)); err != nil || string(b) != "host1\n" {
			t.Errorf("ubuntu host's %s through Path: %q, %v", marker, b, err)
		}
		written := []string{marker, "/tmp/fleet-x", "/home/" + np + "/fleet-x"}
		for _, p := range written {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s written on a host is visible on the machine (err %v)", p, err)
			}
		}
		// Nor does host 2 see them, and the layers of the hosts are hidden
		// from the hosts themselves (one login for all: each costs time).
		script := "for p in " + strings.Join(written, " ") + `; do if test -e "$p"; then echo "$p written on host 1"; fi; done; sudo ls ` + filepath.Join(f.Dir, rootsDir)
		if out, err := ssh(debian, script); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("host 2 sees what it should not (host 1's files, the fleet's layers): %q, %v", out, err)
		}
	})

	// Each group works on hosts of its own, so they run at once (every
	// ssh login costs about half a second here).
	t.Run("groups", func(t *testing.T) {
		run, wait := concurrently(t)
		defer wait()
		run("apt docker cgroup driver", func(t *testing.T) {
			if out, err := ssh(ubuntu, "sudo apt-get install -y docker-ce"); err == nil {
				t.Errorf("docker-ce installed without docker's apt repository: %s", out)
			}
			if out, err := ssh(ubuntu, "sudo docker info --format '{{.CgroupDriver}}'"); err == nil {
				t.Errorf("docker runs before docker-ce is installed: %s", out)
			}
			// What a recipe for Ubuntu 16.04 does (apt 1.2: no keyrings dir,
			// https needs apt-transport-https).
			mustSSH(t, ubuntu, `set -e
sudo apt-get update -qq
sudo apt-get install -y apt-transport-https ca-certificates curl gnupg >/dev/null
sudo install -m 0755 -d /etc/apt/keyrings
curl -fsSL https://download.docker.com/linux/ubuntu/gpg | sudo gpg --dearmor -o /etc/apt/keyrings/docker.gpg
. /etc/os-release
echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu $VERSION_CODENAME stable" | sudo tee /etc/apt/sources.list.d/docker.list >/dev/null
sudo apt-get update -qq
sudo apt-get install -y docker-ce`)
			driver := func() string {
				t.Helper()
				return strings.TrimSpace(mustSSH(t, ubuntu, "sudo docker info --format '{{.CgroupDriver}}'"))
			}
			if got := driver(); got != "cgroupfs" {
				t.Errorf("docker info after install: %q, want cgroupfs", got)
			}
			mustSSH(t, ubuntu, `echo '{"exec-opts": ["native.cgroupdriver=systemd"]}' | sudo tee /etc/docker/daemon.json >/dev/null`)
			if got := driver(); got != "cgroupfs" {
				t.Errorf("docker info before the restart: %q, want cgroupfs (the running daemon's)", got)
			}
			mustSSH(t, ubuntu, "sudo systemctl restart docker")
			if got := driver(); got != "systemd" {
				t.Errorf("docker info after daemon.json and a restart: %q, want systemd", got)
			}
			out := mustSSH(t, ubuntu, "dpkg -s docker-ce | grep ^Status; systemctl is-enabled docker; sudo apt-get install -y docker-ce")
			if !strings.Contains(out, "Status: install ok installed") || !strings.Contains(out, "enabled") || !strings.Contains(out, "already the newest version") {
				t.Errorf("state after install: %q", out)
			}

			calls, err := ubuntu.Calls()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"[root] apt-get install -y docker-ce",
				"[root] gpg --dearmor -o /etc/apt/keyrings/docker.gpg",
				"[" + np + "] curl -fsSL https://download.docker.com/linux/ubuntu/gpg",
				"[root] systemctl restart docker",
				"[root] docker info --format {{.CgroupDriver}}",
				"[" + np + "] dpkg -s docker-ce",
			} {
				if !slices.Contains(calls, want) {
					t.Errorf("Calls() lacks %q:\n%s", want, strings.Join(calls, "\n"))
				}
			}
			if other, _ := centos.Calls(); slices.Contains(other, "[root] apt-get install -y docker-ce") {
				t.Errorf("the centos host recorded the ubuntu host's calls")
			}
		})

		run("yum dnf", func(t *testing.T) {
			if out, err := ssh(centos, "sudo yum install -y docker-ce"); err == nil || !strings.Contains(out, "No package docker-ce available") {
				t.Errorf("yum install docker-ce without its repo: err %v, out %q", err, out)
			}
			if out, err := ssh(centos, "sudo yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo"); err == nil {
				t.Errorf("yum-config-manager exists before yum-utils is installed: %s", out)
			}
			mustSSH(t, centos, `set -e
sudo yum install -y yum-utils >/dev/null
sudo yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo >/dev/null
sudo yum install -y docker-ce >/dev/null
rpm -q docker-ce`)
			mustSSH(t, rocky, `set -e
sudo dnf config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
sudo dnf install -y docker-ce >/dev/null
test -f /etc/yum.repos.d/docker-ce.repo`)
			if out, err := ssh(rocky, "systemctl is-active docker"); err == nil || strings.TrimSpace(out) != "inactive" {
				t.Errorf("an RPM started docker: %q, %v", out, err)
			}
			if out := mustSSH(t, rocky, "sudo systemctl enable --now docker && sudo docker info -f '{{.CgroupDriver}}'"); strings.TrimSpace(out) != "cgroupfs" {
				t.Errorf("rocky docker driver: %q", out)
			}
			// Kubernetes' repo excludes its packages unless asked.
			mustSSH(t, rocky, `sudo tee /etc/yum.repos.d/kubernetes.repo >/dev/null <<'EOF'
[kubernetes]
name=Kubernetes
baseurl=https://pkgs.k8s.io/core:/stable:/v1.28/rpm/
enabled=1
gpgcheck=1
gpgkey=https://pkgs.k8s.io/core:/stable:/v1.28/rpm/repodata/repomd.xml.key
exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni
EOF`)
			if out, err := ssh(rocky, "sudo dnf install -y kubelet"); err == nil {
				t.Errorf("dnf installed an excluded package: %s", out)
			}
			if out := mustSSH(t, rocky, "sudo dnf install -y --disableexcludes=kubernetes kubelet kubeadm >/dev/null && rpm -q kubelet && kubelet --version"); !strings.Contains(out, "kubelet-1.28.4-150500.1.1.x86_64") || !strings.Contains(out, "Kubernetes v1.28.4") {
				t.Errorf("kubelet from pkgs.k8s.io: %q", out)
			}
		})

		run("debian: kernel, swap, join cluster", func(t *testing.T) {
			out := mustSSH(t, debian, `set -e
sudo swapoff -a; swapon --show
sudo modprobe br_netfilter
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 1\n' | sudo tee /etc/sysctl.d/k8s.conf >/dev/null
sudo sysctl --system >/dev/null
sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables
lsmod | grep -c br_netfilter`)
			if strings.Fields(out)[0] != "1" || len(strings.Fields(out)) != 3 {
				t.Errorf("sysctl/lsmod inside the host: %q", out)
			}
			// The wrong distribution's repository does not work.
			if out, err := ssh(debian, `curl -fsSL https://download.docker.com/linux/ubuntu/gpg | sudo gpg --dearmor -o /etc/apt/keyrings/docker.gpg &&
echo "deb [signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu xenial stable" | sudo tee /etc/apt/sources.list.d/docker.list >/dev/null &&
sudo apt-get update`); err == nil {
				t.Errorf("apt-get update with Ubuntu's docker repository on Debian 12 succeeded: %s", out)
			}
			// Writing /proc/sys directly fails (it is read-only in every host);
			// the value written is the current one, so the machine is safe
			// even if it did not.
			if out, err := ssh(debian, "sudo sh -c 'cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness'"); err == nil {
				t.Errorf("a host could write /proc/sys: %s", out)
			}

			if err := f.JoinCluster(debian, "cgroupfs"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(debian.Path("/etc/kubernetes/kubelet.conf")); err != nil {
				t.Errorf("kubelet.conf: %v", err)
			}
			if _, err := os.Stat("/etc/kubernetes/kubelet.conf"); err == nil {
				t.Errorf("JoinCluster wrote the machine's /etc/kubernetes")
			}
			out = mustSSH(t, debian, "sudo docker info --format '{{.CgroupDriver}}'; dpkg -s kubelet docker-ce | grep -c 'install ok installed'; systemctl is-active kubelet")
			if f := strings.Fields(out); len(f) != 3 || f[0] != "cgroupfs" || f[1] != "2" || f[2] != "active" {
				t.Errorf("joined host: %q", out)
			}
			calls, _ := debian.Calls()
			for _, c := range calls {
				if strings.Contains(c, "fleet-join") {
					t.Errorf("JoinCluster recorded a call: %q", c)
				}
			}
			if err := f.JoinCluster(alpine, "bogus"); err == nil {
				t.Errorf("JoinCluster accepted driver bogus")
			}
		})
	})

	if up := f.Running(); len(up) != len(f.Hosts) {
		t.Errorf("Running() = %v, want all %d hosts", up, len(f.Hosts))
	}
	// Whatever the hosts wrote is in their upper layers and nowhere else:
	// the machine has no such file, or a different one.
	leaks := 0
	_ = filepath.WalkDir(filepath.Join(f.Dir, rootsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		// ROOTS/ADDR/TOP/upper/REST
		parts := strings.SplitN(strings.TrimPrefix(p, filepath.Join(f.Dir, rootsDir)+"/"), "/", 4)
		if len(parts) < 4 || parts[2] != "upper" {
			return nil
		}
		hostFile, err := os.ReadFile(p)
		if err != nil || len(hostFile) == 0 {
			return nil
		}
		machinePath := "/" + parts[1] + "/" + parts[3]
		if machinePath == "/etc/os-release" || machinePath == "/usr/lib/os-release" {
			return nil // the debian-12 host's is the machine's, as written by Start
		}
		if b, err := os.ReadFile(machinePath); err == nil && string(b) == string(hostFile) && leaks < 10 {
			leaks++
			t.Errorf("%s of host %s is also on the machine", machinePath, parts[0])
		}
		return nil
	})

	loaded, err := Load(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded.Hosts, f.Hosts) {
		t.Errorf("Load: hosts %+v, want %+v", loaded.Hosts, f.Hosts)
	}

	stopAndCheck(t, f, stop)
	after := machineState(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("the machine changed: %s: %q -> %q", k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("the machine changed: new %s (%q)", k, v)
		}
	}
}

// machineState fingerprints what no distro host may change: every file of
// /etc (but those the harness itself rewrites when any fleet starts),
// dpkg's database, the doubled tools on the machine, swap, loaded modules,
// mounts and some kernel settings.
func machineState(t *testing.T) map[string]string {
	t.Helper()
	st := map[string]string{}
	skip := map[string]bool{"/etc/shadow": true, "/etc/shadow-": true, "/etc/gshadow": true, "/etc/gshadow-": true,
		"/etc/passwd-": true, "/etc/group-": true, "/etc/subuid-": true, "/etc/subgid-": true, "/etc/sudoers.d/fleet-e2e.tmp": true}
	_ = filepath.WalkDir("/etc", func(p string, d fs.DirEntry, err error) error {
		if err != nil || skip[p] {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			st[p] = "-> " + target
		case d.Type().IsRegular():
			st[p] = hashFile(p)
		case d.IsDir():
			st[p] = "dir"
		}
		return nil
	})
	for _, p := range []string{"/var/lib/dpkg/status", "/etc/os-release", "/usr/lib/os-release", "/proc/swaps"} {
		st[p] = hashFile(p)
	}
	for _, tool := range []string{"apt-get", "dpkg", "systemctl", "curl", "gpg", "docker", "kubectl", "sysctl", "swapoff", "yum"} {
		for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"} {
			if fi, err := os.Lstat(filepath.Join(dir, tool)); err == nil {
				st[filepath.Join(dir, tool)] = fmt.Sprintf("%v %d %v", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
			}
		}
	}
	for _, p := range []string{"/var/log/fake-calls.log", "/var/lib/fake-pkgs", "/var/lib/fake-systemd", "/etc/docker", "/etc/kubernetes", "/usr/local/lib/fleet-doubles"} {
		_, err := os.Stat(p)
		st["exists "+p] = strconv.FormatBool(err == nil)
	}
	for _, k := range []string{"net/ipv4/ip_forward", "vm/swappiness", "net/bridge/bridge-nf-call-iptables", "net/ipv4/conf/all/forwarding"} {
		b, err := os.ReadFile("/proc/sys/" + k)
		st["sysctl "+k] = fmt.Sprintf("%q %v", b, err != nil)
	}
	if b, err := os.ReadFile("/proc/modules"); err == nil {
		var mods []string
		for l := range strings.SplitSeq(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				mods = append(mods, f[0])
			}
		}
		sort.Strings(mods)
		st["modules"] = strings.Join(mods, " ")
	}
	// Mounts of this (the machine's) namespace: no overlay may leak here.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		n := strings.Count(string(b), " fleet-")
		st["fleet mounts"] = strconv.Itoa(n)
	}
	return st
}

func hashFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestDistroStartErrors checks the argument checks that need no root.
func TestDistroStartErrors(t *testing.T) {
	for _, opts := range []Options{
		{Distros: []string{"ubuntu-99.04"}},
		{Distros: []string{Debian12, CentOS7}, Hosts: 3},
	} {
		ctx := t.Context()
		if f, err := Start(ctx, opts); err == nil {
			_ = f.Stop()
			t.Errorf("Start(%+v) succeeded", opts)
		}
	}
	if h := (Host{Addr: "127.0.0.2"}); h.Path("/etc/os-release") != "/etc/os-release" {
		t.Errorf("plain host Path = %q", h.Path("/etc/os-release"))
	}
	if h := (Host{Root: "/proc/1/root"}); h.Path("/etc/x") != "/proc/1/root/etc/x" {
		t.Errorf("distro host Path = %q", h.Path("/etc/x"))
	}
}
