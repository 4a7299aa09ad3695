# lib.sh: shared by the fleet e2e test doubles (github.com/fleet-sh/fleet/e2e/harness).
#
# Every double runs inside one test host's private mount namespace, where
# /etc, /var, /usr, ... are overlays: all state lives in files under
# /var/lib/fake-*, and nothing here ever runs the real tool a double
# replaces, touches the network, the kernel's settings or real swap.
# Sourced by bash scripts that set FD_TOOL first.

FD_LIB=/usr/local/lib/fleet-doubles
FD_LOG=/var/log/fake-calls.log
FD_PKGS=/var/lib/fake-pkgs
FD_UNITS=/var/lib/fake-systemd
FD_DISTRO=$(cat "$FD_LIB/distro" 2>/dev/null || echo unknown)
case $FD_DISTRO in
ubuntu-* | debian-*) FD_FAMILY=debian ;;
centos-* | rocky-*) FD_FAMILY=rhel ;;
*) FD_FAMILY=other ;;
esac
case $FD_DISTRO in
ubuntu-16.04) FD_CODENAME=xenial FD_EL= ;;
debian-12) FD_CODENAME=bookworm FD_EL= ;;
centos-7) FD_CODENAME= FD_EL=7 ;;
rocky-8) FD_CODENAME= FD_EL=8 ;;
*) FD_CODENAME= FD_EL= ;;
esac

# osr KEY prints KEY's value from /etc/os-release, unquoted.
osr() { sed -n "s/^$1=//p" /etc/os-release | head -n1 | tr -d '"'; }

fd_quote() {
	case $1 in
	'' | *[[:space:]\'\"\\]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
	*) printf '%s' "$1" ;;
	esac
}

# fd_log ARGS... appends "[root] TOOL ARGS" (or "[user] ...") to the
# host's call log, one line per call.
fd_log() {
	local who line a
	[ -z "${FD_NOLOG:-}" ] || return 0
	if [ "$(id -u)" = 0 ]; then who=root; else who=$(id -un 2>/dev/null || id -u); fi
	line="[$who] $FD_TOOL"
	for a in "$@"; do line+=" $(fd_quote "$a")"; done
	printf '%s\n' "$line" >>"$FD_LOG" 2>/dev/null || true
}

fd_is_root() { [ "$(id -u)" = 0 ]; }
fd_die() { # CODE MESSAGE...
	local code=$1
	shift
	printf '%s\n' "$@" >&2
	exit "$code"
}

# ---- packages ------------------------------------------------------------

fd_installed() { [ -f "$FD_PKGS/$1" ]; }
fd_version_of() { cat "$FD_PKGS/$1" 2>/dev/null; }
fd_held() { [ -f "$FD_PKGS/.hold/$1" ]; }

# fd_pkg_repo NAME: which repository offers NAME on this distro: base,
# docker, k8s, or none (no such package here).
fd_pkg_repo() {
	case $1 in
	docker-ce | docker-ce-cli | containerd.io | docker-buildx-plugin | docker-compose-plugin | docker-ce-rootless-extras) echo docker ;;
	kubelet | kubeadm | kubectl | cri-tools | kubernetes-cni) echo k8s ;;
	apt-transport-https | software-properties-common | lsb-release | gnupg-agent | debian-archive-keyring | ubuntu-keyring | docker.io | thin-provisioning-tools)
		[ "$FD_FAMILY" = debian ] && echo base || echo none ;;
	yum-utils | device-mapper-persistent-data | container-selinux | iproute-tc | gnupg2-smime | epel-release)
		[ "$FD_FAMILY" = rhel ] && echo base || echo none ;;
	dnf-utils | dnf-plugins-core)
		[ "$FD_DISTRO" = rocky-8 ] && echo base || echo none ;;
	*) [ "$FD_FAMILY" = other ] && echo none || echo base ;;
	esac
}

# fd_k8s_minor prints the Kubernetes minor ("1.28") of the pkgs.k8s.io
# repository this host knows (apt: after apt-get update; yum/dnf: from the
# .repo files), or nothing.
fd_k8s_minor() {
	if [ "$FD_FAMILY" = debian ]; then
		cat /var/lib/fake-apt/lists/k8s 2>/dev/null
	else
		fd_yum_repos | awk -F'\t' '$2 ~ /pkgs\.k8s\.io/ { if (match($2, /v1\.[0-9]+/)) { print substr($2, RSTART+1, RLENGTH-1); exit } }'
	fi
}

