package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The distributions a test host can pretend to be (Options.Distros).
// Alpine is there as a distribution fleet does not support.
const (
	Ubuntu1604 = "ubuntu-16.04"
	Debian12   = "debian-12"
	CentOS7    = "centos-7"
	Rocky8     = "rocky-8"
	Alpine319  = "alpine-3.19"
)

// Distros lists every name Options.Distros accepts.
func Distros() []string { return []string{Ubuntu1604, Debian12, CentOS7, Rocky8, Alpine319} }

// distro is what makes a host look like one release: its identity files
// and which test doubles it has on PATH from the start. Everything else is
// the machine's own (Debian 12) userland, seen through the host's overlays.
type distro struct {
	name   string
	family string // "debian", "rhel" or "other"
	// osRelease is the release's real /etc/os-release (and
	// /usr/lib/os-release).
	osRelease string
	// etc holds more files of /etc (path relative to /etc: content);
	// etcLinks symlinks (path: target).
	etc      map[string]string
	etcLinks map[string]string
	// tools are the doubles on PATH from the start; every other double
	// (and the machine's own copy of it) is absent until a fake package
	// provides it, or for good (yum on a Debian host).
	tools []string
}

// Doubles that every systemd distribution has, Debian or Red Hat.
var commonTools = []string{"systemctl", "service", "curl", "gpg", "swapoff", "swapon", "sysctl", "modprobe", "lsmod"}

