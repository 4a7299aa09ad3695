package recipes

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// runtimeFactsOf parses the facts script's output with the given runtime
// sections (name: body) on a joined Ubuntu host.
func runtimeFactsOf(t *testing.T, sections map[string]string) *Facts {
	t.Helper()
	out := factsMark + "os-release\nID=ubuntu\nVERSION_ID=\"16.04\"\n" + factsMark + "joined\nyes\n"
	for name, body := range sections {
		out += factsMark + name + "\n" + body
	}
	f, err := parseFacts(out + factsMark + "end\n")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// dockerShipped is what the facts script keeps of config.toml as Docker's
// containerd.io package ships it.
const dockerShipped = "installed\nconfig\ndisabled_plugins = [\"cri\"]\n"

// TestCgroupGuardSources: on a joined node the guard reads every source,
// whatever the state of the daemons, and says which one disagrees. Each
// case passed the guard before it read more than the running dockerd (or,
// without one, a running containerd).
func TestCgroupGuardSources(t *testing.T) {
	r := mustParse(t, dockerish)
	for _, tt := range []struct {
		name     string
		sections map[string]string
		refuse   string // a regexp of the refusal; "" for none
	}{
		{"docker stopped, daemon.json says cgroupfs", map[string]string{
			"docker":      "installed\nversion 5:27.3.1-1~debian.12~bookworm\n",
			"daemon.json": "present\n{\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]}\n",
			"containerd":  dockerShipped,
		}, `/etc/docker/daemon\.json says cgroupfs`},
		{"docker failed, no daemon.json: docker's default", map[string]string{
			"docker": "installed\n", "containerd": dockerShipped,
		}, `docker's default \(daemon\.json sets no native\.cgroupdriver\) says cgroupfs`},
		{"containerd stopped, SystemdCgroup = false", map[string]string{
			"containerd": "installed\nconfig\n[plugins]\n  SystemdCgroup = false\n",
		}, `/etc/containerd/config\.toml says cgroupfs`},
		{"docker running systemd masks containerd's cgroupfs", map[string]string{
			"cgroup":      "docker systemd\n",
			"docker":      "installed\nrunning systemd\n",
			"daemon.json": "present\n{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}\n",
			"containerd":  "installed\nconfig\ndisabled_plugins = []\n  SystemdCgroup = false\n",
			"kubelet":     "flag --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock\n",
		}, `/etc/containerd/config\.toml says cgroupfs`},
		{"the kubelet's config disagrees", map[string]string{
			"cgroup":      "docker systemd\n",
			"docker":      "installed\nrunning systemd\n",
			"daemon.json": "present\n{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}\n",
			"kubelet":     "config cgroupDriver: cgroupfs\n",
		}, `/var/lib/kubelet/config\.yaml says cgroupfs`},
		{"kubeadm-flags.env disagrees", map[string]string{
			"kubelet": "flag --cgroup-driver=cgroupfs\n",
		}, `/var/lib/kubelet/kubeadm-flags\.env says cgroupfs`},
		{"daemon.json that dockerd cannot read", map[string]string{
			"docker": "installed\n", "daemon.json": "present\n{\"exec-opts\": [\n",
		}, `daemon\.json \(not valid JSON\) says unknown`},
		{"every source says systemd", map[string]string{
			"docker":      "installed\nrunning systemd\n",
			"daemon.json": "present\n{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}\n",
			"containerd":  "installed\nconfig\n  SystemdCgroup = true\n",
			"kubelet":     "config cgroupDriver: systemd\nflag --cgroup-driver=systemd\n",
		}, ""},
		{"docker's shipped containerd (CRI off) does not count", map[string]string{
			"docker":      "installed\nrunning systemd\n",
			"daemon.json": "present\n{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}\n",
			"containerd":  dockerShipped,
		}, ""},
		{"cgroup v2: docker's default is systemd", map[string]string{
			"docker": "installed\n", "cgroup2": "yes\n",
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := runtimeFactsOf(t, tt.sections)
			for _, dry := range []bool{false, true} {
				ft := newFake()
				_, err := Apply(context.Background(), ft, r, f, Options{DryRun: dry})
				if tt.refuse == "" {
					if err != nil {
						t.Errorf("dry run %v: %v (sources %v)", dry, err, f.CgroupDrivers)
					}
					continue
				}
				if err == nil || !regexp.MustCompile(`joined a cluster.*`+tt.refuse+`.*kubeadm reset.*--force`).MatchString(err.Error()) {
					t.Errorf("dry run %v: err = %v, want a refusal matching %q (sources %v)", dry, err, tt.refuse, f.CgroupDrivers)
				}
				if ft.count("put") != 0 || ft.count("probe /etc/docker/daemon.json") != 0 {
					t.Errorf("dry run %v: the refused step went on: %q", dry, ft.callList())
				}
			}
			if _, err := Apply(context.Background(), newFake(), r, f, Options{Force: true}); err != nil {
				t.Errorf("--force: %v", err)
			}
		})
	}
}

// TestCRIFacts: which CRI endpoint a kubelet could use, and why none.
func TestCRIFacts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		sections map[string]string
		cri      string
		problem  string
	}{
		{"nothing installed", nil, "", "neither containerd nor cri-dockerd"},
		{"docker's containerd.io as shipped", map[string]string{"containerd": dockerShipped}, "", `disables its CRI plugin`},
		{"CRI on, cgroupfs", map[string]string{"containerd": "installed\nconfig\ndisabled_plugins = []\n"}, "", "containerd's CRI uses the cgroupfs cgroup driver and the kubelet systemd"},
		{"CRI on, systemd", map[string]string{"containerd": "installed\nconfig\n SystemdCgroup = true\n"}, "containerd", ""},
		{"CRI on, cgroupfs, kubelet cgroupfs", map[string]string{"containerd": "installed\nconfig\n", "kubelet": "config cgroupDriver: cgroupfs\n"}, "containerd", ""},
		{"containerd 2 full plugin name disabled", map[string]string{"containerd": "installed\nconfig\ndisabled_plugins = ['io.containerd.grpc.v1.cri']\n"}, "", "disables its CRI plugin"},
		{"cri-dockerd with docker on systemd", map[string]string{"docker": "installed\n", "daemon.json": "present\n{\"exec-opts\":[\"native.cgroupdriver=systemd\"]}\n",
			"cri-dockerd": "yes\n", "containerd": dockerShipped}, "cri-dockerd", ""},
		{"cri-dockerd with docker on cgroupfs", map[string]string{"docker": "installed\n", "cri-dockerd": "yes\n"}, "", "docker (behind cri-dockerd) uses the cgroupfs"},
	} {
		f := runtimeFactsOf(t, tt.sections)
		if f.CRI != tt.cri || !strings.Contains(f.CRIProblem, tt.problem) || (tt.problem == "") != (f.CRIProblem == "") {
			t.Errorf("%s: CRI %q, problem %q; want %q and %q", tt.name, f.CRI, f.CRIProblem, tt.cri, tt.problem)
		}
	}
}

