package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/fleet-sh/fleet/inventory"
)

// The differential test: for every case of the corpus (the txtar files in
// testdata/sshconfig and the combinations generated below), what fleet
// resolves must equal what the installed OpenSSH prints with ssh -G.

// diffCase is one query: a config, a host name as given, flags.
type diffCase struct {
	name    string
	config  string // path of the -F file
	alias   string
	user    string // -l
	port    int    // -p
	opts    [][2]string
	refused bool // fleet must refuse a key ssh accepts
	failing bool // both must fail
}

// diffFields are the ssh -G keys compared.
var diffFields = []string{"hostname", "user", "port", "identityfile", "proxyjump", "proxycommand", "hostkeyalias",
	"userknownhostsfile", "globalknownhostsfile", "stricthostkeychecking", "connecttimeout",
	"serveraliveinterval", "serveralivecountmax",
	// fleet's lists as OpenSSH assembles them, before they are narrowed to
	// what x/crypto implements (sshalgos_test.go checks that part).
	"kexalgorithms", "ciphers", "macs", "hostkeyalgorithms", "pubkeyacceptedalgorithms", "casignaturealgorithms",
	"requiredrsasize"}

// defaultIdentities is what ssh -G prints when no IdentityFile is set;
// fleet then offers its own defaults (keyring), which is the same thing.
const defaultIdentities = "~/.ssh/id_rsa ~/.ssh/id_ecdsa ~/.ssh/id_ecdsa_sk ~/.ssh/id_ed25519 ~/.ssh/id_ed25519_sk ~/.ssh/id_xmss ~/.ssh/id_dsa"

func TestSSHConfigDifferential(t *testing.T) {
	t.Parallel() // hundreds of ssh -G runs: they overlap the tests that wait
	sshBin := sshClient(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// ssh takes the home directory from the passwd entry, not $HOME.
	home := u.HomeDir
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Skipf("cannot create %s/.ssh for relative Include cases: %v", home, err)
	}
	rel, err := os.MkdirTemp(filepath.Join(home, ".ssh"), "fleet-difftest-")
	if err != nil {
		t.Skipf("cannot write under %s/.ssh: %v", home, err)
	}
	t.Cleanup(func() { os.RemoveAll(rel) })
	dir := t.TempDir()
	cases := loadCorpus(t, dir, rel)
	n := len(cases)
	cases = append(cases, generatedCases(t, dir)...)
	// No -F: ~/.ssh/config then /etc/ssh/ssh_config (and what it includes),
	// whatever this machine has.
	cases = append(cases, diffCase{name: "default-files#1", alias: "h"}, diffCase{name: "default-files#2", alias: "web1", user: "bob", port: 2022})
	t.Logf("%d cases from testdata/sshconfig, %d generated", n, len(cases)-n)
	if len(cases) < 200 {
		t.Fatalf("corpus has %d cases, want at least 200", len(cases))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	diffs := make([]string, len(cases))
	for i, c := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			diffs[i] = compareCase(sshBin, home, u.Username, c)
		}()
	}
	wg.Wait()
	failed := 0
	for _, d := range diffs {
		if d != "" {
			failed++
			if failed <= 25 {
				t.Error(d)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d cases differ from ssh -G", failed, len(cases))
	}
}

// sshG runs ssh -G for c and returns its settings (multi-valued keys joined
// by spaces).
func sshG(sshBin string, c diffCase) (map[string]string, error) {
	var args []string
	if c.config != "" {
		args = append(args, "-F", c.config)
	}
	// -o first, then -l and -p: the order pssh runs ssh in, which fleet's
	// -O, -l and -p follow (see Options.Overrides).
	for _, o := range c.opts {
		args = append(args, "-o", o[0]+"="+o[1])
	}
	if c.user != "" {
		args = append(args, "-l", c.user)
	}
	if c.port != 0 {
		args = append(args, "-p", strconv.Itoa(c.port))
	}
	return sshDashG(sshBin, append(args, "--", c.alias)...)
}

// sshClient is the installed OpenSSH client; without one the test, which
// compares fleet with it, is skipped.
func sshClient(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("ssh (OpenSSH client) is not installed: the test compares fleet with ssh")
	}
	return bin
}

