package harness

import (
	"os"
	"strings"
	"testing"
)

// TestKubeadmPreflightDouble: the kubeadm double's preflight fails as
// kubeadm does on a node whose containerd runs with Docker's config.toml
// (CRI off), on the wrong cgroup driver, and without the sysctls; it passes
// once containerd was restarted with the CRI on and SystemdCgroup = true
// and the sysctl double holds the settings, which never reach the
// machine's kernel.
func TestKubeadmPreflightDouble(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, Options{Distros: []string{Debian12}})
	h := f.Hosts[0]
	kernelForward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	ssh := func(script string) (string, error) { return sshRun(t, f.SSHConfig, h, f.Users.NoPass, script) }
	if err := f.JoinCluster(h, "systemd"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.Path("/var/lib/kubelet/config.yaml")); err != nil { // kubeadm's default: systemd
		t.Fatal(err)
	}

	preflight := func(wantOK bool, want ...string) {
		t.Helper()
		out, err := ssh("sudo systemctl restart containerd && sudo kubeadm init phase preflight 2>&1")
		if (err == nil) != wantOK {
			t.Errorf("preflight: err = %v, want ok %v\n%s", err, wantOK, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("preflight output lacks %q:\n%s", w, out)
			}
		}
	}
	want := []string{"[ERROR CRI]: container runtime is not running", "unknown service runtime.v1.RuntimeService"}
	if strings.TrimSpace(string(kernelForward)) != "1" { // the double reads the kernel's until it holds its own
		want = append(want, "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]")
	}
	preflight(false, want...)

	const criOnCgroupfs = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = false\n"
	if err := os.WriteFile(h.Path("/etc/containerd/config.toml"), []byte(criOnCgroupfs), 0o644); err != nil {
		t.Fatal(err)
	}
	preflight(false, "[ERROR CgroupDriver]: containerd runs with the cgroupfs cgroup driver and the kubelet is configured for systemd")

	if err := os.WriteFile(h.Path("/etc/containerd/config.toml"), []byte(strings.Replace(criOnCgroupfs, "false", "true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := ssh("sudo modprobe br_netfilter && sudo sysctl -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1"); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	preflight(true, "[preflight] Running pre-flight checks")
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(kernelForward) {
		t.Errorf("the sysctl double changed the machine's net.ipv4.ip_forward: %q, was %q", now, kernelForward)
	}
}
