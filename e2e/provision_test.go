package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// provTimeout bounds one fleet invocation of the provision tests: a recipe
// step that fails is retried (3 times, 15 s apart, for the install steps).
const provTimeout = 2 * time.Minute

// The hosts of the provision fleet, by index in provDistros.
const (
	pUbuntu = iota
	pDebian
	pCentOS
	pRocky
	pAlpine
	pDebian2 // only for the cluster guard
)

var provDistros = []string{harness.Ubuntu1604, harness.Debian12, harness.CentOS7, harness.Rocky8, harness.Alpine319, harness.Debian12}

// smallDistros are the fresh hosts of the second fleet: --var on the first
// two, the resumed run on the third.
var smallDistros = []string{harness.Ubuntu1604, harness.Rocky8, harness.CentOS7}

// platformOf is how fleet names each distro host's system and platform.
var platformOf = map[string]string{
	harness.Ubuntu1604: "ubuntu 16.04 (apt)",
	harness.Debian12:   "debian 12 (apt)",
	harness.CentOS7:    "centos 7 (yum)",
	harness.Rocky8:     "rocky 8.10 (dnf)",
}

// dockerSteps are the docker recipe's steps, in the order they run, by
// platform: before, the platform's, then the recipe's steps.
var dockerSteps = func() map[string][]string {
	before := []string{"k8s_node is true or false", "docker config folder", "daemon.json", "daemon.json owner"}
	after := []string{"docker version", "containerd CRI", "restart containerd", "enable containerd",
		"docker.service.d folder", "proxy drop-in", "reload systemd", "restart docker", "enable docker"}
	join := func(mid ...string) []string {
		return append(append(append([]string(nil), before...), mid...), after...)
	}
	return map[string][]string{
		"apt": join("apt prerequisites", "apt keyrings folder", "docker repository key", "other docker repository entries", "docker repository", "install docker"),
		"yum": join("yum prerequisites", "docker repository", "install docker"),
		"dnf": join("dnf prerequisites", "docker repository", "install docker"),
	}
}()

// TestProvision runs `fleet provision` against hosts that pretend to be
// Ubuntu 16.04, Debian 12, CentOS 7, Rocky 8 and Alpine 3.19, with test
// doubles for their package managers, systemctl and docker. It starts two
// distro fleets of its own (TestMain's are plain hosts) and stops them when
// every subtest is done. Subtests that share hosts run in order; those on
// other hosts run alongside.
func TestProvision(t *testing.T) {
	parent(t)
	if err := harness.OverlayAvailable(); err != nil {
		t.Skipf("distro hosts are not possible here: %v", err)
	}
	prov, small := startDistroFleets(t)

	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"docker", func(t *testing.T) { testProvisionDocker(t, prov) }},
		{"cluster guard", func(t *testing.T) { testClusterGuard(t, prov, prov.Hosts[pDebian2]) }},
		{"vars", func(t *testing.T) { testProvisionVars(t, small, small.Hosts[0], small.Hosts[1]) }},
		{"rerun resumes", func(t *testing.T) { testRerunResumes(t, small, small.Hosts[2]) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

// startDistroFleets starts the provision fleet and the small one at once
// and stops both once the test and its subtests are done.
func startDistroFleets(t *testing.T) (prov, small *harness.Fleet) {
	t.Helper()
	var wg sync.WaitGroup
	var logs [2]bytes.Buffer
	var errs [2]error
	fleets := [2]*harness.Fleet{}
	for i, distros := range [][]string{provDistros, smallDistros} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
			defer cancel()
			fleets[i], errs[i] = harness.Start(ctx, harness.Options{Distros: distros, Log: &logs[i]})
		}()
	}
	wg.Wait()
	for i, f := range fleets {
		if f == nil {
			continue
		}
		t.Cleanup(func() {
			if err := f.Stop(); err != nil {
				t.Errorf("stopping the distro fleet %d: %v", i, err)
			}
		})
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starting a distro fleet: %v\n%s", err, logs[i].String())
		}
	}
	return fleets[0], fleets[1]
}

// on runs `fleet SUB -F <f's ssh_config> args...` to its end.
func (u *user) on(f *harness.Fleet, sub string, args ...string) result {
	u.t.Helper()
	return u.startOn(f.SSHConfig, provTimeout, sub, "", args...).wait(provTimeout + 5*time.Second)
}

// hostsArg is the -H value naming hosts of f as its passwordless-sudo user.
func hostsArg(f *harness.Fleet, hosts ...harness.Host) string {
	return strings.Join(labelsOf(f, hosts...), " ")
}

func labelsOf(f *harness.Fleet, hosts ...harness.Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, label(f.Users.NoPass, h))
	}
	return out
}

// calls returns the calls recorded on h so far.
func calls(t *testing.T, h harness.Host) []string {
	t.Helper()
	c, err := h.Calls()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return c
}

