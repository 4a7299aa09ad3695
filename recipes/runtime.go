package recipes

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The container runtime's facts: what drives the cgroup guard (every place
// that says which cgroup driver the node uses, running or configured) and
// the kubernetes recipe's check for a CRI endpoint the kubelet can use.
//
// The facts script prints raw sections (docker, daemon.json, containerd,
// kubelet, cri-dockerd, cgroup2); this file reads them. Each source is
// named the way an admin would look it up: a file's path, or the command
// that answered.

// runtimeScript is the part of the facts script about the container
// runtime and the kubelet. It only reads; what needs root is tried with
// sudo -n ($s) and is empty when that is refused. Files are cut at 64 KiB.
const runtimeScript = `rd() { cat "$1" 2>/dev/null </dev/null || $s cat "$1" 2>/dev/null </dev/null; }
echo "${m}docker"
if command -v dockerd >/dev/null 2>&1 || command -v docker >/dev/null 2>&1; then echo installed; fi
[ -n "$d" ] && echo "running $d"
v=$(dpkg-query -W -f '${Status} ${Version}\n' docker-ce 2>/dev/null </dev/null | sed -n 's/^install ok installed //p')
[ -n "$v" ] || v=$(rpm -q --qf '%{VERSION}\n' docker-ce 2>/dev/null </dev/null | grep -v 'not installed')
[ -n "$v" ] && echo "version $v"
echo "${m}daemon.json"
if [ -e /etc/docker/daemon.json ]; then echo present; rd /etc/docker/daemon.json | head -c 65536; echo; fi
echo "${m}containerd"
if command -v containerd >/dev/null 2>&1; then echo installed; fi
if [ -e /etc/containerd/config.toml ]; then echo config; rd /etc/containerd/config.toml | head -c 65536 | grep -E '^[[:space:]]*(\[|disabled_plugins|SystemdCgroup)'; fi
echo "${m}kubelet"
rd /var/lib/kubelet/config.yaml | grep -E '^(cgroupDriver|containerRuntimeEndpoint):' | sed 's/^/config /'
rd /var/lib/kubelet/kubeadm-flags.env | grep -oE -- '--(cgroup-driver|container-runtime-endpoint|container-runtime)=[^" ]*' | sed 's/^/flag /'
echo "${m}cri-dockerd"
if command -v cri-dockerd >/dev/null 2>&1 || [ -S /run/cri-dockerd.sock ]; then echo yes; fi
echo "${m}cgroup2"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo yes; fi
`

// The names of the cgroup driver's sources, as the guard's message says
// them.
const (
	srcDockerInfo     = "docker info (the running dockerd)"
	srcDaemonJSON     = "/etc/docker/daemon.json"
	srcDockerDefault  = "docker's default (daemon.json sets no native.cgroupdriver)"
	srcContainerdConf = "/etc/containerd/config.toml"
	srcContainerdDef  = "containerd's default (no /etc/containerd/config.toml)"
	srcKubeletConfig  = "/var/lib/kubelet/config.yaml"
	srcKubeadmFlags   = "/var/lib/kubelet/kubeadm-flags.env"
)

// runtimeFacts is what parseRuntime learns that templates do not see.
type runtimeFacts struct {
	containerd      bool   // containerd is installed
	containerdCRI   bool   // its config leaves the CRI plugin enabled
	containerdDrv   string // the CRI's runc driver: systemd or cgroupfs
	criDockerd      bool   // cri-dockerd is installed
	dockerDrv       string // the driver dockerd runs or would start with
	kubeletDrv      string // the kubelet's configured driver, "" when none is
	kubeletEndpoint string // the kubelet's --container-runtime-endpoint
}

// parseRuntime fills the runtime facts of f from the script's sections.
func parseRuntime(f *Facts, sections map[string][]string) {
	var rt runtimeFacts
	drivers := map[string]string{}
	docker := sections["docker"]
	dockerInstalled := false
	for _, l := range docker {
		l = strings.TrimSpace(l)
		switch {
		case l == "installed":
			dockerInstalled = true
		case strings.HasPrefix(l, "running "):
			drivers[srcDockerInfo] = strings.TrimSpace(strings.TrimPrefix(l, "running "))
		case strings.HasPrefix(l, "version "):
			f.DockerVersion = dockerVersion(strings.TrimPrefix(l, "version "))
		}
	}
	if dj := sections["daemon.json"]; firstLine(dj) == "present" {
		switch d, ok := daemonJSONDriver(strings.Join(dj[1:], "\n")); {
		case !ok:
			drivers[srcDaemonJSON+" (not valid JSON)"] = "unknown"
		case d != "":
			drivers[srcDaemonJSON] = d
		}
	}
	if _, set := drivers[srcDaemonJSON]; !set && dockerInstalled {
		if _, bad := drivers[srcDaemonJSON+" (not valid JSON)"]; !bad {
			// Docker 20.10 and later default to systemd on cgroup v2.
			def := "cgroupfs"
			if firstLine(sections["cgroup2"]) == "yes" {
				def = "systemd"
			}
			drivers[srcDockerDefault] = def
		}
	}
	for _, src := range []string{srcDockerInfo, srcDaemonJSON, srcDockerDefault} {
		if d := drivers[src]; d != "" && rt.dockerDrv == "" {
			rt.dockerDrv = d
		}
	}

	ctd := sections["containerd"]
	config := false
	var conf []string
	for i, l := range ctd {
		if l = strings.TrimSpace(l); l == "installed" {
			rt.containerd = true
		} else if l == "config" {
			config, conf = true, ctd[i+1:]
			break
		}
	}
	if rt.containerd || config {
		rt.containerdCRI, rt.containerdDrv = true, "cgroupfs" // containerd's defaults
		src := srcContainerdDef
		if config {
			src = srcContainerdConf
			rt.containerdCRI, rt.containerdDrv = containerdConfig(conf)
		}
		// With the CRI plugin off, containerd only runs docker's
		// containers, with docker's driver: its SystemdCgroup (a CRI
		// option) says nothing about the node.
		if rt.containerdCRI {
			drivers[src] = rt.containerdDrv
		}
	}

	for _, l := range sections["kubelet"] {
		kind, kv, _ := strings.Cut(strings.TrimSpace(l), " ")
		switch kind {
		case "config":
			k, v, _ := strings.Cut(kv, ":")
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			switch k {
			case "cgroupDriver":
				drivers[srcKubeletConfig] = v
				rt.kubeletDrv = v
			case "containerRuntimeEndpoint":
				rt.kubeletEndpoint = v
			}
		case "flag":
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "--cgroup-driver":
				drivers[srcKubeadmFlags] = v
				if rt.kubeletDrv == "" {
					rt.kubeletDrv = v
				}
			case "--container-runtime-endpoint":
				rt.kubeletEndpoint = v
			}
		}
	}
	rt.criDockerd = firstLine(sections["cri-dockerd"]) == "yes"
	if len(drivers) > 0 {
		f.CgroupDrivers = drivers
	}
	f.CRI, f.CRIProblem = rt.cri()
	f.runtime = rt
}