# fd_pkg_version NAME: the candidate version NAME would install here.
fd_pkg_version() {
	local m
	case $1 in
	docker-ce | docker-ce-cli | docker-ce-rootless-extras)
		case $FD_DISTRO in
		ubuntu-16.04) echo "5:20.10.7~3-0~ubuntu-xenial" ;;
		debian-12) echo "5:27.3.1-1~debian.12~bookworm" ;;
		centos-7) echo "3:26.1.4-1.el7" ;;
		rocky-8) echo "3:27.3.1-1.el8" ;;
		esac ;;
	containerd.io)
		case $FD_DISTRO in
		ubuntu-16.04) echo "1.4.6-1" ;;
		debian-12) echo "1.7.22-1" ;;
		centos-7) echo "1.6.33-3.1.el7" ;;
		rocky-8) echo "1.7.22-3.1.el8" ;;
		esac ;;
	docker-buildx-plugin) [ "$FD_FAMILY" = debian ] && echo "0.17.1-1~$FD_DISTRO" || echo "0.17.1-1.el$FD_EL" ;;
	docker-compose-plugin) [ "$FD_FAMILY" = debian ] && echo "2.29.7-1~$FD_DISTRO" || echo "2.29.7-1.el$FD_EL" ;;
	kubelet | kubeadm | kubectl)
		m=$(fd_k8s_minor)
		[ "$FD_FAMILY" = debian ] && echo "$m.4-1.1" || echo "$m.4-150500.1.1" ;;
	cri-tools)
		m=$(fd_k8s_minor)
		[ "$FD_FAMILY" = debian ] && echo "$m.0-1.1" || echo "$m.0-150500.1.1" ;;
	kubernetes-cni) [ "$FD_FAMILY" = debian ] && echo "1.2.0-2.1" || echo "1.2.0-150500.2.1" ;;
	*) [ "$FD_FAMILY" = debian ] && echo "1.0-1" || echo "1.0-1.el$FD_EL" ;;
	esac
}

# fd_version_ok NAME VERSION: whether the repository offers that version.
# Only Kubernetes packages are checked: pkgs.k8s.io has one minor per repo.
fd_version_ok() {
	case $1 in
	kubelet | kubeadm | kubectl | cri-tools)
		local m
		m=$(fd_k8s_minor)
		case $2 in "$m".*) return 0 ;; *) return 1 ;; esac ;;
	esac
	return 0
}

fd_pkg_deps() {
	case $1 in
	docker-ce) echo "containerd.io docker-ce-cli" ;;
	kubelet) echo "kubernetes-cni" ;;
	kubeadm) echo "cri-tools kubernetes-cni" ;;
	esac
}

# Debian's maintainer scripts enable and start a package's service; RPMs
# leave it disabled and stopped.
fd_autostart() { [ "$FD_FAMILY" = debian ] && [ -z "${FD_NOSTART:-}" ]; }

fd_bin() { # NAME: put the double for a package-provided executable on PATH
	install -m 0755 "$FD_LIB/$1" "/usr/bin/$1"
}

fd_unit_add() { # UNIT DESCRIPTION
	mkdir -p "$FD_UNITS/units"
	echo "$2" >"$FD_UNITS/units/$1"
}

