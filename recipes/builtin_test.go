package recipes

// Tests of the built-in recipes against simulated hosts.
//
// A simHost runs every command through a real /bin/sh, so that the
// recipes' quoting, pipes and shell logic are exercised for real, with a
// PATH that holds only stand-ins for the package managers and services of
// one distribution family (apt-get, dpkg, apt-mark; or yum, rpm; or dnf,
// rpm) plus the few coreutils the recipes may use. Absolute paths under
// /etc, /proc and /sys are moved into the host's own folder. The stand-ins
// keep their state in files there (installed packages and versions, enabled
// units, a package catalog, the sources apt last read), so that guards are
// answered from what earlier commands did, and each logs its arguments to
// calls.log. A command the recipe is not allowed to use is simply not
// found (exit 127), which the tests look for.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// simTools are the coreutils (and friends) a recipe may call besides the
// stand-ins and the shell's builtins.
var simTools = []string{"install", "mkdir", "test", "cat", "tee", "sed", "grep", "cp", "mv", "rm", "chmod", "ln"}

// simToolPaths finds simTools on this machine's PATH, once for all hosts.
var simToolPaths = sync.OnceValues(func() (map[string]string, error) {
	paths := map[string]string{}
	for _, tool := range simTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			return nil, fmt.Errorf("this machine has no %s: %w", tool, err)
		}
		paths[tool] = p
	}
	return paths, nil
})

// simCommon are stand-ins every family has.
var simCommon = []string{"systemctl", "curl", "gpg", "swapoff", "sysctl", "modprobe", "containerd"}

// simFamilyTools are the package tools of each family.
var simFamilyTools = map[string][]string{
	"apt": {"apt-get", "apt-mark", "dpkg"},
	"yum": {"yum", "yum-config-manager", "rpm"},
	"dnf": {"dnf", "rpm"},
}

// simCatalog is what the repositories offer, newest first: "name version".
var simCatalog = map[string]string{
	"apt": `docker-ce 5:27.3.1-1~ubuntu.24.04~noble
docker-ce 5:24.0.7-1~debian.12~bookworm
docker-ce 5:20.10.24~3-0~ubuntu-jammy
docker-ce 5:20.10.2~3-0~ubuntu-focal
docker-ce 18.06.2~ce~3-0~ubuntu
docker-ce 17.03.0~ce-0~ubuntu-xenial
docker-ce-cli 5:27.3.1-1~ubuntu.24.04~noble
docker-ce-cli 5:24.0.7-1~debian.12~bookworm
docker-ce-cli 5:20.10.24~3-0~ubuntu-jammy
docker-ce-cli 5:20.10.2~3-0~ubuntu-focal
containerd.io 1.7.22-1
kubelet 1.31.2-1.1
kubeadm 1.31.2-1.1
kubectl 1.31.2-1.1
`,
	"rpm": `docker-ce 3:26.1.4-1.el8
docker-ce 3:24.0.7-1.el8
docker-ce 3:20.10.24-3.el8
docker-ce 3:20.10.2-3.el7
docker-ce 18.06.2.ce-3.el7
docker-ce-cli 1:26.1.4-1.el8
docker-ce-cli 1:24.0.7-1.el8
docker-ce-cli 1:20.10.24-3.el8
docker-ce-cli 1:20.10.2-3.el7
containerd.io 1.6.33-3.1.el8
kubelet 1.31.2-150500.1.1
kubeadm 1.31.2-150500.1.1
kubectl 1.31.2-150500.1.1
`,
}

