package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// TestProvisionSeed's walkthrough and conditions subtests: the README's
// seed walkthrough run as written, and the recipe conditions of
// docs/recipes.md on a real host.
// readmeWalkthrough returns the command lines of the README's seed
// walkthrough: the first code block of its provisioning section.
func readmeWalkthrough(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Provisioning: the seed's workflow in one command\n")
	_, block, ok2 := strings.Cut(sec, "With fleet:\n\n```\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README: no code block after \"With fleet:\" in the provisioning section")
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		out = append(out, splitWords(t, line))
	}
	return out
}

// splitWords splits a command line as sh would, for the README's lines:
// blanks separate words, single quotes group.
func splitWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for _, c := range line {
		switch {
		case c == '\'':
			in, quoted = !in, true
		case c == ' ' && !in:
			if cur.Len() > 0 || quoted {
				words = append(words, cur.String())
			}
			cur.Reset()
			quoted = false
		default:
			cur.WriteRune(c)
		}
	}
	if in {
		t.Fatalf("README: unclosed quote in %q", line)
	}
	if cur.Len() > 0 || quoted {
		words = append(words, cur.String())
	}
	return words
}

// testWalkthrough: on Debian the seed's docker alone leaves a node the
// kubernetes recipe refuses (before changing anything, naming the command
// to run) and kubeadm's preflight fails; then the README's walkthrough,
// run as written on Debian and CentOS 7 hosts, ends with nodes whose
// preflight passes, and a second run changes nothing.
func testWalkthrough(t *testing.T, f *harness.Fleet, debian, centos harness.Host) {
	u := newUser(t)
	// Docker's repository as its current instructions set it up, deb822,
	// with a key of its own: adopted too (Enabled: no), apt stays clean.
	const docker822 = "Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\nSigned-By: /etc/apt/keyrings/docker.asc\n"
	writeFile(t, debian.Path("/etc/apt/sources.list.d/docker.sources"), docker822, 0o644)
	mustExit(t, u.on(f, "provision", "-H", hostsArg(f, debian), "docker"), 0, "docker")
	if got := readFileOr(debian.Path("/etc/apt/sources.list.d/docker.sources")); got != "Enabled: no\n"+docker822 {
		t.Errorf("docker.sources: want its stanza disabled, got:\n%s", got)
	}
	if r := u.on(f, "run", "-H", hostsArg(f, debian), "--sudo", "-i", "apt-get update"); r.status != 0 || strings.Contains(r.stdout+r.stderr, "E: ") || strings.Contains(r.stdout+r.stderr, "W: ") {
		t.Errorf("apt-get update after fleet: want it clean\n%s", r)
	}
	before := len(calls(t, debian))
	r := u.on(f, "provision", "-H", hostsArg(f, debian), "kubernetes")
	wantExit(t, r, 5, "kubernetes after docker alone")
	checkStatus(t, statuses(t, r.stdout), f, debian, false, `^step "container runtime": no container runtime the kubelet can use: `+
		`containerd's /etc/containerd/config\.toml disables its CRI plugin .*Run `+"`"+`fleet provision docker --var k8s_node=true`+"`", r)
	checkReadOnly(t, "the refused kubernetes run", debian, callsSince(t, debian, before))
	if !strings.Contains(readFileOr(debian.Path("/etc/containerd/config.toml")), `disabled_plugins = ["cri"]`) {
		t.Errorf("the test double's containerd.io did not ship config.toml as Docker's package does")
	}

	hosts := []harness.Host{debian, centos}
	walk := readmeWalkthrough(t)
	for pass := 1; pass <= 2; pass++ {
		for _, words := range walk {
			if len(words) < 2 || words[0] != "fleet" {
				t.Fatalf("README walkthrough: %q is not a fleet command", words)
			}
			var args []string
			for i := 2; i < len(words); i++ {
				if words[i] == "-h" && i+1 < len(words) && words[i+1] == "kube" {
					args = append(args, "-H", hostsArg(f, hosts...))
					i++
					continue
				}
				args = append(args, words[i])
			}
			r := u.on(f, words[1], args...)
			if r.status != 0 {
				logs, _ := filepath.Glob(filepath.Join(u.stateDir, "runs", "latest", "hosts", "*"))
				var b strings.Builder
				for _, l := range logs {
					b.WriteString(l + ":\n" + readFileOr(l))
				}
				t.Fatalf("pass %d: %q: want exit status 0\n%s\nhost logs:\n%s", pass, strings.Join(words, " "), r, b.String())
			}
			if pass == 2 && words[1] == "provision" && strings.Count(r.stdout, ": 0 changed,") != len(hosts) {
				t.Errorf("pass 2: %q changed something\n%s", strings.Join(words, " "), r)
			}
		}
	}
	for _, h := range hosts {
		conf := readFileOr(h.Path("/etc/containerd/config.toml"))
		if strings.Contains(conf, `"cri"`) || !regexp.MustCompile(`(?m)^\s*SystemdCgroup = true$`).MatchString(conf) {
			t.Errorf("%s (%s): config.toml does not enable the CRI with SystemdCgroup:\n%s", h.Addr, h.Distro, conf)
		}
		if got := strings.TrimSpace(readFileOr(h.Path("/var/lib/fake-containerd/cri"))); got != "enabled" {
			t.Errorf("%s (%s): containerd runs with its CRI %q: not restarted after the change", h.Addr, h.Distro, got)
		}
	}
}