// sshDashG runs ssh -G with args and returns its settings (multi-valued
// keys joined by spaces).
func sshDashG(sshBin string, args ...string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, append([]string{"-G"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		if m[k] != "" && (k == "identityfile" || k == "certificatefile") {
			m[k] += " " + v
		} else {
			m[k] = v
		}
	}
	return m, nil
}

// fleetView resolves c with fleet and prints it as ssh -G would.
func fleetView(home, localUser string, c diffCase) (map[string]string, error) {
	cfg, err := loadSSHConfig(c.config, home, c.opts, nil, func(string) {})
	if err != nil {
		return nil, err
	}
	o := &Options{User: c.user, Port: c.port, Overrides: c.opts}
	e, err := cfg.resolve(inventory.Host{Name: c.alias}, o, home, localUser)
	if err != nil {
		return nil, err
	}
	s := e.settings
	m := map[string]string{"hostname": e.hostName, "user": e.user, "port": strconv.Itoa(e.port)}
	var ids []string
	for _, v := range s.vals["identityfile"] {
		ids = append(ids, v.args[0])
	}
	m["identityfile"] = strings.Join(ids, " ")
	if len(ids) == 0 {
		m["identityfile"] = defaultIdentities
	}
	m["proxyjump"], m["proxycommand"], m["hostkeyalias"] = e.proxyJump, e.proxyCommand, e.hostKeyAlias
	m["userknownhostsfile"] = strings.Join(e.knownHosts, " ")
	if len(e.knownHosts) == 0 {
		m["userknownhostsfile"] = "none"
	}
	m["globalknownhostsfile"] = strings.Join(e.globalKnown, " ")
	switch strings.ToLower(s.get("stricthostkeychecking")) {
	case "", "ask":
		m["stricthostkeychecking"] = "ask" // fleet's default (unset) is accept-new, see docs/ssh.md
	case "yes", "true":
		m["stricthostkeychecking"] = "true"
	case "no", "off", "false":
		m["stricthostkeychecking"] = "false"
	default:
		m["stricthostkeychecking"] = strings.ToLower(s.get("stricthostkeychecking"))
	}
	m["connecttimeout"] = "none"
	if s.get("connecttimeout") != "" {
		m["connecttimeout"] = strconv.Itoa(int(e.connectTimeout / time.Second))
	}
	m["serveraliveinterval"] = "0"
	if s.get("serveraliveinterval") != "" {
		m["serveraliveinterval"] = strconv.Itoa(int(e.aliveInterval / time.Second))
	}
	m["serveralivecountmax"] = strconv.Itoa(e.aliveMax)
	for k, v := range opensshAlgos(s) {
		m[k] = strings.Join(v, ",")
	}
	m["requiredrsasize"] = strconv.Itoa(e.requiredRSASize)
	return m, nil
}

// compareCase returns "" when fleet and ssh agree on c, else a readable diff.
func compareCase(sshBin, home, localUser string, c diffCase) string {
	want, werr := sshG(sshBin, c)
	got, gerr := fleetView(home, localUser, c)
	head := fmt.Sprintf("case %s (ssh -G -F %s %s", c.name, c.config, c.alias)
	if c.user != "" {
		head += " -l " + c.user
	}
	if c.port != 0 {
		head += fmt.Sprintf(" -p %d", c.port)
	}
	head += "):"
	switch {
	case c.refused:
		if werr != nil {
			return fmt.Sprintf("%s ssh -G fails (%v) but the case expects ssh to accept the config", head, werr)
		}
		if gerr == nil || !strings.Contains(gerr.Error(), "not supported by fleet") {
			return fmt.Sprintf("%s fleet should refuse a key it does not honour, got %v", head, gerr)
		}
		return ""
	case werr != nil || gerr != nil:
		if (werr != nil) != (gerr != nil) || !c.failing {
			return fmt.Sprintf("%s ssh -G error: %v; fleet error: %v", head, werr, gerr)
		}
		return ""
	case c.failing:
		return fmt.Sprintf("%s expected both to fail, both succeeded", head)
	}
	var b strings.Builder
	for _, k := range diffFields {
		if got[k] != want[k] {
			fmt.Fprintf(&b, "\n    %-22s ssh -G %q\n    %-22s fleet  %q", k, want[k], "", got[k])
		}
	}
	if b.Len() == 0 {
		return ""
	}
	cfg, _ := os.ReadFile(c.config)
	return head + b.String() + "\n    config:\n      " + strings.ReplaceAll(strings.TrimSpace(string(cfg)), "\n", "\n      ")
}

// loadCorpus reads testdata/sshconfig/*.txtar. Each archive has a file
// "config" (the -F file), any other files (a name starting with "ssh/" is
// written under ~/.ssh, for relative Includes) and "queries": one query
// a line, "ALIAS [-l USER] [-p PORT] [-o K=V]... [refused|error]".
// @DIR@ in any file is the archive's directory, @REL@ the ~/.ssh folder.
func loadCorpus(t *testing.T, dir, rel string) []diffCase {
	paths, err := filepath.Glob(filepath.Join("testdata", "sshconfig", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus in testdata/sshconfig: %v", err)
	}
	sort.Strings(paths)
	var out []diffCase
	for _, p := range paths {
		a, err := txtar.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(p), ".txtar")
		cdir := filepath.Join(dir, base)
		crel := filepath.Join(rel, base)
		var queries string
		for _, f := range a.Files {
			data := strings.NewReplacer("@DIR@", cdir, "@REL@", filepath.Base(rel)+"/"+base).Replace(string(f.Data))
			if f.Name == "queries" {
				queries = data
				continue
			}
			target := filepath.Join(cdir, f.Name)
			if strings.HasPrefix(f.Name, "ssh/") {
				target = filepath.Join(crel, strings.TrimPrefix(f.Name, "ssh/"))
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, target, data, 0o600)
		}
		for i, q := range strings.Split(queries, "\n") {
			if q = strings.TrimSpace(q); q == "" || strings.HasPrefix(q, "#") {
				continue
			}
			c := parseQuery(t, q)
			c.name = fmt.Sprintf("%s#%d", base, i+1)
			c.config = filepath.Join(cdir, "config")
			out = append(out, c)
		}
	}
	return out
}

func parseQuery(t *testing.T, q string) diffCase {
	w := strings.Fields(q)
	c := diffCase{alias: w[0]}
	for i := 1; i < len(w); i++ {
		switch w[i] {
		case "refused":
			c.refused = true
		case "error":
			c.failing = true
		case "-l":
			i++
			c.user = w[i]
		case "-p":
			i++
			c.port, _ = strconv.Atoi(w[i])
		case "-o":
			i++
			k, v, _ := strings.Cut(w[i], "=")
			c.opts = append(c.opts, [2]string{k, v})
		default:
			t.Fatalf("query %q: unknown word %q", q, w[i])
		}
	}
	return c
}
