#!/usr/bin/env bash
# make demo: bring up a local fleet of real OpenSSH hosts on 127.0.X.Y (plus
# one address where nothing listens) and run fleet against it as you would.
# The hosts stay up so you can try more; `make demo-down` stops them.
set -uo pipefail
DEMO_DIR=${DEMO_DIR:-/tmp/fleet-demo}
GO=${GO:-go}
FLEET=${FLEET:?FLEET must name the fleet binary}

if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: it creates local test users and starts sshd on 127.0.X.Y addresses." >&2
	exit 1
fi

ORIG=$PWD
"$GO" run ./e2e/cmd/testfleet down -dir "$DEMO_DIR/distros" >/dev/null 2>&1 || true
"$GO" run ./e2e/cmd/testfleet down -dir "$DEMO_DIR" >/dev/null 2>&1 || true
rm -rf "$DEMO_DIR"
"$GO" run ./e2e/cmd/testfleet up -n 4 -dir "$DEMO_DIR" || exit 1

# A home of its own: the fleet's ssh_config becomes ~/.ssh/config, so the
# commands below read exactly as you would type them, and the run records
# land in this home's ~/.local/state/fleet.
export HOME="$DEMO_DIR/home"
mkdir -p "$HOME/.ssh" && chmod 700 "$HOME" "$HOME/.ssh"
cp "$DEMO_DIR/ssh_config" "$HOME/.ssh/config"
mkdir -p "$DEMO_DIR/bin" && cp "$FLEET" "$DEMO_DIR/bin/fleet"
export PATH="$DEMO_DIR/bin:$PATH"
unreachable=$(sed -n 's/.*"Unreachable": *"\([^"]*\)".*/\1/p' "$DEMO_DIR/fleet.json")
cd "$DEMO_DIR"
{ echo "# the demo fleet: four real sshd hosts and one that is down"; cat hosts; echo "$unreachable"; } > kube

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; echo "(exit status $?)"; }

echo
echo "The host file, as pssh users keep it:"
cat kube
run fleet run -ih kube 'uptime'
run fleet run -h kube --gather 'grep PRETTY_NAME /etc/os-release'
run fleet run -h kube -P --sudo 'id -un; echo "node $PSSH_NODENUM of $PSSH_NUMNODES"'

# The seed's daemon.json step, as one command: to a root-owned folder, as
# root through sudo, atomically. (The demo hosts share this machine's disk,
# so the demo writes under $DEMO_DIR, never to the real /etc/docker.)
mkdir -p "$DEMO_DIR/etc/docker" && chmod 755 "$DEMO_DIR" "$DEMO_DIR/etc" "$DEMO_DIR/etc/docker"
cat > daemon.json <<'JSON'
{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": { "max-size": "100m" },
  "storage-driver": "overlay2"
}
JSON
run fleet copy -h kube --sudo --mode 0644 --owner root:root daemon.json "$DEMO_DIR/etc/docker/daemon.json"
run fleet copy -h kube --sudo --mode 0644 --owner root:root daemon.json "$DEMO_DIR/etc/docker/daemon.json"
run fleet slurp -h kube -L collected "$DEMO_DIR/etc/docker/daemon.json" daemon.json
say "find collected -type f"
find collected -type f
run fleet run -h kube -t 2 'sleep 30'
say "ls ~/.local/state/fleet/runs/latest && cat ~/.local/state/fleet/runs/latest/failed"
ls ~/.local/state/fleet/runs/latest && cat ~/.local/state/fleet/runs/latest/failed
run fleet run -h ~/.local/state/fleet/runs/latest/failed -p 2 'uptime'
say "fleet run -h kube --json 'df -h / | tail -1' | jq -c '{host, outcome, exit_code}'"
if command -v jq >/dev/null; then
	fleet run -h kube --json 'df -h / | tail -1' | jq -c '{host, outcome, exit_code}'
else
	fleet run -h kube --json 'df -h / | tail -1'
fi


# The seed's workflow, whole: Docker CE with the systemd cgroup driver on a
# mixed fleet. These hosts each have their own filesystem and an os-release
# of Ubuntu 16.04, Debian 12, CentOS 7, Rocky 8 or Alpine; they cannot reach
# package repositories, so their apt-get, yum, dnf, systemctl and docker are
# stand-ins that keep believable state.
cd "$ORIG"
"$GO" run ./e2e/cmd/testfleet up -q -distros ubuntu-16.04,debian-12,centos-7,rocky-8,alpine-3.19 -dir "$DEMO_DIR/distros" >/dev/null || exit 1
cp "$DEMO_DIR/distros/hosts" "$DEMO_DIR/mixed"
# Their own key and known_hosts: a Host block for their addresses, ahead of
# the first fleet's "Host *".
block=$(sed -n '1s/.*@\(127\.0\.[0-9]*\)\..*/\1/p' "$DEMO_DIR/mixed")
{ printf 'Host %s.*\n  IdentityFile %s\n  UserKnownHostsFile %s\n\n' "$block" "$DEMO_DIR/distros/id_ed25519" "$DEMO_DIR/distros/known_hosts"
  cat "$DEMO_DIR/ssh_config"; } > "$HOME/.ssh/config"
cd "$DEMO_DIR"
say "cat mixed"
cat mixed
run fleet recipes
run fleet provision -h mixed docker
run fleet provision -h mixed docker
run fleet provision -h mixed --dry-run docker --var docker_version=20.10.24
run fleet run -h mixed --sudo --gather 'docker info --format "cgroup driver: {{.CgroupDriver}}"'

# When some hosts fail: the record says which, and fleet rerun repeats the
# run on exactly those. Here the first host is not ready until a marker
# file exists (and one host is down all along).
ready=$(mktemp -d) && chmod 755 "$ready"
first=$(sed -n '2s/.*@\([0-9.]*\):.*/\1/p' kube)
run fleet run -h kube "test \"\$PSSH_HOST\" != $first || test -e $ready/go"
run fleet logs
touch "$ready/go"
run fleet rerun
run fleet runs
rm -rf "$ready"

cat <<MSG

The demo fleet is still up. Try it yourself:
  export HOME=$HOME PATH=$DEMO_DIR/bin:\$PATH; cd $DEMO_DIR
  fleet run -ih kube 'uptime'
  fleet provision -h mixed containerd
Stop it with: make demo-down
MSG
