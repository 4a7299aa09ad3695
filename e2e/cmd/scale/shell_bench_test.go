package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// The cost of the endpoints' shell per command, which the endpoints' CPU
// column of docs/scale.md pays once per host (the wrapper of fleet run) or
// once per provisioned host (a long-lived shell running a recipe's
// commands): go test -run X -bench . ./e2e/cmd/scale.

// benchRun runs script as a session's command, with stdin as its input.
func benchRun(script, stdin string) int {
	return newHostShell(&shellStats{}, strings.NewReader(stdin)).run(context.Background(), script, io.Discard, io.Discard)
}

// benchWrapper is what fleet run sends for `true`.
const benchWrapper = `printf '%s%s\n' fleet-2a2c3ff3c9ab-pid: "$$" >&2; export PSSH_NODENUM=0 PSSH_NUMNODES=1 PSSH_HOST=127.0.200.1; true`

// benchShellIn is what a provisioned host's long-lived shell reads: the
// prelude (fleet/shell.go) and the scale recipe's commands.
const benchShellIn = `_fleet_setsid=; _fleet_ready=ready
if command -v setsid >/dev/null 2>&1; then _fleet_setsid=setsid; _fleet_ready=setsid; fi
_fleet_run() {
  $_fleet_setsid /bin/sh -c 'printf '\''%s pid %s\n'\'' "$0" "$$" >&2; exec /bin/sh -c "$1"' N "$2" </dev/null
  _fleet_rc=$?
  printf '\n%s end %s %s\n' N "$1" "$_fleet_rc"
  printf '\n%s end %s\n' N "$1" >&2
}
printf '%s ready %s\n' N "$_fleet_ready"; printf '%s ready %s\n' N "$_fleet_ready" >&2
_fleet_run 1 'ls -1 -- /var/lib/fleet/pending/scale 2>/dev/null; true'
_fleet_run 2 'test -e /etc/scale'
_fleet_run 3 'mkdir -p /etc/scale'
_fleet_run 4 'test -e /usr/bin/scale-agent'
_fleet_run 5 'echo installing scale-agent; echo "scale-agent $PSSH_HOST" >&2'
_fleet_run 6 'false'
_fleet_run 7 "printf '%s\n' 'listen 0.0.0.0:9100' 'workers 4'"
_fleet_run 8 'true'
_fleet_run 9 'mkdir -p -m 0700 -- /var/lib/fleet/pending/scale && cd -- /var/lib/fleet/pending/scale && touch -- a b'
_fleet_run 10 'echo restarted'
_fleet_run 11 'rm -f -- /var/lib/fleet/pending/scale/a'
`

// BenchmarkWrapper: one `fleet run true` host.
func BenchmarkWrapper(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if st := benchRun(benchWrapper, ""); st != 0 {
			b.Fatal(st)
		}
	}
}

// BenchmarkLongShell: one provisioned host's remote shell.
func BenchmarkLongShell(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if st := benchRun("exec sudo -n -- /bin/sh -c 'printf '\\''%s\\n'\\'' ready >&2; exec /bin/sh -s'", benchShellIn); st != 0 {
			b.Fatal(st)
		}
	}
}