// simScripts are the stand-ins. Each logs its arguments, keeps its state
// under $S, and sees the host's files under $FAKEROOT.
var simScripts = map[string]string{
	"apt-get": `
sub=; pkgs=; downgrade=
while [ $# -gt 0 ]; do
  case $1 in
    -o) shift; case $1 in Acquire::http::Proxy=*|Acquire::https::Proxy=*) ;; *) echo "sim apt-get: -o $1?" >&2; exit 100;; esac ;;
    -y) ;;
    --allow-downgrades) downgrade=1 ;;
    -*) echo "sim apt-get: unknown option $1" >&2; exit 100 ;;
    *) if [ -z "$sub" ]; then sub=$1; else pkgs="$pkgs $1"; fi ;;
  esac
  shift
done
case $sub in
update)
  : > "$S/lists"
  for l in "$FAKEROOT"/etc/apt/sources.list.d/*.list; do
    [ -e "$l" ] || continue
    if grep -q ' https://' "$l" && [ ! -e "$FAKEROOT/usr/lib/apt/methods/https" ]; then
      echo "E: The method driver /usr/lib/apt/methods/https could not be found." >&2; exit 100
    fi
    for k in $(sed -n 's/.*signed-by=\([^] ]*\).*/\1/p' "$l"); do
      grep -q '^DEARMORED' "$FAKEROOT$k" 2>/dev/null || { echo "W: GPG error: NO_PUBKEY: no keyring $k" >&2; exit 100; }
    done
    cat "$l" >> "$S/lists"
  done ;;
install)
  set -f
  : > "$S/pending"
  for spec in $pkgs; do
    name=${spec%%=*}; want=
    case $spec in *=*) want=${spec#*=} ;; esac
    case $name in
      docker-ce|docker-ce-cli|containerd.io) grep -q 'https://download.docker.com/linux/' "$S/lists" 2>/dev/null || { echo "E: Unable to locate package $name" >&2; exit 100; } ;;
      kubelet|kubeadm|kubectl) grep -q 'https://pkgs.k8s.io/core:/stable:/' "$S/lists" 2>/dev/null || { echo "E: Unable to locate package $name" >&2; exit 100; } ;;
      apt-transport-https) [ -e "$FAKEROOT/usr/lib/apt/methods/https" ] && { echo "E: Package 'apt-transport-https' has no installation candidate" >&2; exit 100; }
        echo "$name 1.0" >> "$S/pending"; continue ;;
      ca-certificates|curl|gnupg) echo "$name 1.0" >> "$S/pending"; continue ;;
      *) echo "E: Unable to locate package $name" >&2; exit 100 ;;
    esac
    ver=
    while read -r n v; do
      [ "$n" = "$name" ] || continue
      case $want in
        '') ver=$v; break ;;
        *'*') p=${want%'*'}; case $v in "$p"*) ver=$v; break ;; esac ;;
        *) if [ "$v" = "$want" ]; then ver=$v; break; fi ;;
      esac
    done < "$S/catalog"
    [ -n "$ver" ] || { echo "E: Version '$want' for '$name' was not found" >&2; exit 100; }
    if [ -e "$S/installed/$name" ] && [ "$(cat "$S/installed/$name")" != "$ver" ] && [ -z "$downgrade" ]; then
      echo "E: Packages were downgraded and -y was used without --allow-downgrades." >&2; exit 100
    fi
    echo "$name $ver" >> "$S/pending"
  done
  while read -r n v; do
    echo "$v" > "$S/installed/$n"
    case $n in
      apt-transport-https) mkdir -p "$FAKEROOT/usr/lib/apt/methods"; : > "$FAKEROOT/usr/lib/apt/methods/https" ;;
      docker-ce) : > "$S/enabled/docker"; : > "$S/active/docker" ;;
      containerd.io) containerd_config; : > "$S/enabled/containerd"; : > "$S/active/containerd" ;;
    esac
  done < "$S/pending" ;;
*) echo "sim apt-get: $sub?" >&2; exit 100 ;;
esac
`,
	"dpkg": `
[ "$1" = -s ] || { echo "sim dpkg: only -s" >&2; exit 2; }
shift; rc=0
for p; do
  if [ -e "$S/installed/$p" ]; then printf 'Package: %s\nStatus: install ok installed\nVersion: %s\n\n' "$p" "$(cat "$S/installed/$p")"
  else echo "dpkg-query: package '$p' is not installed and no information is available" >&2; rc=1; fi
done
exit $rc
`,
	"apt-mark": `
case $1 in
hold) shift; for p; do [ -e "$S/installed/$p" ] || { echo "E: Unable to locate package $p" >&2; exit 100; }; : > "$S/held/$p"; echo "$p set on hold."; done ;;
showhold) ls "$S/held" ;;
*) echo "sim apt-mark: $1?" >&2; exit 100 ;;
esac
`,
	"yum": simRPMTool,
	"dnf": simRPMTool,
	"yum-config-manager": `
[ -e "$S/installed/yum-utils" ] || { echo "yum-config-manager: command not found" >&2; exit 127; }
repo=
while [ $# -gt 0 ]; do
  case $1 in
    --setopt=proxy=*) ;;
    --add-repo) shift; repo=$1 ;;
    --add-repo=*) repo=${1#*=} ;;
    *) echo "sim yum-config-manager: $1?" >&2; exit 1 ;;
  esac
  shift
done
add_repo "$repo"
`,
	"rpm": `
[ "$1" = -q ] || { echo "sim rpm: only -q" >&2; exit 2; }
shift; rc=0
for spec; do
  if found=$(for f in "$S"/installed/*; do [ -e "$f" ] && echo "${f##*/} $(cat "$f")"; done | pick "$spec" bare); then
    echo "${found% *}-${found#* }.x86_64"
  else echo "package $spec is not installed"; rc=$((rc+1)); fi
done
exit $rc
`,
	"systemctl": `
unit=${2%.service}
case $unit in
  docker) pkg=docker-ce ;; containerd) pkg=containerd.io ;; kubelet) pkg=kubelet ;; *) pkg= ;;
esac
known() { [ -n "$pkg" ] && [ -e "$S/installed/$pkg" ] || { echo "Failed to $1 $unit.service: Unit $unit.service not found." >&2; exit 5; }; }
case $1 in
daemon-reload) echo reload >> "$S/systemd" ;;
restart|start) known "$1"; : > "$S/active/$unit"; echo "restart $unit" >> "$S/systemd" ;;
enable) known enable; : > "$S/enabled/$unit" ;;
is-enabled) if [ -e "$S/enabled/$unit" ]; then echo enabled; else echo disabled; exit 1; fi ;;
*) echo "sim systemctl: $1?" >&2; exit 2 ;;
esac
`,
	"curl": `
out=; url=; flags=
while [ $# -gt 0 ]; do
  case $1 in
    -fsSL) flags=1 ;;
    -x) shift ;;
    -o) shift; out=$1 ;;
    -*) echo "sim curl: option $1?" >&2; exit 2 ;;
    *) url=$1 ;;
  esac
  shift
done
[ -n "$flags" ] && [ -n "$out" ] && [ -n "$url" ] || { echo "sim curl: want -fsSL, -o FILE and a URL" >&2; exit 2; }
[ -d "$(dirname "$out")" ] || { echo "curl: (23) Failure writing output to destination" >&2; exit 23; }
printf -- '-----BEGIN PGP PUBLIC KEY BLOCK-----\n%s\n-----END PGP PUBLIC KEY BLOCK-----\n' "$url" > "$out"
`,
	"gpg": `
out=; in=; yes=; dearmor=
while [ $# -gt 0 ]; do
  case $1 in
    --batch) ;; --yes) yes=1 ;; --dearmor) dearmor=1 ;;
    -o|--output) shift; out=$1 ;;
    -*) echo "sim gpg: option $1?" >&2; exit 2 ;;
    *) in=$1 ;;
  esac
  shift
done
[ -n "$dearmor" ] && [ -n "$out" ] || { echo "sim gpg: want --dearmor -o FILE" >&2; exit 2; }
if [ -e "$out" ] && [ -z "$yes" ]; then echo "gpg: File '$out' exists. Overwrite? (y/N) EOF" >&2; exit 2; fi
if [ -n "$in" ]; then data=$(cat "$in") || exit 2; else data=$(cat); fi
case $data in "-----BEGIN PGP"*) ;; *) echo "gpg: no valid OpenPGP data found." >&2; exit 2 ;; esac
printf 'DEARMORED %s\n' "$data" > "$out"
`,
	"swapoff": `
[ "$1" = -a ] || exit 1
printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' > "$FAKEROOT/proc/swaps"
`,
	"modprobe": `
for m; do
  case $m in
    overlay) printf 'nodev\toverlay\n' >> "$FAKEROOT/proc/filesystems" ;;
    br_netfilter) mkdir -p "$FAKEROOT/proc/sys/net/bridge"
      echo 0 > "$FAKEROOT/proc/sys/net/bridge/bridge-nf-call-iptables"
      echo 0 > "$FAKEROOT/proc/sys/net/bridge/bridge-nf-call-ip6tables" ;;
    *) echo "modprobe: FATAL: Module $m not found" >&2; exit 1 ;;
  esac
done
`,
	"sysctl": `
rc=0
case $1 in
--system)
  for f in "$FAKEROOT"/etc/sysctl.d/*.conf; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do
      case $line in ''|'#'*|';'*) continue ;; esac
      k=$(echo "${line%%=*}" | tr -d ' \t'); v=$(echo "${line#*=}" | tr -d ' \t')
      p=$FAKEROOT/proc/sys/$(echo "$k" | tr . /)
      if [ -e "$p" ]; then echo "$v" > "$p"; echo "$k = $v"; else echo "sysctl: cannot stat /proc/sys/$k: No such file or directory" >&2; rc=255; fi
    done < "$f"
  done ;;
-n)
  shift
  for k; do
    p=$FAKEROOT/proc/sys/$(echo "$k" | tr . /)
    if [ -e "$p" ]; then cat "$p"; else echo "sysctl: cannot stat /proc/sys/$k: No such file or directory" >&2; rc=255; fi
  done ;;
*) echo "sim sysctl: $1?" >&2; exit 2 ;;
esac
exit $rc
`,
	"containerd": `
[ -e "$S/installed/containerd.io" ] || { echo "containerd: command not found" >&2; exit 127; }
[ "$1 $2" = "config default" ] || { echo "sim containerd: $*?" >&2; exit 2; }
cat <<'TOML'
version = 2
root = "/var/lib/containerd"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.8"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            BinaryName = ""
            SystemdCgroup = false
TOML
`,
}

// simRPMTool is yum and dnf: install, and (dnf) config-manager.
const simRPMTool = `
me=$(basename "$0")
sub=; pkgs=; disex=; repo=
while [ $# -gt 0 ]; do
  case $1 in
    -y) ;;
    --setopt=proxy=*) ;;
    --disableexcludes=*) disex=${1#*=} ;;
    --add-repo) shift; repo=$1 ;;
    --add-repo=*) repo=${1#*=} ;;
    -*) echo "sim $me: unknown option $1" >&2; exit 1 ;;
    *) if [ -z "$sub" ]; then sub=$1; else pkgs="$pkgs $1"; fi ;;
  esac
  shift
done
case $sub in
config-manager)
  [ "$me" = dnf ] && [ -e "$S/installed/dnf-plugins-core" ] || { echo "No such command: config-manager." >&2; exit 1; }
  add_repo "$repo" ;;
install)
  : > "$S/pending"
  for spec in $pkgs; do
    case $spec in
      yum-utils|device-mapper-persistent-data|lvm2|dnf-plugins-core) found="$spec 1.0-1" ;;
      *) found=$(pick "$spec" bare < "$S/catalog") || { echo "No package $spec available." >&2; exit 1; } ;;
    esac
    n=${found%% *}
    case $n in
      docker-ce|docker-ce-cli|containerd.io) [ -e "$FAKEROOT/etc/yum.repos.d/docker-ce.repo" ] || { echo "No package $spec available." >&2; exit 1; } ;;
      kubelet|kubeadm|kubectl) [ -e "$FAKEROOT/etc/yum.repos.d/kubernetes.repo" ] && [ "$disex" = kubernetes ] || { echo "No package $spec available (excluded)." >&2; exit 1; } ;;
    esac
    echo "$found" >> "$S/pending"
  done
  while read -r n vr; do
    if [ -e "$S/installed/$n" ]; then
      cur=$(cat "$S/installed/$n")
      if not_newer "$vr" "$cur"; then
        echo "Package $n-$cur is already installed."; continue # not older: install never downgrades
      fi
    fi
    echo "$vr" > "$S/installed/$n"
    [ "$n" != containerd.io ] || containerd_config
  done < "$S/pending" ;;
downgrade)
  for spec in $pkgs; do
    found=$(pick "$spec" < "$S/catalog") || { echo "No package $spec available." >&2; exit 1; }
    n=${found%% *}; vr=${found#* }
    cur=$(cat "$S/installed/$n" 2>/dev/null) || { echo "Packages for argument $spec available, but not installed." >&2; exit 1; }
    if [ "$cur" = "$vr" ] || ! not_newer "$vr" "$cur"; then
      echo "Package $n of lowest version already installed, cannot downgrade it." >&2; exit 1
    fi
    echo "$vr" > "$S/installed/$n"
  done ;;
*) echo "sim $me: $sub?" >&2; exit 1 ;;
esac
`