func TestDockerVersion(t *testing.T) {
	for in, want := range map[string]string{
		"5:20.10.24~3-0~ubuntu-focal":   "20.10.24",
		"18.06.2~ce~3-0~ubuntu":         "18.06.2",
		"18.06.2.ce":                    "18.06.2",
		"26.1.4":                        "26.1.4",
		"5:27.3.1-1~debian.12~bookworm": "27.3.1",
	} {
		if got := dockerVersion(in); got != want {
			t.Errorf("dockerVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKubernetesNeedsCRI: the kubernetes recipe refuses, before changing
// anything, a host whose facts say no CRI endpoint is usable, and says
// what to run; cri_check=false lets it go on.
func TestKubernetesNeedsCRI(t *testing.T) {
	f := runtimeFactsOf(t, map[string]string{"containerd": dockerShipped})
	for _, dry := range []bool{false, true} {
		ft := newFake()
		_, err := Apply(context.Background(), ft, simBuiltin(t, "kubernetes", nil), f, Options{DryRun: dry, Host: "ops@node1"})
		want := `step "container runtime": no container runtime the kubelet can use: containerd's /etc/containerd/config.toml disables its CRI plugin ` +
			`(disabled_plugins = ["cri"], as Docker's containerd.io package ships it). Run ` + "`fleet provision docker --var k8s_node=true`"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("dry run %v: err = %v\nwant it to start with %s", dry, err, want)
		}
		if len(ft.callList()) != 0 {
			t.Errorf("dry run %v: the refusal made calls: %q", dry, ft.callList())
		}
	}
	rep, _ := Apply(context.Background(), newFake(), simBuiltin(t, "kubernetes", map[string]string{"cri_check": "false"}), f, Options{DryRun: true})
	if rep.Steps[0].Status != Skipped {
		t.Errorf("cri_check=false: %s", rep.Plan())
	}
	ok := runtimeFactsOf(t, map[string]string{"containerd": "installed\nconfig\n SystemdCgroup = true\n"})
	if rep, _ := Apply(context.Background(), newFake(), simBuiltin(t, "kubernetes", nil), ok, Options{DryRun: true}); rep.Steps[0].Status != Skipped {
		t.Errorf("containerd with CRI on and systemd: %s", rep.Plan())
	}
}