# fd_pkg_setup NAME: create what the real package would that recipes look
# at (binaries, config dirs, units) and, on Debian-family hosts, enable and
# start its service as the package's maintainer scripts do (RPMs don't).
fd_pkg_setup() {
	case $1 in
	apt-transport-https)
		mkdir -p /usr/lib/apt/methods
		printf '#!/bin/sh\n# apt-transport-https (fleet e2e stand-in)\n' >/usr/lib/apt/methods/https
		chmod 0755 /usr/lib/apt/methods/https ;;
	docker-ce)
		fd_bin dockerd
		mkdir -p -m 0755 /etc/docker
		grep -q '^docker:' /etc/group || echo "docker:x:998:" >>/etc/group
		if [ -f /etc/gshadow ] && ! grep -q '^docker:' /etc/gshadow; then echo "docker:!::" >>/etc/gshadow; fi
		fd_unit_add docker.service "Docker Application Container Engine"
		fd_unit_add docker.socket "Docker Socket for the API"
		if fd_autostart; then
			fd_unit_enable docker.service
			fd_unit_enable docker.socket
			fd_unit_start docker.service
		fi ;;
	docker-ce-cli) fd_bin docker ;;
	docker.io)
		fd_bin docker
		fd_bin dockerd
		mkdir -p -m 0755 /etc/docker
		fd_unit_add docker.service "Docker Application Container Engine"
		if fd_autostart; then
			fd_unit_enable docker.service
			fd_unit_start docker.service
		fi ;;
	containerd.io)
		fd_bin containerd
		fd_bin ctr
		fd_bin runc
		mkdir -p -m 0755 /etc/containerd
		[ -f /etc/containerd/config.toml ] || cat >/etc/containerd/config.toml <<'TOML'
#   Copyright 2018-2022 Docker Inc.

#   Licensed under the Apache License, Version 2.0 (the "License");
#   you may not use this file except in compliance with the License.
#   You may obtain a copy of the License at

#       http://www.apache.org/licenses/LICENSE-2.0

#   Unless required by applicable law or agreed to in writing, software
#   distributed under the License is distributed on an "AS IS" BASIS,
#   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#   See the License for the specific language governing permissions and
#   limitations under the License.

disabled_plugins = ["cri"]

#root = "/var/lib/containerd"
#state = "/run/containerd"
#subreaper = true
#oom_score = 0

#[grpc]
#  address = "/run/containerd/containerd.sock"
#  uid = 0
#  gid = 0

#[debug]
#  address = "/run/containerd/debug.sock"
#  uid = 0
#  gid = 0
#  level = "info"
TOML
		fd_unit_add containerd.service "containerd container runtime"
		if fd_autostart; then
			fd_unit_enable containerd.service
			fd_unit_start containerd.service
		fi ;;
	kubelet)
		fd_bin kubelet
		mkdir -p -m 0755 /etc/kubernetes/manifests
		fd_unit_add kubelet.service "kubelet: The Kubernetes Node Agent"
		if fd_autostart; then
			fd_unit_enable kubelet.service
			fd_unit_start kubelet.service
		fi
		if [ "$FD_FAMILY" = rhel ]; then
			mkdir -p /etc/sysconfig
			[ -f /etc/sysconfig/kubelet ] || echo "KUBELET_EXTRA_ARGS=" >/etc/sysconfig/kubelet
		fi ;;
	kubeadm) fd_bin kubeadm ;;
	kubectl) fd_bin kubectl ;;
	cri-tools) fd_bin crictl ;;
	yum-utils | dnf-utils) fd_bin yum-config-manager ;;
	lsb-release) fd_bin lsb_release ;;
	software-properties-common) fd_bin add-apt-repository ;;
	esac
}

fd_pkg_teardown() {
	case $1 in
	docker-ce) fd_unit_stop docker.service; rm -f /usr/bin/dockerd "$FD_UNITS"/*/docker.service "$FD_UNITS"/*/docker.socket ;;
	docker-ce-cli) rm -f /usr/bin/docker ;;
	containerd.io) fd_unit_stop containerd.service; rm -f /usr/bin/containerd /usr/bin/ctr /usr/bin/runc "$FD_UNITS"/*/containerd.service ;;
	kubelet) fd_unit_stop kubelet.service; rm -f /usr/bin/kubelet "$FD_UNITS"/*/kubelet.service ;;
	kubeadm | kubectl) rm -f "/usr/bin/$1" ;;
	cri-tools) rm -f /usr/bin/crictl ;;
	yum-utils | dnf-utils) rm -f /usr/bin/yum-config-manager ;;
	lsb-release) rm -f /usr/bin/lsb_release ;;
	software-properties-common) rm -f /usr/bin/add-apt-repository ;;
	esac
}

fd_pkg_install() { # NAME VERSION
	mkdir -p "$FD_PKGS"
	printf '%s\n' "$2" >"$FD_PKGS/$1"
	fd_pkg_setup "$1"
}

fd_pkg_remove() {
	fd_pkg_teardown "$1"
	rm -f "$FD_PKGS/$1" "$FD_PKGS/.hold/$1"
}