// simLib are shell functions every stand-in may call.
const simLib = `
# pick SPEC [bare] reads "name [epoch:]version-release" lines and prints the
# first that SPEC names as name-version or name-version-release (with bare,
# as name too), as "name version-release"; it fails when none does.
pick() {
  while read -r n evr; do
    vr=${evr#*:}; v=${vr%%-*}
    if [ "$1" = "$n-$v" ] || [ "$1" = "$n-$vr" ] || { [ -n "$2" ] && [ "$1" = "$n" ]; }; then echo "$n $vr"; return; fi
  done
  return 1
}
# not_newer A B: version A is B or older, as sort -V orders versions.
not_newer() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }
add_repo() {
  [ -n "$1" ] || exit 1
  echo "[docker-ce-stable]
baseurl=$1" > "$FAKEROOT/etc/yum.repos.d/$(basename "$1")"
}
# containerd_config writes what containerd.io's package ships, unless there is a config.
containerd_config() {
  mkdir -p "$FAKEROOT/etc/containerd"
  [ -e "$FAKEROOT/etc/containerd/config.toml" ] || echo 'disabled_plugins = ["cri"]' > "$FAKEROOT/etc/containerd/config.toml"
}
`

// simOS is one distribution release to simulate.
type simOS struct {
	name      string // for test names
	family    string // apt, yum or dnf: the stand-ins it gets
	osRelease string
	oldApt    bool // apt before 1.5: https needs apt-transport-https
}

var (
	simUbuntu1604 = simOS{"ubuntu-16.04", "apt", `NAME="Ubuntu"
VERSION="16.04.7 LTS (Xenial Xerus)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 16.04.7 LTS"
VERSION_ID="16.04"
VERSION_CODENAME=xenial
UBUNTU_CODENAME=xenial`, true}
	simDebian12 = simOS{"debian-12", "apt", `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian`, false}
	simCentOS7 = simOS{"centos-7", "yum", `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"`, false}
	simRocky8 = simOS{"rocky-8", "dnf", `NAME="Rocky Linux"
VERSION="8.9 (Green Obsidian)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Rocky Linux 8.9 (Green Obsidian)"`, false}
	simMint21 = simOS{"linuxmint-21", "apt", `NAME="Linux Mint"
VERSION="21.3 (Virginia)"
ID=linuxmint
ID_LIKE="ubuntu debian"
PRETTY_NAME="Linux Mint 21.3"
VERSION_ID="21.3"
VERSION_CODENAME=virginia
UBUNTU_CODENAME=jammy`, false}
	simAlpine = simOS{"alpine-3.20", "", `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"`, false}

	simSupported = []simOS{simUbuntu1604, simDebian12, simCentOS7, simRocky8}
)

// simFacts are the facts fleet would gather on the release.
func (o simOS) facts() *Facts {
	f := osFacts(o.osRelease)
	f.Arch, f.DebArch, f.Init = "x86_64", "amd64", "systemd"
	return f
}

// simHost is a simulated host: a folder that stands for its root, a
// folder of stand-in commands, and a record of what ran.
type simHost struct {
	t      *testing.T
	os     simOS
	root   string
	bin    string
	mu     sync.Mutex
	lines  []string // every command line, as the engine sent it
	failed []string // lines that ran a command that is not there (exit 127)
}

