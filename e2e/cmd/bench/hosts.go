package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// maxFleetHosts is what one harness fleet holds (one 127.0.X.0/24); the run
// part starts several fleets for more hosts.
const maxFleetHosts = 248

// hostSet is the hosts of one or more harness fleets used as one: the
// first fleet's client key is authorized on every other fleet's hosts, and
// known_hosts, ssh_config and the host list cover all of them.
type hostSet struct {
	fleets     []*harness.Fleet
	Hosts      []harness.Host
	User       string // the login of every host line (harness Users.NoPass)
	Port       int    // every host's sshd port
	Key        string // the client key, authorized everywhere
	KnownHosts string // every host's key
	SSHConfig  string // the first fleet's ssh_config with KnownHosts in it
}

// startHostSet starts ceil(n/248) plain harness fleets of about equal size,
// n hosts in all, and writes the merged client files into work.
func startHostSet(ctx context.Context, n int, work string, log io.Writer) (hs *hostSet, err error) {
	k := (n + maxFleetHosts - 1) / maxFleetHosts
	hs = &hostSet{}
	defer func() {
		if err != nil {
			hs.stop(log)
		}
	}()
	for i := range k {
		size := n / k
		if i < n%k {
			size++
		}
		f, err := startFleet(ctx, harness.Options{Hosts: size, Log: log})
		if err != nil {
			return hs, err
		}
		hs.fleets = append(hs.fleets, f)
		hs.Hosts = append(hs.Hosts, f.Hosts...)
	}
	first := hs.fleets[0]
	hs.User, hs.Port, hs.Key = first.Users.NoPass, first.Hosts[0].Port, first.Key
	hs.KnownHosts, hs.SSHConfig = first.KnownHosts, first.SSHConfig
	for _, h := range hs.Hosts {
		if h.Port != hs.Port {
			return hs, fmt.Errorf("hosts listen on ports %d and %d: the peers take one port for all", hs.Port, h.Port)
		}
	}
	if k == 1 {
		return hs, nil
	}
	var known []byte
	for i, f := range hs.fleets {
		if i > 0 {
			if err := f.AuthorizeKey(first.Key + ".pub"); err != nil {
				return hs, err
			}
		}
		b, err := os.ReadFile(f.KnownHosts)
		if err != nil {
			return hs, err
		}
		known = append(known, b...)
	}
	hs.KnownHosts = filepath.Join(work, "known_hosts")
	if err := os.WriteFile(hs.KnownHosts, known, 0o600); err != nil {
		return hs, err
	}
	cfg, err := os.ReadFile(first.SSHConfig)
	if err != nil {
		return hs, err
	}
	if strings.Count(string(cfg), first.KnownHosts) != 1 {
		return hs, fmt.Errorf("%s does not name %s once: cannot point it at the merged known_hosts", first.SSHConfig, first.KnownHosts)
	}
	hs.SSHConfig = filepath.Join(work, "ssh_config")
	merged := strings.Replace(string(cfg), first.KnownHosts, hs.KnownHosts, 1)
	if err := os.WriteFile(hs.SSHConfig, []byte(merged), 0o600); err != nil {
		return hs, err
	}
	fmt.Fprintf(log, "bench: %d hosts in %d harness fleets, one key and known_hosts for all\n", len(hs.Hosts), k)
	return hs, nil
}

func (hs *hostSet) stop(log io.Writer) {
	for _, f := range hs.fleets {
		stopFleet(f, log)
	}
}

// hostFiles are the first N hosts in the forms the clients read.
type hostFiles struct {
	PSSH      string // user@addr:port a line: fleet, parallel-ssh, the floor
	Addrs     string // addr a line: pdsh (-w ^FILE), clush (--hostfile)
	Inventory string // ansible's INI inventory
}

// writeHostFiles writes the first n hosts of hs into work, once per n.
func (hs *hostSet) writeHostFiles(work string, n int) (hostFiles, error) {
	if n > len(hs.Hosts) {
		return hostFiles{}, fmt.Errorf("%d hosts started, %d wanted", len(hs.Hosts), n)
	}
	var addrs, inv strings.Builder
	inv.WriteString("[bench]\n")
	for _, h := range hs.Hosts[:n] {
		fmt.Fprintf(&addrs, "%s\n", h.Addr)
		fmt.Fprintf(&inv, "%s ansible_port=%d ansible_user=%s\n", h.Addr, h.Port, hs.User)
	}
	hf := hostFiles{
		Addrs:     filepath.Join(work, fmt.Sprintf("addrs-%d", n)),
		Inventory: filepath.Join(work, fmt.Sprintf("inventory-%d.ini", n)),
	}
	var err error
	hf.PSSH, err = writeHosts(filepath.Join(work, fmt.Sprintf("hosts-%d", n)), hs.User, hs.Hosts[:n])
	return hf, errors.Join(err,
		os.WriteFile(hf.Addrs, []byte(addrs.String()), 0o644),
		os.WriteFile(hf.Inventory, []byte(inv.String()), 0o644))
}

// writeHosts writes a pssh host file, user@addr:port a line, as the
// harness writes its own (Fleet.HostsFile), and returns its path.
func writeHosts(path, user string, hosts []harness.Host) (string, error) {
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s@%s\n", user, h.HostPort())
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}