// condRecipe uses what docs/recipes.md's Conditions section documents:
// when on vars and facts, fail and note, changed_when (literal and on the
// command's output), versions with ranges and exclude, and a template file
// that renders the same content.
const condRecipe = `name: conditions
description: the conditions of docs/recipes.md
vars:
  role: web
files:
  motd:
    content: "{{ .Facts.ID }} {{ .Facts.VersionID }} {{ .Vars.role }}\n"
before:
  - name: refuse db on xenial
    fail: role {{ .Vars.role }} is not for {{ .Facts.ID }} {{ .Facts.VersionID }}
    when: and (eq .Vars.role "db") (eq .Facts.VersionID "16.04")
platforms:
  - name: modern
    match:
      - {id: ubuntu, version: ">=18.04 <26.04"}
      - {id_like: debian}
      - {id: ubuntu, version: "<18.04", exclude: true}
    steps:
      - name: modern only
        run: touch /tmp/fleet-cond-modern
        creates: /tmp/fleet-cond-modern
  - name: legacy
    match:
      - {id_like: debian}
    steps:
      - name: legacy only
        run: touch /tmp/fleet-cond-legacy
        creates: /tmp/fleet-cond-legacy
steps:
  - name: web only
    run: touch /tmp/fleet-cond-web
    creates: /tmp/fleet-cond-web
    when: eq .Vars.role "web"
  - name: db only
    run: touch /tmp/fleet-cond-db
    when: eq .Vars.role "db"
  - name: motd
    put: /etc/motd
    file: motd
    mode: "0644"
  - name: reload
    run: systemctl daemon-reload
    changed_when: "false"
  - name: install figlet
    run: apt-get install -y figlet
    changed_when: contains .Stdout "Setting up"
  - name: say
    note: role {{ .Vars.role }} on {{ .Platform }}
`

// testConditions: on Ubuntu 16.04 the exclude rule sends the host to the
// legacy platform (without it, the earlier modern one would win through
// id_like); when skips the db step; a second run changes nothing (the
// motd renders the same, daemon-reload never counts, apt-get says it
// installed nothing); role=db is refused before anything runs, in a dry
// run too.
func testConditions(t *testing.T, f *harness.Fleet, h harness.Host) {
	u := newUser(t)
	recipe := writeFile(t, filepath.Join(t.TempDir(), "conditions.yaml"), condRecipe, 0o644)
	r := u.on(f, "provision", "-H", hostsArg(f, h), "--recipe", recipe)
	mustExit(t, r, 0, "conditions")
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^changed ubuntu 16\.04 \(legacy\): 4 changed, 4 unchanged; role web on legacy$`, r)
	for p, want := range map[string]bool{"/tmp/fleet-cond-legacy": true, "/tmp/fleet-cond-modern": false, "/tmp/fleet-cond-web": true, "/tmp/fleet-cond-db": false} {
		if exists(t, h.Path(p)) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
	if got := readFileOr(h.Path("/etc/motd")); got != "ubuntu 16.04 web\n" {
		t.Errorf("motd %q", got)
	}

	before := len(calls(t, h))
	r = u.on(f, "provision", "-H", hostsArg(f, h), "--recipe", recipe)
	checkStatus(t, statuses(t, r.stdout), f, h, true, `^unchanged ubuntu 16\.04 \(legacy\): 0 changed, 8 unchanged; role web on legacy$`, r)
	if got := callsSince(t, h, before); !hasCall(got, `^\[root\] systemctl daemon-reload$`) || !hasCall(got, `^\[root\] apt-get install -y figlet$`) {
		t.Errorf("second run: the changed_when steps did not run:\n%s", strings.Join(got, "\n"))
	}

	for _, dry := range []bool{false, true} {
		args := []string{"-H", hostsArg(f, h), "--recipe", recipe, "--var", "role=db"}
		if dry {
			args = append(args, "--dry-run")
		}
		before := len(calls(t, h))
		r = u.on(f, "provision", args...)
		wantExit(t, r, 5, "role=db (dry run %v)", dry)
		if dry && !regexp.MustCompile(`(?m)^fail +refuse db on xenial \(role db is not for ubuntu 16\.04\)$`).MatchString(r.stdout) {
			t.Errorf("role=db dry run: want the plan to fail at the refusal\n%s", r)
		}
		if !dry {
			checkStatus(t, statuses(t, r.stdout), f, h, false, `^step "refuse db on xenial": role db is not for ubuntu 16\.04`, r)
		}
		if got := callsSince(t, h, before); hasCall(got, `^\[root\] (systemctl|apt-get)`) || exists(t, h.Path("/tmp/fleet-cond-db")) {
			t.Errorf("role=db (dry run %v) went past the refusal:\n%s", dry, strings.Join(got, "\n"))
		}
	}
}