func newSimHost(t *testing.T, o simOS) *simHost {
	t.Helper()
	dir := t.TempDir()
	h := &simHost{t: t, os: o, root: filepath.Join(dir, "root"), bin: filepath.Join(dir, "bin")}
	for _, d := range []string{"etc/systemd/system", "etc/sysctl.d", "etc/modules-load.d", "proc/sys/net/ipv4",
		"var/lib/sim/installed", "var/lib/sim/enabled", "var/lib/sim/active", "var/lib/sim/held", "sys/module"} {
		h.mkdir(d)
	}
	h.write("etc/os-release", o.osRelease+"\n")
	h.write("etc/fstab", "UUID=1234 / ext4 errors=remount-ro 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n#/dev/sdb1 none swap sw 0 0\n")
	h.write("proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swap.img                               file\t\t2097148\t\t0\t\t-2\n")
	h.write("proc/filesystems", "nodev\tsysfs\nnodev\tproc\n\text4\n")
	h.write("proc/sys/net/ipv4/ip_forward", "0\n")
	switch o.family {
	case "apt":
		h.mkdir("etc/apt/sources.list.d")
		if !o.oldApt {
			h.write("usr/lib/apt/methods/https", "")
		}
		h.write("var/lib/sim/catalog", simCatalog["apt"])
	case "yum", "dnf":
		h.mkdir("etc/yum.repos.d")
		h.write("var/lib/sim/catalog", simCatalog["rpm"])
	}

	h.mkdirAbs(h.bin)
	paths, err := simToolPaths()
	if err != nil {
		t.Fatal(err)
	}
	for tool, p := range paths {
		if err := os.Symlink(p, filepath.Join(h.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range append(slices.Clone(simCommon), simFamilyTools[o.family]...) {
		script := "#!/bin/sh\nS=$FAKEROOT/var/lib/sim\nPATH=$SIMBIN:/usr/bin:/bin\n" + simLib +
			`printf '%s\n' "$(basename "$0") $*" >> "$FAKEROOT/calls.log"` + "\n" + simScripts[name]
		if err := os.WriteFile(filepath.Join(h.bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *simHost) mkdir(rel string) { h.mkdirAbs(filepath.Join(h.root, rel)) }

func (h *simHost) mkdirAbs(p string) {
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func (h *simHost) write(rel, content string) {
	p := filepath.Join(h.root, rel)
	h.mkdirAbs(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// read returns the content of a host file, "" when it does not exist.
func (h *simHost) read(abs string) string {
	b, err := os.ReadFile(h.path(abs))
	if err != nil {
		return ""
	}
	return string(b)
}

func (h *simHost) exists(abs string) bool {
	_, err := os.Stat(h.path(abs))
	return err == nil
}

// path maps a path of the host to the folder that stands for it.
func (h *simHost) path(abs string) string { return filepath.Join(h.root, filepath.FromSlash(abs)) }

// installed returns the version of a package the host has, "" when none.
func (h *simHost) installed(pkg string) string {
	return strings.TrimSpace(h.read("/var/lib/sim/installed/" + pkg))
}

func (h *simHost) state(kind, name string) bool { return h.exists("/var/lib/sim/" + kind + "/" + name) }

// install marks packages installed, as if an earlier run (or an admin)
// had installed them.
func (h *simHost) install(pkgs map[string]string) {
	for p, v := range pkgs {
		h.write("var/lib/sim/installed/"+p, v+"\n")
	}
}

// calls returns the stand-ins' log, one invocation a line.
func (h *simHost) calls() []string {
	s := strings.TrimSpace(h.read("/calls.log"))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// callsOf returns the logged invocations of one command.
func (h *simHost) callsOf(cmd string) []string {
	return slices.DeleteFunc(h.calls(), func(c string) bool { return c != cmd && !strings.HasPrefix(c, cmd+" ") })
}

func (h *simHost) resetCalls() {
	_ = os.Remove(h.path("/calls.log"))
	h.mu.Lock()
	h.lines, h.failed = nil, nil
	h.mu.Unlock()
}

// simAbsPath finds the absolute paths a command line names under the
// folders the simulation moves.
var simAbsPath = regexp.MustCompile(`(^|[\s'"=<>;|&(])/(etc|proc|sys|usr/lib)/`)

// simCurl is a download as the recipes must make it.
var simCurl = regexp.MustCompile(`^curl -fsSL (-x \S+ )?-o /\S+ https://\S+$`)

func (h *simHost) rewrite(line string) string {
	return simAbsPath.ReplaceAllString(line, "${1}"+h.root+"/${2}/")
}

func (h *simHost) Exec(ctx context.Context, cmd *fleet.Command) error {
	h.mu.Lock()
	h.lines = append(h.lines, inlineVars(cmd))
	h.mu.Unlock()
	stderr, err := runSh(ctx, cmd, "/bin/sh", h.rewrite(cmd.Line), h.root,
		"PATH="+h.bin, "SIMBIN="+h.bin, "FAKEROOT="+h.root, "HOME="+h.root, "LC_ALL=C")
	if ee := (*fleet.ExitError)(nil); errors.As(err, &ee) && ee.Status == 127 {
		h.mu.Lock()
		h.failed = append(h.failed, cmd.Line+" => "+strings.TrimSpace(stderr))
		h.mu.Unlock()
	}
	return err
}

func (h *simHost) Put(ctx context.Context, src *fleet.LocalFile, dst string, o fleet.PutOptions) (bool, error) {
	h.mu.Lock()
	h.lines = append(h.lines, "put "+dst)
	h.mu.Unlock()
	p := h.path(dst)
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
		return false, fmt.Errorf("put %s: the folder %s does not exist", dst, filepath.Dir(dst))
	}
	mode := cmp.Or(o.Mode, src.Mode)
	if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, src.Data) {
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() == mode.Perm() {
			return false, nil
		}
	}
	if err := os.WriteFile(p, src.Data, mode); err != nil {
		return false, err
	}
	return true, os.Chmod(p, mode)
}

func (h *simHost) Probe(ctx context.Context, path string, sudo bool, pw []byte) (*fleet.RemoteFile, error) {
	p := h.path(path)
	fi, err := os.Stat(p)
	if err != nil {
		return &fleet.RemoteFile{}, nil
	}
	rf := &fleet.RemoteFile{Exists: true, Dir: fi.IsDir(), Size: fi.Size(), Mode: fi.Mode().Perm(), Owner: "root", Group: "root"}
	if !fi.IsDir() {
		b, _ := os.ReadFile(p)
		sum := sha256.Sum256(b)
		rf.SHA256 = hex.EncodeToString(sum[:])
	}
	return rf, nil
}

// digest sums every file of the host (names, modes, contents) except the
// stand-ins' log: equal digests, nothing changed.
func (h *simHost) digest() string {
	sum := sha256.New()
	_ = filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == h.path("/calls.log") {
			return err
		}
		fi, _ := d.Info()
		fmt.Fprintf(sum, "%s %v\n", strings.TrimPrefix(p, h.root), fi.Mode())
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			sum.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(sum.Sum(nil))
}

// simBuiltin loads a built-in recipe with variables set.
func simBuiltin(t *testing.T, name string, vars map[string]string) *Recipe {
	t.Helper()
	r, err := Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) > 0 {
		if err := r.SetVars(vars); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// simApply applies r to h and fails the test on an error.
func simApply(t *testing.T, h *simHost, r *Recipe, f *Facts, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Apply(ctx, h, r, f, o)
	if err != nil {
		t.Fatalf("%s on %s: %v\n%s\nstand-ins:\n%s", r.Name, h.os.name, err, simSteps(rep), strings.Join(h.calls(), "\n"))
	}
	h.checkFound()
	return rep
}

// checkFound fails the test if a command ran that the host does not have:
// a command of another family's package manager, or one the recipes may
// not use.
func (h *simHost) checkFound() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.failed {
		h.t.Errorf("%s: ran a command this host does not have:\n%s", h.os.name, l)
	}
}

// simSteps prints a report a step a line.
func simSteps(rep *Report) string {
	if rep == nil {
		return "(no report)"
	}
	var b strings.Builder
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "  %-10s %s", s.Status, s.Name)
		if s.Reason != "" {
			fmt.Fprintf(&b, " (%s)", s.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// changedSteps names the steps of rep that changed, in order.
func changedSteps(rep *Report) (names []string) {
	for _, s := range rep.Steps {
		if s.Status == Changed {
			names = append(names, s.Name)
		}
	}
	return names
}

// checkPackageTools checks that the host ran its family's package tools
// and no other family's.
func (h *simHost) checkPackageTools(t *testing.T) {
	t.Helper()
	want := map[string]string{"apt": "apt-get", "yum": "yum", "dnf": "dnf"}[h.os.family]
	if len(h.callsOf(want)) == 0 {
		t.Errorf("%s: %s never ran; calls:\n%s", h.os.name, want, strings.Join(h.calls(), "\n"))
	}
	own := simFamilyTools[h.os.family]
	word := regexp.MustCompile(`(^|[\s;&|(])(apt-get|apt-mark|dpkg|yum-config-manager|yum|dnf|rpm)\s`)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		for _, m := range word.FindAllStringSubmatch(l, -1) {
			if !slices.Contains(own, m[2]) {
				t.Errorf("%s (%s family) ran %s: %s", h.os.name, h.os.family, m[2], l)
			}
		}
	}
}

func TestBuiltinRecipesParse(t *testing.T) {
	all, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range all {
		names = append(names, r.Name)
	}
	if want := []string{"containerd", "docker", "kubernetes"}; !slices.Equal(names, want) {
		t.Fatalf("built-in recipes %v, want %v", names, want)
	}
	for _, r := range all {
		src, err := BuiltinSource(r.Name)
		if err != nil {
			t.Fatal(err)
		}
		// fleet recipes show prints the file: it starts by saying what it
		// does and what its variables mean.
		if !bytes.HasPrefix(src, []byte("# "+r.Name+": ")) {
			t.Errorf("%s: the file does not start with a comment that names it", r.Name)
		}
		for v := range r.Vars {
			if !bytes.Contains(src, []byte("#   "+v)) && !bytes.Contains(src, []byte("# "+v)) {
				t.Errorf("%s: the comments do not explain variable %s", r.Name, v)
			}
		}
		if r.Description == "" {
			t.Errorf("%s: no description", r.Name)
		}
		// Idempotence starts here: every command is guarded or triggered.
		for _, s := range allSteps(r) {
			if s.Run != "" && s.Unless == "" && s.Creates == "" && len(s.WhenChanged) == 0 {
				t.Errorf("%s: step %q runs without unless, creates or when_changed", r.Name, s.Name)
			}
		}
		var platforms []string
		for _, p := range r.Platforms {
			platforms = append(platforms, p.Name)
		}
		if !slices.Equal(platforms, []string{"apt", "yum", "dnf"}) {
			t.Errorf("%s: platforms %v", r.Name, platforms)
		}
	}
}

// TestBuiltinCgroupDriverSteps checks that the steps that set the cgroup
// driver say so, which is what lets fleet refuse them on joined nodes.
func TestBuiltinCgroupDriverSteps(t *testing.T) {
	for recipe, steps := range map[string][]string{"docker": {"daemon.json", "containerd CRI"}, "containerd": {"containerd config"}, "kubernetes": nil} {
		r := simBuiltin(t, recipe, nil)
		var marked []string
		for _, s := range allSteps(r) {
			if s.CgroupDriver != "" {
				if s.CgroupDriver != "systemd" {
					t.Errorf("%s: step %q sets cgroup_driver %q", recipe, s.Name, s.CgroupDriver)
				}
				marked = append(marked, s.Name)
			}
		}
		if !slices.Equal(marked, steps) {
			t.Errorf("%s: steps marked cgroup_driver: %v, want %v", recipe, marked, steps)
		}
	}
}

// TestBuiltinContainerdCRISame keeps the docker recipe's containerd CRI
// step (k8s_node=true) the containerd recipe's config step.
func TestBuiltinContainerdCRISame(t *testing.T) {
	find := func(r *Recipe, name string) *Step {
		i := slices.IndexFunc(r.Steps, func(s Step) bool { return s.Name == name })
		if i < 0 {
			t.Fatalf("%s: no step %q", r.Name, name)
		}
		return &r.Steps[i]
	}
	d, c := find(simBuiltin(t, "docker", nil), "containerd CRI"), find(simBuiltin(t, "containerd", nil), "containerd config")
	if d.Run != c.Run || d.Unless != c.Unless || d.CgroupDriver != c.CgroupDriver {
		t.Errorf("docker's containerd CRI step differs from containerd's config step:\n%s\n---\n%s", d.Run, c.Run)
	}
}

func TestBuiltinSelect(t *testing.T) {
	cases := []struct {
		os   simOS
		want string
	}{
		{simUbuntu1604, "apt"},
		{simDebian12, "apt"},
		{simCentOS7, "yum"},
		{simRocky8, "dnf"},
		{simMint21, "apt"},
		{simOS{"rhel-7.9", "yum", "ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"7.9\"", false}, "yum"},
		{simOS{"centos-stream-9", "dnf", "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"", false}, "dnf"},
		{simOS{"almalinux-9", "dnf", "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"", false}, "dnf"},
		{simOS{"oracle-8", "dnf", "ID=\"ol\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.10\"", false}, "dnf"},
		{simOS{"ubuntu-24.04", "apt", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble", false}, "apt"},
		{simOS{"raspbian-12", "apt", "ID=raspbian\nID_LIKE=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm", false}, "apt"},
	}
	for _, name := range []string{"docker", "containerd", "kubernetes"} {
		r := simBuiltin(t, name, nil)
		for _, c := range cases {
			p, err := r.Select(c.os.facts())
			if err != nil {
				t.Errorf("%s on %s: %v", name, c.os.name, err)
				continue
			}
			if p.Name != c.want {
				t.Errorf("%s on %s: platform %q, want %q", name, c.os.name, p.Name, c.want)
			}
		}
		for _, o := range []simOS{
			simAlpine,
			{name: "debian-9", osRelease: "ID=debian\nVERSION_ID=\"9\"\nVERSION_CODENAME=stretch"},
			{name: "centos-6", osRelease: "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"6\""},
			{name: "no-os-release"},
		} {
			_, err := r.Select(o.facts())
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Errorf("%s on %s: %v, want an UnsupportedError", name, o.name, err)
				continue
			}
			for _, s := range []string{"ubuntu >=16.04", "debian >=10", "centos 7", "rhel 7", "centos >=8", "rocky >=8", "almalinux >=8", "rhel >=8", "debian-like"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s on %s: %q does not list %q", name, o.name, err, s)
				}
			}
		}
	}
}

// TestBuiltinUnsupported checks that Apply on an unsupported host runs
// nothing.
func TestBuiltinUnsupported(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"docker", "containerd", "kubernetes"} {
		h := newSimHost(t, simAlpine)
		rep, err := Apply(context.Background(), h, simBuiltin(t, name, nil), simAlpine.facts(), Options{})
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "alpine 3.20.3") || !strings.Contains(err.Error(), "ubuntu >=16.04") {
			t.Errorf("%s on alpine: %v", name, err)
		}
		if len(h.lines) != 0 || len(rep.Steps) != 0 {
			t.Errorf("%s on alpine ran %q", name, h.lines)
		}
	}
}

// simDaemonJSON reads and parses the host's daemon.json.
func simDaemonJSON(t *testing.T, h *simHost) map[string]any {
	t.Helper()
	raw := h.read("/etc/docker/daemon.json")
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("%s: daemon.json is not JSON: %v\n%s", h.os.name, err, raw)
	}
	return m
}

// checkIdempotent applies r again and wants nothing changed.
func checkIdempotent(t *testing.T, h *simHost, r *Recipe, f *Facts) {
	t.Helper()
	before := h.digest()
	h.resetCalls()
	rep := simApply(t, h, r, f, Options{})
	if n := rep.Count(Changed); n != 0 {
		t.Errorf("%s on %s: the second run changed %d steps:\n%s\nstand-ins:\n%s", r.Name, h.os.name, n, simSteps(rep), strings.Join(h.calls(), "\n"))
	}
	if h.digest() != before {
		t.Errorf("%s on %s: the second run changed files", r.Name, h.os.name)
	}
}

func TestBuiltinDocker(t *testing.T) {
	for _, o := range simSupported {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			h := newSimHost(t, o)
			r := simBuiltin(t, "docker", nil)
			f := o.facts()

			// A dry run on a fresh host only looks: guards are read-only.
			before := h.digest()
			dry, err := Apply(context.Background(), h, r, f, Options{DryRun: true})
			if err != nil {
				t.Fatalf("dry run: %v\n%s", err, simSteps(dry))
			}
			if h.digest() != before || len(h.callsOf("systemctl daemon-reload")) > 0 {
				t.Errorf("the dry run changed the host:\n%s", strings.Join(h.calls(), "\n"))
			}
			h.resetCalls()

			rep := simApply(t, h, r, f, Options{})
			if rep.Platform != o.family {
				t.Errorf("platform %q, want %q", rep.Platform, o.family)
			}
			h.checkPackageTools(t)
			for _, p := range []string{"docker-ce", "docker-ce-cli", "containerd.io"} {
				if h.installed(p) == "" {
					t.Errorf("%s not installed", p)
				}
			}
			if v := h.installed("docker-ce"); !strings.Contains(v, "27.3.1") && !strings.Contains(v, "26.1.4") {
				t.Errorf("docker-ce %s installed, want the latest", v)
			}
			d := simDaemonJSON(t, h)
			if got := fmt.Sprint(d["exec-opts"]); got != "[native.cgroupdriver=systemd]" {
				t.Errorf("exec-opts %s", got)
			}
			if d["log-driver"] != "json-file" || fmt.Sprint(d["log-opts"]) != "map[max-size:100m]" || d["storage-driver"] != "overlay2" {
				t.Errorf("daemon.json %v", d)
			}
			// Unpinned on CentOS 7 means Docker 26, which refuses the
			// option: it only comes with an older pin (below).
			if _, ok := d["storage-opts"]; ok {
				t.Errorf("storage-opts %v without a pin below 24", d["storage-opts"])
			}
			if got := h.installed("apt-transport-https"); (got != "") != o.oldApt {
				t.Errorf("apt-transport-https %q installed (apt before 1.5: %v)", got, o.oldApt)
			}
			if !h.exists("/etc/systemd/system/docker.service.d") {
				t.Error("no docker.service.d")
			}
			if h.exists("/etc/systemd/system/docker.service.d/http-proxy.conf") {
				t.Error("a proxy drop-in without http_proxy")
			}
			if !h.state("enabled", "docker") || !h.state("active", "docker") {
				t.Error("docker not enabled and started")
			}
			if got := h.callsOf("systemctl restart"); !slices.Equal(got, []string{"systemctl restart docker"}) {
				t.Errorf("restarts: %q", got)
			}
			for _, c := range h.calls() {
				if strings.Contains(c, "proxy") || strings.Contains(c, " -x ") {
					t.Errorf("a proxy without http_proxy: %s", c)
				}
			}
			if o.family == "apt" {
				key := h.read("/etc/apt/keyrings/docker.gpg")
				distro := map[string]string{"ubuntu": "ubuntu", "debian": "debian"}[f.ID]
				if !strings.HasPrefix(key, "DEARMORED") || !strings.Contains(key, "https://download.docker.com/linux/"+distro+"/gpg") {
					t.Errorf("keyring %q", key)
				}
				list := h.read("/etc/apt/sources.list.d/docker.list")
				want := fmt.Sprintf("deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/%s %s stable\n", distro, f.Codename)
				if list != want {
					t.Errorf("docker.list:\n%q\nwant\n%q", list, want)
				}
				if h.exists("/etc/apt/keyrings/docker.asc") || h.exists("/etc/apt/keyrings/docker.gpg.tmp") {
					t.Error("temporary key files left behind")
				}
			} else if repo := h.read("/etc/yum.repos.d/docker-ce.repo"); !strings.Contains(repo, "https://download.docker.com/linux/centos/docker-ce.repo") {
				t.Errorf("docker-ce.repo %q", repo)
			}
			checkIdempotent(t, h, r, f)
			checkProxyAddedLater(t, h, "docker", f, "proxy drop-in", "reload systemd", "restart docker")
		})
	}
}

// TestBuiltinDockerDerivative checks that an Ubuntu derivative gets
// Docker's Ubuntu repository for the Ubuntu release it is built on.
func TestBuiltinDockerDerivative(t *testing.T) {
	t.Parallel()
	h := newSimHost(t, simMint21)
	simApply(t, h, simBuiltin(t, "docker", nil), simMint21.facts(), Options{})
	want := "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu jammy stable\n"
	if got := h.read("/etc/apt/sources.list.d/docker.list"); got != want {
		t.Errorf("docker.list %q, want %q", got, want)
	}
	if c := h.callsOf("curl"); len(c) != 1 || !strings.Contains(c[0], "https://download.docker.com/linux/ubuntu/gpg") {
		t.Errorf("curl %q", c)
	}
}

// TestBuiltinDockerPinned checks each way of pinning against the version
// strings the repositories really use, and then (then) that a new pin on
// a host with another version installs it, and the old pin's guard does
// not hide it.
func TestBuiltinDockerPinned(t *testing.T) {
	cases := []struct {
		os      simOS
		version string
		want    map[string]string // package -> installed version
		absent  []string
		kernel  bool // storage-opts overlay2.override_kernel_check
	}{
		// The seed's version, from before Debian versions had an epoch and
		// before docker-ce-cli was split out.
		{simUbuntu1604, "18.06.2", map[string]string{"docker-ce": "18.06.2~ce~3-0~ubuntu"}, []string{"docker-ce-cli"}, false},
		{simUbuntu1604, "17.03.0", map[string]string{"docker-ce": "17.03.0~ce-0~ubuntu-xenial"}, nil, false},
		// 20.10.2 must not take 20.10.24, the newer version it is a prefix of.
		{simUbuntu1604, "20.10.2", map[string]string{"docker-ce": "5:20.10.2~3-0~ubuntu-focal", "docker-ce-cli": "5:20.10.2~3-0~ubuntu-focal", "containerd.io": "1.7.22-1"}, nil, false},
		{simDebian12, "24.0.7", map[string]string{"docker-ce": "5:24.0.7-1~debian.12~bookworm", "docker-ce-cli": "5:24.0.7-1~debian.12~bookworm"}, nil, false},
		{simCentOS7, "18.06.2", map[string]string{"docker-ce": "18.06.2.ce-3.el7"}, []string{"docker-ce-cli"}, true},
		{simCentOS7, "20.10.2", map[string]string{"docker-ce": "20.10.2-3.el7", "docker-ce-cli": "20.10.2-3.el7"}, nil, true},
		{simCentOS7, "26.1.4", map[string]string{"docker-ce": "26.1.4-1.el8"}, nil, false},
		{simRocky8, "24.0.7", map[string]string{"docker-ce": "24.0.7-1.el8", "docker-ce-cli": "24.0.7-1.el8", "containerd.io": "1.6.33-3.1.el8"}, nil, false},
		{simRocky8, "20.10.24", map[string]string{"docker-ce": "20.10.24-3.el8"}, nil, false},
		{simUbuntu1604, "20.10.24", map[string]string{"docker-ce": "5:20.10.24~3-0~ubuntu-jammy"}, nil, false},
	}
	// then maps a case to the pin applied next and the docker-ce it must
	// install.
	then := map[string][2]string{
		"debian-12-24.0.7":      {"20.10.24", "5:20.10.24~3-0~ubuntu-jammy"},
		"rocky-8-20.10.24":      {"24.0.7", "24.0.7-1.el8"},
		"rocky-8-24.0.7":        {"20.10.24", "20.10.24-3.el8"},
		"centos-7-26.1.4":       {"18.06.2", "18.06.2.ce-3.el7"},
		"ubuntu-16.04-20.10.24": {"18.06.2", "18.06.2~ce~3-0~ubuntu"},
	}
	names := map[string]bool{}
	for _, c := range cases {
		names[c.os.name+"-"+c.version] = true
	}
	for n := range then {
		if !names[n] {
			t.Fatalf("then names no case: %s", n)
		}
	}
	for _, c := range cases {
		t.Run(c.os.name+"-"+c.version, func(t *testing.T) {
			t.Parallel()
			h := newSimHost(t, c.os)
			r := simBuiltin(t, "docker", map[string]string{"docker_version": c.version})
			simApply(t, h, r, c.os.facts(), Options{})
			for p, v := range c.want {
				if got := h.installed(p); got != v {
					t.Errorf("%s %q installed, want %q", p, got, v)
				}
			}
			for _, p := range c.absent {
				if got := h.installed(p); got != "" {
					t.Errorf("%s %s installed", p, got)
				}
			}
			opts, ok := simDaemonJSON(t, h)["storage-opts"]
			if ok != c.kernel || ok && fmt.Sprint(opts) != "[overlay2.override_kernel_check=true]" {
				t.Errorf("storage-opts %v (present %v, want %v)", opts, ok, c.kernel)
			}
			checkIdempotent(t, h, r, c.os.facts())
			next, ok := then[c.os.name+"-"+c.version]
			if !ok {
				return
			}
			r = simBuiltin(t, "docker", map[string]string{"docker_version": next[0]})
			rep := simApply(t, h, r, c.os.facts(), Options{})
			if got := h.installed("docker-ce"); got != next[1] {
				t.Errorf("then %s: installed %s, want %s", next[0], got, next[1])
			}
			if !slices.Contains(changedSteps(rep), "restart docker") {
				t.Errorf("then %s: docker not restarted after the new version:\n%s", next[0], simSteps(rep))
			}
			checkIdempotent(t, h, r, c.os.facts())
		})
	}
}

// TestBuiltinProxyDropInQuoting: a proxy value with quotes, a backslash and
// a % (a URL-encoded password) lands in the systemd drop-in as one
// setting's text, escaped for systemd, with no setting of its own.
func TestBuiltinProxyDropInQuoting(t *testing.T) {
	const proxy = `http://u:p%40ss@proxy.lan:3128/" "LD_PRELOAD=/tmp/evil.so\`
	for _, name := range []string{"docker", "containerd"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := simSupported[0]
			h := newSimHost(t, o)
			r := simBuiltin(t, name, map[string]string{"http_proxy": proxy})
			simApply(t, h, r, o.facts(), Options{})
			esc := `http://u:p%%40ss@proxy.lan:3128/\" \"LD_PRELOAD=/tmp/evil.so\\`
			want := "[Service]\nEnvironment=\"HTTP_PROXY=" + esc + "\" \"HTTPS_PROXY=" + esc + "\"\n"
			if got := h.read("/etc/systemd/system/" + name + ".service.d/http-proxy.conf"); got != want {
				t.Errorf("drop-in\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestBuiltinProxy applies each recipe with http_proxy on each supported
// release: every command that reaches the network gets the proxy
// (checkProxied), the runtime's systemd drop-in holds it, and a second run
// changes nothing.
func TestBuiltinProxy(t *testing.T) {
	const proxy = "http://proxy.lan:3128"
	const dropIn = "[Service]\nEnvironment=\"HTTP_PROXY=" + proxy + "\" \"HTTPS_PROXY=" + proxy + "\""
	for _, c := range []struct {
		recipe string
		vars   map[string]string
		check  func(t *testing.T, h *simHost, rep *Report)
	}{
		{"docker", map[string]string{"docker_version": "20.10.24", "no_proxy": "localhost,127.0.0.1"}, func(t *testing.T, h *simHost, rep *Report) {
			if h.installed("docker-ce") == "" {
				t.Error("docker-ce not installed")
			}
			want := dropIn + ` "NO_PROXY=localhost,127.0.0.1"` + "\n"
			if got := h.read("/etc/systemd/system/docker.service.d/http-proxy.conf"); got != want {
				t.Errorf("drop-in %q, want %q", got, want)
			}
			// The drop-in is read by daemon-reload, before the restart.
			seq := []string{"proxy drop-in", "reload systemd", "restart docker"}
			order := slices.DeleteFunc(changedSteps(rep), func(n string) bool { return !slices.Contains(seq, n) })
			if !slices.Equal(order, seq) {
				t.Errorf("changed in order %q", order)
			}
		}},
		{"containerd", nil, func(t *testing.T, h *simHost, _ *Report) {
			if got := h.read("/etc/systemd/system/containerd.service.d/http-proxy.conf"); got != dropIn+"\n" {
				t.Errorf("drop-in %q", got)
			}
			if got := h.callsOf("systemctl daemon-reload"); len(got) != 1 {
				t.Errorf("daemon-reloads %q", got)
			}
		}},
		{"kubernetes", map[string]string{"k8s_version": "1.30"}, func(t *testing.T, h *simHost, _ *Report) {
			file := "/etc/yum.repos.d/kubernetes.repo"
			if h.os.family == "apt" {
				file = "/etc/apt/sources.list.d/kubernetes.list"
			}
			if got := h.read(file); !strings.Contains(got, "/core:/stable:/v1.30/") || strings.Contains(got, "v1.31") {
				t.Errorf("%s %q", file, got)
			}
			for _, c := range h.callsOf("curl") {
				if !strings.Contains(c, "https://pkgs.k8s.io/core:/stable:/v1.30/deb/Release.key") {
					t.Error(c)
				}
			}
		}},
	} {
		for _, o := range simSupported {
			t.Run(c.recipe+"/"+o.name, func(t *testing.T) {
				t.Parallel()
				h := newSimHost(t, o)
				r := simBuiltin(t, c.recipe, map[string]string{"http_proxy": proxy})
				if err := r.SetVars(c.vars); err != nil {
					t.Fatal(err)
				}
				rep := simApply(t, h, r, o.facts(), Options{})
				checkProxied(t, h, proxy)
				c.check(t, h, rep)
				checkIdempotent(t, h, r, o.facts())
			})
		}
	}
}

// checkProxyAddedLater applies recipe again on h, which has it without a
// proxy, now with http_proxy: the steps in want change (the drop-in is
// written, systemd reloaded and the runtime restarted), nothing else, so
// nothing is installed again.
func checkProxyAddedLater(t *testing.T, h *simHost, recipe string, f *Facts, want ...string) {
	t.Helper()
	rep := simApply(t, h, simBuiltin(t, recipe, map[string]string{"http_proxy": "http://p:3128"}), f, Options{})
	if changed := changedSteps(rep); !slices.Equal(changed, want) {
		t.Errorf("proxy added later: changed %q, want %q", changed, want)
	}
}

// checkProxied checks that every command that reaches the network was
// given the proxy: curl with -x, apt with Acquire::http(s)::Proxy, yum and
// dnf with --setopt=proxy=. It also checks every download: curl -fsSL, so
// that an HTTP error fails the step, with an explicit output file, once on
// an apt host (which fetches its one key).
func checkProxied(t *testing.T, h *simHost, proxy string) {
	t.Helper()
	curls := h.callsOf("curl")
	if h.os.family == "apt" && len(curls) != 1 {
		t.Errorf("%s: curl ran %d times", h.os.name, len(curls))
	}
	for _, c := range curls {
		if !simCurl.MatchString(strings.ReplaceAll(c, h.root, "")) {
			t.Errorf("%s: %s", h.os.name, c)
		}
	}
	n := 0
	for _, c := range h.calls() {
		var want []string
		switch {
		case strings.HasPrefix(c, "curl "):
			want = []string{"-x " + proxy + " "}
		case strings.HasPrefix(c, "apt-get "):
			want = []string{"-o Acquire::http::Proxy=" + proxy + " ", "-o Acquire::https::Proxy=" + proxy + " "}
		case strings.HasPrefix(c, "yum "), strings.HasPrefix(c, "dnf "), strings.HasPrefix(c, "yum-config-manager "):
			want = []string{"--setopt=proxy=" + proxy + " "}
		default:
			continue
		}
		n++
		for _, w := range want {
			if !strings.Contains(c, w) {
				t.Errorf("%s: %q without %q", h.os.name, c, w)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: nothing reached the network", h.os.name)
	}
}

// TestBuiltinJoinedNode checks the warning of the seed: a node that has
// joined a cluster with the cgroupfs driver is not switched to systemd.
func TestBuiltinJoinedNode(t *testing.T) {
	for _, o := range simSupported {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			// docker: the node runs docker with cgroupfs.
			h := newSimHost(t, o)
			pkgs := map[string]string{"docker-ce": "5:20.10.24~3-0~ubuntu-jammy", "docker-ce-cli": "5:20.10.24~3-0~ubuntu-jammy", "containerd.io": "1.7.22-1"}
			if o.family != "apt" {
				pkgs = map[string]string{"docker-ce": "20.10.24-3.el8", "docker-ce-cli": "20.10.24-3.el8", "containerd.io": "1.6.33-3.1.el8"}
			}
			h.install(pkgs)
			h.mkdir("etc/docker")
			f := o.facts()
			f.Joined, f.CgroupDriver = true, "cgroupfs"
			checkRefused(t, h, simBuiltin(t, "docker", nil), f, "daemon.json")
			// --force does it anyway.
			simApply(t, h, simBuiltin(t, "docker", nil), f, Options{Force: true})
			if simDaemonJSON(t, h)["storage-driver"] != "overlay2" {
				t.Error("daemon.json not written with --force")
			}

			// containerd: the node runs containerd with SystemdCgroup = false.
			h = newSimHost(t, o)
			rc := simBuiltin(t, "containerd", nil)
			simApply(t, h, rc, o.facts(), Options{})
			old := strings.Replace(h.read("/etc/containerd/config.toml"), "SystemdCgroup = true", "SystemdCgroup = false", 1)
			h.write("etc/containerd/config.toml", old)
			h.resetCalls()
			checkRefused(t, h, rc, f, "containerd config")

			// A joined node that already uses systemd is left as it is.
			f.CgroupDriver = "systemd"
			simApply(t, h, rc, f, Options{Force: true}) // put it back to true
			checkIdempotent(t, h, rc, f)
		})
	}
}

// checkRefused applies r to h, a joined cgroupfs node, and wants it to
// fail at step, the first that would switch the driver, with nothing
// changed (the digest covers every file, daemon.json too).
func checkRefused(t *testing.T, h *simHost, r *Recipe, f *Facts, step string) {
	t.Helper()
	before := h.digest()
	rep, err := Apply(context.Background(), h, r, f, Options{})
	if err == nil || !strings.Contains(err.Error(), "drain") {
		t.Fatalf("%s on a joined cgroupfs node: %v\n%s", r.Name, err, simSteps(rep))
	}
	last := rep.Steps[len(rep.Steps)-1]
	if last.Name != step || last.Status != Failed || !strings.Contains(last.Reason, "drain") {
		t.Errorf("%s stopped at %q (%s): %s", r.Name, last.Name, last.Status, last.Reason)
	}
	if rep.Count(Changed) != 0 || h.digest() != before {
		t.Errorf("the host changed before the refusal:\n%s", simSteps(rep))
	}
}

func TestBuiltinContainerd(t *testing.T) {
	for _, o := range simSupported {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			h := newSimHost(t, o)
			r := simBuiltin(t, "containerd", nil)
			f := o.facts()
			rep := simApply(t, h, r, f, Options{})
			h.checkPackageTools(t)
			if h.installed("containerd.io") == "" {
				t.Fatal("containerd.io not installed")
			}
			if h.installed("docker-ce") != "" {
				t.Error("docker-ce installed")
			}
			conf := h.read("/etc/containerd/config.toml")
			if !strings.Contains(conf, "            SystemdCgroup = true\n") || strings.Contains(conf, "SystemdCgroup = false") ||
				!strings.Contains(conf, `[plugins."io.containerd.grpc.v1.cri"]`) {
				t.Errorf("config.toml:\n%s", conf)
			}
			// The package's own config (CRI disabled) is kept aside.
			if bak := h.read("/etc/containerd/config.toml.fleet-bak"); !strings.Contains(bak, `disabled_plugins = ["cri"]`) {
				t.Errorf("backup %q", bak)
			}
			if h.exists("/etc/containerd/config.toml.fleet-new") {
				t.Error("config.toml.fleet-new left behind")
			}
			if !slices.Contains(changedSteps(rep), "containerd config") {
				t.Errorf("containerd config step did not change:\n%s", simSteps(rep))
			}
			if !h.state("enabled", "containerd") || !slices.Equal(h.callsOf("systemctl restart"), []string{"systemctl restart containerd"}) {
				t.Errorf("containerd not enabled and restarted: %q", h.calls())
			}
			if h.exists("/etc/systemd/system/containerd.service.d") {
				t.Error("containerd.service.d without http_proxy")
			}
			checkIdempotent(t, h, r, f)

			// A config.toml with the setting (someone's own) is edited in
			// place, keeping the rest.
			h.write("etc/containerd/config.toml", "# mine\nversion = 2\n  SystemdCgroup = false\n")
			h.resetCalls()
			simApply(t, h, r, f, Options{})
			if got := h.read("/etc/containerd/config.toml"); got != "# mine\nversion = 2\n  SystemdCgroup = true\n" {
				t.Errorf("edited config.toml %q", got)
			}
			if len(h.callsOf("containerd")) != 0 {
				t.Error("the config was generated again")
			}
			checkIdempotent(t, h, r, f)
			checkProxyAddedLater(t, h, "containerd", f, "containerd.service.d folder", "proxy drop-in", "reload systemd", "restart containerd")
		})
	}
}

func TestBuiltinKubernetes(t *testing.T) {
	for _, o := range simSupported {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			h := newSimHost(t, o)
			r := simBuiltin(t, "kubernetes", nil)
			f := o.facts()
			rep := simApply(t, h, r, f, Options{})
			if rep.Platform != o.family {
				t.Errorf("platform %q", rep.Platform)
			}
			h.checkPackageTools(t)
			for _, p := range []string{"kubelet", "kubeadm", "kubectl"} {
				if !strings.HasPrefix(h.installed(p), "1.31.") {
					t.Errorf("%s %q installed", p, h.installed(p))
				}
			}
			if !h.state("enabled", "kubelet") {
				t.Error("kubelet not enabled")
			}
			// Swap: off now, and its fstab line commented out, the rest kept.
			if got := h.read("/proc/swaps"); strings.Count(got, "\n") != 1 {
				t.Errorf("swap still on: %q", got)
			}
			if got, want := h.read("/etc/fstab"), "UUID=1234 / ext4 errors=remount-ro 0 1\n#/swap.img\tnone\tswap\tsw\t0\t0\n#/dev/sdb1 none swap sw 0 0\n"; got != want {
				t.Errorf("fstab %q, want %q", got, want)
			}
			if !h.exists("/etc/fstab.fleet-bak") {
				t.Error("no fstab backup")
			}
			// Modules and sysctls, now and at boot.
			if got := h.read("/etc/modules-load.d/k8s.conf"); !strings.Contains(got, "\noverlay\nbr_netfilter\n") {
				t.Errorf("modules-load.d %q", got)
			}
			for _, k := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
				if got := strings.TrimSpace(h.read("/proc/sys/" + k)); got != "1" {
					t.Errorf("%s = %q", k, got)
				}
			}
			if o.family == "apt" {
				if got, want := h.read("/etc/apt/sources.list.d/kubernetes.list"),
					"deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.31/deb/ /\n"; got != want {
					t.Errorf("kubernetes.list %q", got)
				}
				if key := h.read("/etc/apt/keyrings/kubernetes-apt-keyring.gpg"); !strings.Contains(key, "DEARMORED") || !strings.Contains(key, "https://pkgs.k8s.io/core:/stable:/v1.31/deb/Release.key") {
					t.Errorf("keyring %q", key)
				}
				for _, p := range []string{"kubelet", "kubeadm", "kubectl"} {
					if !h.state("held", p) {
						t.Errorf("%s not held", p)
					}
				}
			} else {
				want := "[kubernetes]\nname=Kubernetes\nbaseurl=https://pkgs.k8s.io/core:/stable:/v1.31/rpm/\nenabled=1\ngpgcheck=1\n" +
					"gpgkey=https://pkgs.k8s.io/core:/stable:/v1.31/rpm/repodata/repomd.xml.key\nexclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n"
				if got := h.read("/etc/yum.repos.d/kubernetes.repo"); got != want {
					t.Errorf("kubernetes.repo %q", got)
				}
			}
			checkIdempotent(t, h, r, f)
		})
	}
}

// TestBuiltinKubernetesAfterReboot checks a host whose files are in place
// but whose kernel forgot: br_netfilter not loaded. Loading it must apply
// the sysctls again, which did not exist before.
func TestBuiltinKubernetesAfterReboot(t *testing.T) {
	t.Parallel()
	h := newSimHost(t, simDebian12)
	r := simBuiltin(t, "kubernetes", nil)
	simApply(t, h, r, simDebian12.facts(), Options{})
	if err := os.RemoveAll(h.path("/proc/sys/net/bridge")); err != nil {
		t.Fatal(err)
	}
	h.resetCalls()
	rep := simApply(t, h, r, simDebian12.facts(), Options{})
	for _, name := range []string{"kernel modules", "sysctl settings"} {
		if !slices.Contains(changedSteps(rep), name) {
			t.Errorf("%s did not run:\n%s", name, simSteps(rep))
		}
	}
	if got := strings.TrimSpace(h.read("/proc/sys/net/bridge/bridge-nf-call-iptables")); got != "1" {
		t.Errorf("bridge-nf-call-iptables = %q", got)
	}
	checkIdempotent(t, h, r, simDebian12.facts())
}

// TestBuiltinQuotedVars checks that a hostile value reaches the commands as
// one word and runs nothing.
func TestBuiltinQuotedVars(t *testing.T) {
	t.Parallel()
	h := newSimHost(t, simDebian12)
	r := simBuiltin(t, "docker", map[string]string{"http_proxy": "http://p:1/'; touch pwned; '"})
	_, _ = Apply(context.Background(), h, r, simDebian12.facts(), Options{})
	if h.exists("/pwned") {
		t.Error("a variable ran as a command")
	}
	for _, c := range h.callsOf("apt-get") {
		if !strings.Contains(c, "Acquire::http::Proxy=http://p:1/'; touch pwned; ' ") {
			t.Errorf("the proxy did not reach apt-get as one word: %s", c)
		}
	}
}