// daemonJSONDriver reads native.cgroupdriver from daemon.json's exec-opts:
// "" when it sets none, ok false when the file is not JSON dockerd reads.
func daemonJSONDriver(s string) (driver string, ok bool) {
	if strings.TrimSpace(s) == "" {
		return "", true // dockerd takes an empty file for {}
	}
	var dj struct {
		ExecOpts []string `json:"exec-opts"`
	}
	if err := json.Unmarshal([]byte(s), &dj); err != nil {
		return "", false
	}
	for _, o := range dj.ExecOpts {
		k, v, _ := strings.Cut(o, "=")
		if strings.TrimSpace(k) == "native.cgroupdriver" {
			driver = strings.TrimSpace(v)
		}
	}
	return driver, true
}

// criDisabled matches a disabled_plugins list naming the CRI plugin, by
// its short name (containerd 1.x, as Docker's containerd.io ships it) or
// its full one.
var criDisabled = regexp.MustCompile(`^\s*disabled_plugins\s*=.*["'](cri|io\.containerd\.grpc\.v1\.cri)["']`)

// containerdConfig reads the lines of config.toml the script kept: whether
// the CRI plugin is on, and its runc driver (SystemdCgroup = true anywhere
// is systemd; containerd's default, false, is cgroupfs).
func containerdConfig(lines []string) (cri bool, driver string) {
	cri, driver = true, "cgroupfs"
	for _, l := range lines {
		if criDisabled.MatchString(l) {
			cri = false
		}
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if ok && strings.TrimSpace(k) == "SystemdCgroup" && strings.TrimSpace(v) == "true" {
			driver = "systemd"
		}
	}
	return cri, driver
}

// dockerVersion turns a package's version into Docker's name for it:
// 5:20.10.24~3-0~ubuntu-focal, 18.06.2~ce~3-0~ubuntu and 18.06.2.ce (rpm)
// are 20.10.24, 18.06.2 and 18.06.2.
func dockerVersion(pkg string) string {
	v := strings.TrimSpace(pkg)
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.IndexAny(v, "~-"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSuffix(v, ".ce")
}

// cri says which CRI endpoint a kubelet on this host can use, or, when
// none, why not. The kubelet's driver is its configuration's, else
// systemd, kubeadm's default since Kubernetes 1.22.
func (rt runtimeFacts) cri() (endpoint, problem string) {
	want := rt.kubeletDrv
	if want == "" {
		want = "systemd"
	}
	var why []string
	switch {
	case rt.containerd && !rt.containerdCRI:
		why = append(why, `containerd's /etc/containerd/config.toml disables its CRI plugin (disabled_plugins = ["cri"], as Docker's containerd.io package ships it)`)
	case rt.containerd && rt.containerdDrv != want:
		why = append(why, fmt.Sprintf("containerd's CRI uses the %s cgroup driver and the kubelet %s (SystemdCgroup in /etc/containerd/config.toml)", rt.containerdDrv, want))
	case rt.containerd:
		return "containerd", ""
	}
	if rt.criDockerd {
		if rt.dockerDrv == want || rt.dockerDrv == "" {
			return "cri-dockerd", ""
		}
		why = append(why, fmt.Sprintf("docker (behind cri-dockerd) uses the %s cgroup driver and the kubelet %s", rt.dockerDrv, want))
	}
	if !rt.containerd && !rt.criDockerd {
		why = append(why, "neither containerd nor cri-dockerd is installed (Kubernetes 1.24 and later do not talk to dockerd itself)")
	}
	return "", strings.Join(why, "; ")
}

// driverConflicts lists the sources of f whose cgroup driver is not want,
// as "SOURCE says DRIVER", sorted.
func driverConflicts(f *Facts, want string) []string {
	var out []string
	for src, d := range f.CgroupDrivers {
		if d != want {
			out = append(out, fmt.Sprintf("%s says %s", src, d))
		}
	}
	sort.Strings(out)
	return out
}