# ---- services ------------------------------------------------------------

fd_unit_name() {
	case $1 in
	*.service | *.socket | *.target | *.timer | *.mount) echo "$1" ;;
	*) echo "$1.service" ;;
	esac
}

fd_unit_exists() {
	[ -f "$FD_UNITS/units/$1" ] || [ -f "/etc/systemd/system/$1" ] ||
		[ -f "/usr/lib/systemd/system/$1" ] || [ -f "/lib/systemd/system/$1" ]
}
fd_unit_enabled() { [ -f "$FD_UNITS/enabled/$1" ]; }
fd_unit_active() { [ -f "$FD_UNITS/active/$1" ]; }
fd_unit_enable() { mkdir -p "$FD_UNITS/enabled" && date +%s >"$FD_UNITS/enabled/$1"; }
fd_unit_disable() { rm -f "$FD_UNITS/enabled/$1"; }
fd_unit_stop() { rm -f "$FD_UNITS/active/$1"; }

# fd_docker_config_driver prints the cgroup driver daemon.json asks for,
# or fails (with dockerd's message) when dockerd would refuse to start.
fd_docker_config_driver() {
	local f=/etc/docker/daemon.json d
	if [ ! -f $f ]; then
		echo cgroupfs
		return 0
	fi
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' $f 2>/dev/null ||
			{ echo "unable to configure the Docker daemon with file $f: invalid character in JSON" >&2; return 1; }
	elif [ -x /usr/bin/jq ]; then
		/usr/bin/jq empty $f 2>/dev/null ||
			{ echo "unable to configure the Docker daemon with file $f: invalid character in JSON" >&2; return 1; }
	fi
	d=$(grep -o 'native\.cgroupdriver *= *[A-Za-z0-9_-]*' $f | head -n1 | sed 's/.*= *//')
	case $d in
	'' | cgroupfs) echo cgroupfs ;;
	systemd) echo systemd ;;
	*) echo "failed to start daemon: native cgroup driver option $d is not supported" >&2; return 1 ;;
	esac
}

# fd_unit_start UNIT: start (or restart) a unit; for docker and containerd
# also freeze the configuration the daemon now runs with.
fd_unit_start() {
	local d
	case $1 in
	docker.service)
		fd_unit_active containerd.service || { fd_unit_exists containerd.service && fd_unit_start containerd.service; }
		if ! d=$(fd_docker_config_driver 2>>/var/log/fake-dockerd.log); then
			fd_unit_stop "$1"
			mkdir -p "$FD_UNITS/failed" && touch "$FD_UNITS/failed/$1"
			return 1
		fi
		mkdir -p /var/lib/fake-docker
		echo "$d" >/var/lib/fake-docker/driver
		date +%s.%N >/var/lib/fake-docker/started ;;
	containerd.service)
		mkdir -p /var/lib/fake-containerd
		# Docker's containerd.io ships disabled_plugins = ["cri"].
		if grep -Eq '^[[:space:]]*disabled_plugins[[:space:]]*=.*["'"'"'](io\.containerd\.grpc\.v1\.)?cri["'"'"']' /etc/containerd/config.toml 2>/dev/null; then
			echo disabled >/var/lib/fake-containerd/cri
		else
			echo enabled >/var/lib/fake-containerd/cri
		fi
		if grep -Eq '^[[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*true' /etc/containerd/config.toml 2>/dev/null; then
			echo systemd >/var/lib/fake-containerd/driver
		else
			echo cgroupfs >/var/lib/fake-containerd/driver
		fi ;;
	esac
	rm -f "$FD_UNITS/failed/$1"
	mkdir -p "$FD_UNITS/active" && date +%s >"$FD_UNITS/active/$1"
}

# ---- downloads -----------------------------------------------------------

fd_fake_key() { # NAME: an ASCII-armored fake public key
	cat <<KEY
-----BEGIN PGP PUBLIC KEY BLOCK-----
Comment: fleet-fake-key $1

bWFkZSB1cCBieSB0aGUgZmxlZXQgZTJlIGhhcm5lc3MsIG5vdCBhIHJlYWwga2V5Cg==
=fake
-----END PGP PUBLIC KEY BLOCK-----
KEY
}

