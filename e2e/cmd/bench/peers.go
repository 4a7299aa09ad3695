package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// The peers: the tools fleet is compared with, each from Debian's packages,
// installed with apt-get when missing. A peer that cannot be installed (no
// mirror reachable, say) is left out of the run part with the reason in the
// report; the copy and seed parts need parallel-ssh and parallel-scp.

// peer is one tool fleet is compared with.
type peer struct {
	Name string // in the report and for -peers
	Pkg  string // Debian package
	Bin  string // its binary, which says whether it is installed
	// versionArgs print its version (first line kept).
	versionArgs []string
}

// peers are all of them, in the order they run in each round.
var peers = []peer{
	{Name: "parallel-ssh", Pkg: "pssh", Bin: psshPath, versionArgs: []string{psshPath, "--version"}},
	{Name: "pdsh", Pkg: "pdsh", Bin: "/usr/bin/pdsh", versionArgs: []string{"/usr/bin/pdsh", "-V"}},
	{Name: "clush", Pkg: "clustershell", Bin: "/usr/bin/clush", versionArgs: []string{"/usr/bin/clush", "--version"}},
	// ansible-core is the engine with the ansible command and the builtin
	// raw module; the "ansible" package adds only collections on top.
	{Name: "ansible", Pkg: "ansible-core", Bin: "/usr/bin/ansible", versionArgs: []string{"/usr/bin/ansible", "--version"}},
}

func peerNames() []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Name)
	}
	return out
}

// peerStatus is what the bench found out about the peers it was asked for.
type peerStatus struct {
	Ready   []peer            // installed, in the order of peers
	Missing map[string]string // name -> why it is not there
	Version map[string]string // name -> version line and Debian package version
}

// ensurePeers installs the wanted peers that are missing, all in one
// apt-get run, and when that fails runs apt-get update and then installs
// them one by one, so that one package that cannot be had does not keep the
// others out. It fails only when pssh is wanted by a part that cannot go
// without it (needPSSH) and cannot be had.
func ensurePeers(ctx context.Context, wanted []string, needPSSH bool, work string, log io.Writer) (*peerStatus, error) {
	st := &peerStatus{Missing: map[string]string{}, Version: map[string]string{}}
	var asked, todo []peer
	for _, p := range peers {
		if slices.Contains(wanted, p.Name) || needPSSH && p.Name == "parallel-ssh" {
			asked = append(asked, p)
			if !exists(p.Bin) {
				todo = append(todo, p)
			}
		}
	}
	if len(todo) > 0 {
		installPeers(ctx, todo, st, log)
	}
	for _, p := range asked {
		if !exists(p.Bin) {
			if st.Missing[p.Name] == "" {
				st.Missing[p.Name] = fmt.Sprintf("%s still missing after apt-get install %s", p.Bin, p.Pkg)
			}
			fmt.Fprintf(log, "bench: going on without %s: %s\n", p.Name, st.Missing[p.Name])
			continue
		}
		delete(st.Missing, p.Name)
		v := versionOf(ctx, p, work)
		if d := output(ctx, "dpkg-query", "-W", "-f=${Version}", p.Pkg); d != "unknown" {
			v += " (Debian package " + p.Pkg + " " + d + ")"
		}
		st.Version[p.Name] = v
		if slices.Contains(wanted, p.Name) {
			st.Ready = append(st.Ready, p)
		}
	}
	if _, gone := st.Missing["parallel-ssh"]; gone && needPSSH {
		return st, fmt.Errorf("the copy and seed parts need parallel-ssh and parallel-scp: %s", st.Missing["parallel-ssh"])
	}
	return st, nil
}

// installPeers runs apt-get install for todo, recording in st.Missing why a
// package could not be installed.
func installPeers(ctx context.Context, todo []peer, st *peerStatus, log io.Writer) {
	var pkgs []string
	for _, p := range todo {
		pkgs = append(pkgs, p.Pkg)
	}
	if os.Geteuid() != 0 {
		for _, p := range todo {
			st.Missing[p.Name] = fmt.Sprintf("%s is missing and installing %s needs root", p.Bin, p.Pkg)
		}
		return
	}
	fmt.Fprintf(log, "bench: installing %s with apt-get (for %d missing peer(s))\n", strings.Join(pkgs, " "), len(todo))
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	if _, err := aptGet(ctx, log, append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)...); err == nil {
		return
	}
	fmt.Fprintln(log, "bench: apt-get install failed; running apt-get update and installing one package at a time")
	if why, err := aptGet(ctx, log, "update"); err != nil {
		fmt.Fprintf(log, "bench: apt-get update: %v: %s\n", err, why)
	}
	for _, p := range todo {
		if why, err := aptGet(ctx, log, "install", "-y", "--no-install-recommends", p.Pkg); err != nil {
			st.Missing[p.Name] = fmt.Sprintf("apt-get install %s: %v: %s", p.Pkg, err, why)
		}
	}
}

// versionOf returns the first line of p's version, run in work with
// ansible's home and temporary files there too: even `ansible --version`
// creates ~/.ansible/tmp otherwise.
func versionOf(ctx context.Context, p peer, work string) string {
	env := envFor(client{Env: []string{"ANSIBLE_HOME=" + filepath.Join(work, "ansible-version"),
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(work, "ansible-version", "tmp")}})
	return outputIn(ctx, work, env, p.versionArgs...)
}

// aptGet runs apt-get non-interactively, its output streamed to log, and
// returns with an error its last error line ("E: ...") as the reason.
func aptGet(ctx context.Context, log io.Writer, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(log, &out), io.MultiWriter(log, &out)
	err := cmd.Run()
	if err == nil {
		return "", nil
	}
	why := ""
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") {
			why = strings.TrimSpace(line)
		}
	}
	if why == "" {
		why = benchreport.TailText(out.String(), 200)
	}
	if ctx.Err() != nil {
		why = fmt.Sprintf("gave up after %v: %s", installTimeout, why)
	}
	return why, err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