// callsSince returns the calls recorded on h after the first n.
func callsSince(t *testing.T, h harness.Host, n int) []string {
	t.Helper()
	c := calls(t, h)
	if len(c) < n {
		t.Fatalf("calls of %s (%s): %d, fewer than the %d seen before", h.Addr, h.Distro, len(c), n)
	}
	return c[n:]
}

// callCounts snapshots how many calls each host has recorded.
func callCounts(t *testing.T, hosts ...harness.Host) []int {
	t.Helper()
	n := make([]int, len(hosts))
	for i, h := range hosts {
		n[i] = len(calls(t, h))
	}
	return n
}

// tool is the program of a recorded call "[who] TOOL ARGS...".
func tool(call string) string {
	if f := strings.Fields(call); len(f) > 1 {
		return f[1]
	}
	return ""
}

// readOnlyCall matches the calls that only look: guards, probes and facts.
var readOnlyCall = regexp.MustCompile(`^\[\S+\] (` +
	`(dpkg|dpkg-query) (-s|--status|-W|--show|-l|--list)\b|` +
	`rpm (-q|--query)\b|` +
	`systemctl (is-enabled|is-active|is-failed|status|show)\b|` +
	`docker (info|version|--version)\b|` +
	`apt-mark (showhold|showauto|showmanual)\b|` +
	`apt-cache (policy|madison|show)\b)`)

// checkReadOnly fails when a call of got changed something.
func checkReadOnly(t *testing.T, what string, h harness.Host, got []string) {
	t.Helper()
	for _, c := range got {
		if !readOnlyCall.MatchString(c) {
			t.Errorf("%s on %s (%s) called %q, which is not a read-only check; all its calls:\n%s",
				what, h.Addr, h.Distro, c, strings.Join(got, "\n"))
		}
	}
}

// hasCall reports whether some call matches re.
func hasCall(got []string, re string) bool {
	rx := regexp.MustCompile(re)
	for _, c := range got {
		if rx.MatchString(c) {
			return true
		}
	}
	return false
}

// checkStatus checks that host h's status line is a success (ok) or a
// failure whose reason matches re.
func checkStatus(t *testing.T, st map[string]status, f *harness.Fleet, h harness.Host, ok bool, re string, r result) {
	t.Helper()
	l := label(f.Users.NoPass, h)
	s, found := st[l]
	switch {
	case !found:
		t.Errorf("no status line for %s (%s)\n%s", l, h.Distro, r)
	case s.ok != ok:
		t.Errorf("%s (%s): success = %v, want %v (reason %q)\n%s", l, h.Distro, s.ok, ok, s.reason, r)
	case !regexp.MustCompile(re).MatchString(s.reason):
		t.Errorf("%s (%s): status reason %q does not match %q\n%s", l, h.Distro, s.reason, re, r)
	}
}

// dockerDrivers asks docker, through `fleet run --sudo`, which cgroup
// driver it runs with on each host, by label.
func dockerDrivers(t *testing.T, u *user, f *harness.Fleet, hosts ...harness.Host) map[string]string {
	t.Helper()
	r := u.on(f, "run", "-H", hostsArg(f, hosts...), "--sudo", "-i", `docker info --format "{{.CgroupDriver}}"`)
	wantExit(t, r, 0, "docker info")
	got := map[string]string{}
	for l, out := range inlineBlocks(r.stdout) {
		got[l] = strings.TrimSpace(out)
	}
	return got
}

// checkDaemonJSON checks /etc/docker/daemon.json on h: what the docker
// recipe writes, and nothing else.
func checkDaemonJSON(t *testing.T, h harness.Host) {
	t.Helper()
	b, err := os.ReadFile(h.Path("/etc/docker/daemon.json"))
	if err != nil {
		t.Errorf("%s (%s): %v", h.Addr, h.Distro, err)
		return
	}
	var dj struct {
		ExecOpts      []string          `json:"exec-opts"`
		LogDriver     string            `json:"log-driver"`
		LogOpts       map[string]string `json:"log-opts"`
		StorageDriver string            `json:"storage-driver"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&dj); err != nil {
		t.Errorf("%s (%s): daemon.json: %v\n%s", h.Addr, h.Distro, err, b)
		return
	}
	if len(dj.ExecOpts) != 1 || dj.ExecOpts[0] != "native.cgroupdriver=systemd" || dj.LogDriver != "json-file" ||
		len(dj.LogOpts) != 1 || dj.LogOpts["max-size"] != "100m" || dj.StorageDriver != "overlay2" {
		t.Errorf("%s (%s): daemon.json is not the systemd, json-file 100m, overlay2 one:\n%s", h.Addr, h.Distro, b)
	}
}

// exists reports whether path exists, failing the test on other errors.
func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v", err)
	}
	return err == nil
}

// stepHeaders returns the step names of a host log's "--- | step NAME" lines.
func stepHeaders(log string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\S+ --- \| step (.+)$`).FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}

// platformName returns "apt", "yum" or "dnf" for a distro host.
func platformName(h harness.Host) string {
	p := platformOf[h.Distro]
	return strings.TrimSuffix(p[strings.LastIndex(p, "(")+1:], ")")
}