fd_docker_repo() { # DISTRO-PATH (centos, rhel, fedora)
	cat <<REPO
[docker-ce-stable]
name=Docker CE Stable - \$basearch
baseurl=https://download.docker.com/linux/$1/\$releasever/\$basearch/stable
enabled=1
gpgcheck=1
gpgkey=https://download.docker.com/linux/$1/gpg

[docker-ce-stable-debuginfo]
name=Docker CE Stable - Debuginfo \$basearch
baseurl=https://download.docker.com/linux/$1/\$releasever/debug-\$basearch/stable
enabled=0
gpgcheck=1
gpgkey=https://download.docker.com/linux/$1/gpg

[docker-ce-stable-source]
name=Docker CE Stable - Sources
baseurl=https://download.docker.com/linux/$1/\$releasever/source/stable
enabled=0
gpgcheck=1
gpgkey=https://download.docker.com/linux/$1/gpg
REPO
}

# fd_fetch URL prints what the (fake) network serves at URL, or returns 22
# (HTTP 404) for anything it does not know. It never opens a connection.
fd_fetch() {
	case $1 in
	https://download.docker.com/linux/ubuntu/gpg | https://download.docker.com/linux/debian/gpg | \
		https://download.docker.com/linux/centos/gpg | https://download.docker.com/linux/rhel/gpg | \
		https://download.docker.com/linux/fedora/gpg)
		fd_fake_key download.docker.com ;;
	https://download.docker.com/linux/centos/docker-ce.repo) fd_docker_repo centos ;;
	https://download.docker.com/linux/rhel/docker-ce.repo) fd_docker_repo rhel ;;
	https://download.docker.com/linux/fedora/docker-ce.repo) fd_docker_repo fedora ;;
	https://pkgs.k8s.io/core:/stable:/v1.[0-9]*/deb/Release.key | \
		https://pkgs.k8s.io/core:/stable:/v1.[0-9]*/rpm/repodata/repomd.xml.key)
		fd_fake_key pkgs.k8s.io ;;
	*) return 22 ;;
	esac
}

# fd_key_name FILE prints the fake key or keyring name FILE holds, if any:
# binary keyrings from gpg --dearmor, and (apt >= 1.4) armored keys.
fd_key_name() {
	[ -r "$1" ] || return 1
	local n
	n=$(grep -a -o 'FLEET-FAKE-KEYRING [^[:space:]]*' "$1" 2>/dev/null | head -n1 | cut -d' ' -f2)
	if [ -z "$n" ] && [ "$FD_DISTRO" != ubuntu-16.04 ]; then
		n=$(sed -n 's/^Comment: fleet-fake-key //p' "$1" 2>/dev/null | head -n1)
	fi
	[ -n "$n" ] && echo "$n"
}

# ---- yum/dnf repositories --------------------------------------------------

# fd_yum_repos prints one line per enabled repository of
# /etc/yum.repos.d/*.repo: "id<TAB>baseurl<TAB>exclude<TAB>gpgcheck<TAB>gpgkey".
fd_yum_repos() {
	local f
	for f in /etc/yum.repos.d/*.repo; do
		[ -f "$f" ] || continue
		awk '
		function flush() { if (id != "" && enabled != "0") printf "%s\t%s\t%s\t%s\t%s\n", id, url, excl, gpgcheck, gpgkey }
		/^[[:space:]]*[#;]/ { next }
		/^\[.*\]/ { flush(); id = $0; gsub(/^\[|\][[:space:]]*$/, "", id); url = ""; excl = ""; enabled = "1"; gpgcheck = "0"; gpgkey = ""; next }
		{ line = $0; eq = index(line, "="); if (!eq) next
		  k = substr(line, 1, eq-1); v = substr(line, eq+1); gsub(/[[:space:]]/, "", k); sub(/^[[:space:]]+/, "", v); sub(/[[:space:]]+$/, "", v)
		  if (k == "baseurl" || k == "mirrorlist" || k == "metalink") { if (url == "") url = v }
		  else if (k == "exclude" || k == "excludepkgs") excl = v
		  else if (k == "enabled") enabled = v
		  else if (k == "gpgcheck") gpgcheck = v
		  else if (k == "gpgkey") gpgkey = v }
		END { flush() }' "$f"
	done
}
