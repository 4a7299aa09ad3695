package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// The proxy part: `fleet run true` on N hosts reached three ways: directly;
// through -J, one SSH connection to a bastion that every host's connection
// rides as a channel; and through a ProxyCommand `ssh -W %h:%p bastion`,
// which is what users write and costs one ssh process, and one SSH
// connection to the bastion, per host.

// proxyClients are the contestants of the proxy part, in the order of a round.
var proxyClients = []string{"direct", "ProxyJump", "ProxyCommand"}

// proxyConnectTimeout is fleet's --connect-timeout in the proxy part.
const proxyConnectTimeout = 120

// proxyPart starts N+1 plain hosts, the first one the bastion, and measures
// the three ways to the other N, every host at once (-p N).
func proxyPart(ctx context.Context, o *options, work string) (*group, error) {
	n := o.proxyN
	hs, err := startHostSet(ctx, n+1, work, o.logOut)
	if err != nil {
		return nil, err
	}
	defer hs.stop(o.logOut)
	bastion, targets := hs.Hosts[0], hs.Hosts[1:]
	hostsFile, err := writeHosts(filepath.Join(work, "proxy-hosts-"+strconv.Itoa(n)), hs.User, targets)
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(work, "fleet-state-proxy")
	par := strconv.Itoa(n)
	// 200 `ssh -W` at once, each with two handshakes (bastion, then the
	// target through it), need more than the default 10 s on a 2-core
	// machine: every way gets the same generous connect timeout, so that
	// what is measured is the cost of a run that succeeds.
	base := []string{o.fleet, "run", "-F", hs.SSHConfig, "-h", hostsFile, "-p", par, "-t", "0", "--connect-timeout", strconv.Itoa(proxyConnectTimeout)}
	jump := hs.User + "@" + bastion.HostPort()
	extra := map[string][]string{
		"direct":    nil,
		"ProxyJump": {"-J", jump},
		"ProxyCommand": {"-O", fmt.Sprintf("ProxyCommand=ssh -F %s -W %%h:%%p -p %d %s@%s",
			hs.SSHConfig, bastion.Port, hs.User, bastion.Addr)},
	}
	g := &group{N: n, P: n, Cmd: runCommands[0]}
	for _, name := range proxyClients {
		argv := append(append(append([]string{}, base...), extra[name]...), "-i", g.Cmd.Line)
		g.Results = append(g.Results, &result{Client: client{Name: name, Argv: argv, StateDir: stateDir, Runs: o.runs}})
	}
	// The bastion's sshd works for ProxyJump and ProxyCommand: its CPU
	// counts with the targets'.
	if err := measureGroup(ctx, g, pids(hs.Hosts), map[string]bool{}, o.logOut); err != nil {
		return nil, err
	}
	return g, nil
}

// renderProxy is the proxy part's section. It has no targets: it says what
// a ProxyCommand costs next to the other two ways.
func renderProxy(g *group, o *options) section {
	var b bytes.Buffer
	fmt.Fprintf(&b, "`fleet run -p %d --connect-timeout %d -i true` on the same %d real sshd hosts, reached directly, through `-J` (one SSH connection to a\n", g.P, proxyConnectTimeout, g.N)
	fmt.Fprintf(&b, "bastion, the %d hosts' connections riding it as channels) and through `-O ProxyCommand=ssh -F <ssh_config> -W %%h:%%p\n", g.N)
	fmt.Fprintf(&b, "-p PORT fleet-np@<bastion>` (one `ssh` process and one bastion connection per host: what users write). The bastion is\n")
	fmt.Fprintf(&b, "one more harness host. Medians of %d run(s), interleaved; one unmeasured warm-up each. Client CPU includes every\n", o.runs)
	fmt.Fprintf(&b, "process fleet waited for, so the %d `ssh -W` processes are in ProxyCommand's; sshd CPU includes the bastion's.\n\n", g.N)
	fmt.Fprintf(&b, "| way | N | -p | wall (min–max) | client CPU | max RSS | tree RSS (run 1) | sshd CPU | other load | ÷ direct: wall · CPU · max RSS |\n")
	fmt.Fprintf(&b, "|:--|--:|--:|:--|--:|--:|--:|--:|--:|:--|\n")
	direct := g.result("direct").stats()
	var failures []string
	for _, r := range g.Results {
		st := r.stats()
		if st.FirstErr != nil {
			failures = append(failures, fmt.Sprintf("%s: %d of %d runs failed, first: %v", r.Client.Name, st.Failed, st.OK+st.Failed, st.FirstErr))
		}
		if st.OK == 0 {
			fmt.Fprintf(&b, "| %s | %d | %d | failed | | | | | | |\n", r.Client.Name, g.N, g.P)
			continue
		}
		rel := ""
		if r.Client.Name != "direct" {
			rel = ratios(st, direct)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %.2f s | %.1f MiB | %.1f MiB | %.2f s | %.2f | %s |\n", r.Client.Name, g.N, g.P,
			wallRange(st), st.CPU.Seconds(), benchreport.MiB(st.RSS), benchreport.MiB(r.treeRSS()), st.SSHD.Seconds(), st.OtherCores, rel)
	}
	writeFailures(&b, failures)
	return section{title: "4. Reaching hosts: direct, ProxyJump, ProxyCommand", text: b.String(), detail: " (a comparison: no targets)"}
}
