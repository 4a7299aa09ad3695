package recipes

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/fleet-sh/fleet/fleet"
)

// Facts are what fleet learns about a host before choosing its steps.
type Facts struct {
	OSRelease    map[string]string // every key of /etc/os-release
	ID           string            // ID
	IDLike       []string          // ID_LIKE, split on spaces
	VersionID    string            // VERSION_ID
	Codename     string            // VERSION_CODENAME (or UBUNTU_CODENAME)
	PrettyName   string            // PRETTY_NAME
	Arch         string            // uname -m (x86_64, aarch64)
	DebArch      string            // amd64, arm64 (for apt sources); derived from Arch
	Init         string            // "systemd" when /run/systemd/system exists, else the name of PID 1
	SudoPassword bool              // sudo needs a password for this user (sudo -n true fails)
	// CgroupDriver is the container runtime's current cgroup driver:
	// docker info's, else containerd's SystemdCgroup setting ("systemd" or
	// "cgroupfs"); "" when neither runs.
	CgroupDriver string
	Joined       bool // /etc/kubernetes/kubelet.conf exists: the host has joined a cluster
	// CgroupDrivers is every place that says which cgroup driver the node
	// uses, running or configured, by source ("/etc/docker/daemon.json",
	// "docker info (the running dockerd)", "/var/lib/kubelet/config.yaml",
	// ...): what the cgroup guard compares (see runtime.go). nil when no
	// source says anything.
	CgroupDrivers map[string]string
	// DockerVersion is the installed docker-ce package's version in
	// Docker's words (18.06.2, 27.3.1); "" when it is not installed.
	DockerVersion string
	// CRI is the CRI endpoint a kubelet here can use ("containerd",
	// "cri-dockerd"), "" when there is none; CRIProblem then says why.
	CRI        string
	CRIProblem string

	runtime runtimeFacts
}

// factsMark starts each section of the facts script's output. Output before
// the first one is whatever the login shell printed and is ignored.
const factsMark = "@@fleet-facts:"

// factsScript learns every fact in one round trip. It is plain POSIX sh,
// always exits 0, and needs nothing but coreutils; what needs root (docker
// info, containerd's config) is tried with sudo -n and is simply empty
// when that is refused. The cgroup section prints "docker X" ("docker"
// alone when dockerd runs but would not answer), or "containerd" followed
// by the SystemdCgroup lines of containerd's config: a host running docker
// is judged by docker's driver, not by the containerd underneath it.
const factsScript = `m=` + factsMark + `
s=""; [ "$(id -u)" = 0 ] || s="sudo -n"
echo "${m}os-release"
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo "${m}arch"
uname -m
echo "${m}init"
if [ -d /run/systemd/system ]; then echo systemd; else cat /proc/1/comm 2>/dev/null || ps -o comm= -p 1 2>/dev/null; fi
echo "${m}sudo"
if [ -z "$s" ] || sudo -n true >/dev/null 2>&1 </dev/null; then echo no; else echo yes; fi
echo "${m}cgroup"
d=; command -v docker >/dev/null 2>&1 && d=$(docker info --format '{{.CgroupDriver}}' 2>/dev/null </dev/null || $s docker info --format '{{.CgroupDriver}}' 2>/dev/null </dev/null)
if [ -n "$d" ]; then echo "docker $d"
elif [ -S /var/run/docker.sock ]; then echo "docker"
elif [ -S /run/containerd/containerd.sock ] || pgrep -x containerd >/dev/null 2>&1; then
  echo containerd
  { $s containerd config dump 2>/dev/null </dev/null || $s cat /etc/containerd/config.toml 2>/dev/null </dev/null; } | grep SystemdCgroup
fi
` + runtimeScript + `echo "${m}joined"
if [ -e /etc/kubernetes/kubelet.conf ]; then echo yes; else echo no; fi
echo "${m}end"
exit 0
`

// GatherFacts learns a host's facts in one remote command.
func GatherFacts(ctx context.Context, t Target) (*Facts, error) {
	var out strings.Builder
	err := t.Exec(ctx, &fleet.Command{Line: "/bin/sh -c " + fleet.Quote(factsScript), Stdout: &out})
	if err != nil {
		return nil, err
	}
	return parseFacts(out.String())
}

// parseFacts reads the facts script's output.
func parseFacts(out string) (*Facts, error) {
	sections := map[string][]string{}
	var cur string
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if name, ok := strings.CutPrefix(line, factsMark); ok {
			cur, found = name, true
			sections[cur] = []string{}
			continue
		}
		if found {
			sections[cur] = append(sections[cur], line)
		}
	}
	if _, ok := sections["end"]; !ok {
		return nil, fmt.Errorf("unexpected answer to the facts script (is /bin/sh a POSIX shell?): %.200q", out)
	}
	f := osFacts(strings.Join(sections["os-release"], "\n"))
	f.Arch = firstLine(sections["arch"])
	f.DebArch = debArch(f.Arch)
	f.Init = firstLine(sections["init"])
	f.SudoPassword = firstLine(sections["sudo"]) == "yes"
	f.CgroupDriver = cgroupDriver(sections["cgroup"])
	f.Joined = firstLine(sections["joined"]) == "yes"
	parseRuntime(f, sections)
	return f, nil
}

// osFacts are the facts an os-release file gives.
func osFacts(osRelease string) *Facts {
	rel := ParseOSRelease(osRelease)
	return &Facts{OSRelease: rel, ID: rel["ID"], IDLike: strings.Fields(rel["ID_LIKE"]), VersionID: rel["VERSION_ID"],
		Codename: cmp.Or(rel["VERSION_CODENAME"], rel["UBUNTU_CODENAME"]), PrettyName: rel["PRETTY_NAME"]}
}

func firstLine(lines []string) string {
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// cgroupDriver reads the cgroup section: "docker systemd", or "containerd"
// and the SystemdCgroup lines of its config (true anywhere is systemd;
// containerd's default, false, is cgroupfs).
func cgroupDriver(lines []string) string {
	first := firstLine(lines)
	if d, ok := strings.CutPrefix(first, "docker "); ok {
		return strings.TrimSpace(d)
	}
	if first != "containerd" {
		return ""
	}
	for _, l := range lines {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if ok && strings.TrimSpace(k) == "SystemdCgroup" && strings.TrimSpace(v) == "true" {
			return "systemd"
		}
	}
	return "cgroupfs"
}

// debArch maps uname -m to Debian's architecture names, for apt sources.
func debArch(arch string) string {
	switch arch {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64", "armv8l":
		return "arm64"
	case "armv7l", "armv7", "armhf":
		return "armhf"
	case "armv6l", "armv5tel", "armel":
		return "armel"
	case "i386", "i486", "i586", "i686":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	}
	return arch // s390x, riscv64, mips64el: the same name
}

// ParseOSRelease reads an os-release file (os-release(5)): KEY=value lines
// whose values follow shell quoting ("double", 'single', backslash
// escapes); blank lines, comments and malformed lines are skipped.
func ParseOSRelease(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !isIdentifier(k) {
			continue
		}
		m[k] = unquoteShell(v)
	}
	return m
}

// unquoteShell reads one shell word: quotes are removed, backslash escapes
// resolved (inside double quotes only before $ " \ ` and newline, as sh
// does); an unquoted blank ends the word (what follows is a comment), an
// unclosed quote runs to the end of the line.
func unquoteShell(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				b.WriteString(s[i+1:])
				return b.String()
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$\"\\`\n", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case ' ', '\t':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