var distros = map[string]distro{
	Ubuntu1604: {
		name: Ubuntu1604, family: "debian",
		osRelease: `NAME="Ubuntu"
VERSION="16.04.7 LTS (Xenial Xerus)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 16.04.7 LTS"
VERSION_ID="16.04"
HOME_URL="http://www.ubuntu.com/"
SUPPORT_URL="http://help.ubuntu.com/"
BUG_REPORT_URL="http://bugs.launchpad.net/ubuntu/"
VERSION_CODENAME=xenial
UBUNTU_CODENAME=xenial
`,
		etc: map[string]string{
			"debian_version": "stretch/sid\n",
			"lsb-release":    "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\nDISTRIB_CODENAME=xenial\nDISTRIB_DESCRIPTION=\"Ubuntu 16.04.7 LTS\"\n",
			"apt/sources.list": `deb http://archive.ubuntu.com/ubuntu/ xenial main restricted universe multiverse
deb http://archive.ubuntu.com/ubuntu/ xenial-updates main restricted universe multiverse
deb http://security.ubuntu.com/ubuntu xenial-security main restricted universe multiverse
`,
			"apt/trusted.gpg.d/ubuntu-keyring-2012-archive.gpg": "\x99\x01\x0dFLEET-FAKE-KEYRING ubuntu-archive\n",
		},
		tools: append([]string{"apt-get", "apt", "apt-cache", "apt-key", "apt-mark", "dpkg", "dpkg-query", "lsb_release"}, commonTools...),
	},
	Debian12: {
		name: Debian12, family: "debian",
		osRelease: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`,
		etc: map[string]string{
			"debian_version": "12.8\n",
			"apt/sources.list.d/debian.sources": `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`,
			"apt/trusted.gpg.d/debian-archive-bookworm-stable.asc": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: fleet-fake-key debian-archive\n-----END PGP PUBLIC KEY BLOCK-----\n",
		},
		tools: append([]string{"apt-get", "apt", "apt-cache", "apt-key", "apt-mark", "dpkg", "dpkg-query"}, commonTools...),
	},
	CentOS7: {
		name: CentOS7, family: "rhel",
		osRelease: `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"

`,
		etc: map[string]string{
			"centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
			"yum.repos.d/CentOS-Base.repo": `[base]
name=CentOS-$releasever - Base
baseurl=http://vault.centos.org/7.9.2009/os/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7

[updates]
name=CentOS-$releasever - Updates
baseurl=http://vault.centos.org/7.9.2009/updates/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7

[extras]
name=CentOS-$releasever - Extras
baseurl=http://vault.centos.org/7.9.2009/extras/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7
`,
			"pki/rpm-gpg/RPM-GPG-KEY-CentOS-7": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: fleet-fake-key centos-7\n-----END PGP PUBLIC KEY BLOCK-----\n",
			"sysconfig/selinux":                "SELINUX=disabled\nSELINUXTYPE=targeted\n",
		},
		etcLinks: map[string]string{"redhat-release": "centos-release", "system-release": "centos-release"},
		tools:    append([]string{"yum", "rpm"}, commonTools...),
	},
	Rocky8: {
		name: Rocky8, family: "rhel",
		osRelease: `NAME="Rocky Linux"
VERSION="8.10 (Green Obsidian)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.10"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Rocky Linux 8.10 (Green Obsidian)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:8:GA"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2029-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-8"
ROCKY_SUPPORT_PRODUCT_VERSION="8.10"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="8.10"
`,
		etc: map[string]string{
			"rocky-release": "Rocky Linux release 8.10 (Green Obsidian)\n",
			"yum.repos.d/Rocky-BaseOS.repo": `[baseos]
name=Rocky Linux $releasever - BaseOS
mirrorlist=https://mirrors.rockylinux.org/mirrorlist?arch=$basearch&repo=BaseOS-$releasever
gpgcheck=1
enabled=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-8
`,
			"yum.repos.d/Rocky-AppStream.repo": `[appstream]
name=Rocky Linux $releasever - AppStream
mirrorlist=https://mirrors.rockylinux.org/mirrorlist?arch=$basearch&repo=AppStream-$releasever
gpgcheck=1
enabled=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-8
`,
			"pki/rpm-gpg/RPM-GPG-KEY-Rocky-8": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: fleet-fake-key rocky-8\n-----END PGP PUBLIC KEY BLOCK-----\n",
			"sysconfig/selinux":               "SELINUX=disabled\nSELINUXTYPE=targeted\n",
		},
		etcLinks: map[string]string{"redhat-release": "rocky-release", "system-release": "rocky-release"},
		tools:    append([]string{"dnf", "yum", "rpm"}, commonTools...),
	},
	Alpine319: {
		name: Alpine319, family: "other",
		osRelease: `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`,
		etc: map[string]string{
			"alpine-release": "3.19.1\n",
		},
		// busybox's applets; no systemd, no curl or gpg in a base install.
		tools: []string{"swapoff", "swapon", "sysctl", "modprobe", "lsmod"},
	},
}

// Path returns the path through which this process reaches path p of the
// host's own filesystem view: under Root for a distro host, p itself for a
// plain host (which shares the machine's view).
func (h Host) Path(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}

// CallsLog is where, inside a distro host, the test doubles record their
// calls.
const CallsLog = "/var/log/fake-calls.log"

// Calls returns the calls the host's test doubles recorded, oldest first,
// one per line: "[root] apt-get install -y docker-ce" or, for a call by
// another user, "[fleet-np] curl -fsSL ...". Arguments with spaces or quotes
// are single-quoted.
func (h Host) Calls() ([]string, error) {
	if h.Distro == "" || h.Root == "" {
		return nil, fmt.Errorf("harness: calls of %s: not a running distro host", h.Addr)
	}
	b, err := os.ReadFile(h.Path(CallsLog))
	if err != nil {
		return nil, fmt.Errorf("harness: calls of %s: %w", h.Addr, err)
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

// JoinCluster makes h look like a Kubernetes node that has joined a
// cluster: /etc/kubernetes/kubelet.conf and /var/lib/kubelet/config.yaml
// exist, docker-ce, containerd.io, kubelet, kubeadm and kubectl are
// installed (unless they already were), their services enabled and active,
// and docker reports driver ("cgroupfs" or "systemd") as the cgroup driver it
// runs with until its service is restarted. Nothing is added to the host's
// call log.
func (f *Fleet) JoinCluster(h Host, driver string) error {
	if driver != "cgroupfs" && driver != "systemd" {
		return fmt.Errorf("harness: join cluster: driver %q is neither cgroupfs nor systemd", driver)
	}
	i := slices.IndexFunc(f.Hosts, func(c Host) bool { return c.Addr == h.Addr })
	if i < 0 || f.Hosts[i].Distro == "" || f.Hosts[i].PID <= 0 || !isFleetSSHD(f.Hosts[i].PID, f.Dir) {
		return fmt.Errorf("harness: join cluster: %s is not a running distro host of this fleet", h.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := inHost(ctx, f.Hosts[i], doublesDir+"/fleet-join", driver); err != nil {
		return fmt.Errorf("harness: join cluster %s: %w", h.Addr, err)
	}
	return nil
}

// inHost runs a command as root inside h's mount namespace (nsenter), with
// a minimal environment, and returns its combined output.
func inHost(ctx context.Context, h Host, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, nsenterPath, append([]string{"--target", strconv.Itoa(h.PID), "--mount", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
