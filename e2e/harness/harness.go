// Package harness brings up a fleet of real OpenSSH sshd hosts on this one
// machine so that end-to-end tests (and `make demo`) can run the fleet binary
// against them exactly as a user would.
//
// Every host is its own `sshd -D` process listening on its own loopback
// address 127.0.X.Y (Linux routes all of 127.0.0.0/8 to lo, so no interface
// setup is needed) with its own host key. All hosts accept the same three
// local accounts by public key, which differ only in what sudo allows them.
//
// The harness needs root: it creates local users, writes
// /etc/sudoers.d/fleet-e2e and runs sshd, which must start as root to switch
// to the logged-in user. State shared by every fleet on the machine (the
// sudo password, a lock) lives in /var/lib/fleet-e2e; everything else lives
// in the fleet's own Dir, described by Dir/fleet.json so that another
// process can Load and Stop it.
package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DefaultPort is the sshd port used when Options.Port is 0. It is not 22 so
// that a system sshd, if any, never gets in the way.
const DefaultPort = 2222

// StateFile is the name, inside Fleet.Dir, of the JSON description of a
// running fleet written by Start and read by Load.
const StateFile = "fleet.json"

// Options says what fleet to bring up.
type Options struct {
	Hosts int       // number of healthy sshd hosts (1..248)
	Dir   string    // working folder (created 0700); "" = a fresh os.MkdirTemp, removed by Stop
	Port  int       // sshd port on every host; 0 = DefaultPort
	Log   io.Writer // where to say what it does (installs, starts); nil = io.Discard

	// Distros, when set, makes every host pretend to be a Linux
	// distribution, one entry per host (Hosts may then be 0; otherwise it
	// must equal len(Distros)): "ubuntu-16.04", "debian-12", "centos-7",
	// "rocky-8" or "alpine-3.19" (see Distros()). Each such host's sshd runs
	// in a mount namespace of its own with private overlay copies of /etc,
	// /var, /tmp, /root, /opt, /usr and /home, the distribution's
	// os-release, and test doubles for its package manager, systemctl,
	// curl, gpg, docker, sysctl, swapoff and modprobe that record their
	// calls (Host.Calls) and never touch the machine. nil = plain hosts
	// that share the machine's filesystem.
	Distros []string

	// Faults, when set, gives hosts a fault personality, one entry per
	// host like Distros ("" = healthy; Hosts may then be 0, otherwise it
	// must equal len(Faults), and so must len(Distros) when both are
	// given). Fault hosts are distro hosts, and so are the healthy hosts
	// of a fleet with faults: each is Distros[i], or Debian 12 when Distros
	// is nil. (A plain host writes to the machine's own files, which every
	// distro host sees through its overlays.) A FaultRefuse host runs
	// nothing. See Fault for each personality.
	Faults []Fault
}

// Fleet is a running set of sshd hosts. It is written to Dir/fleet.json as
// JSON so that a second process can use (and stop) it through Load.
type Fleet struct {
	Dir         string // working folder
	Hosts       []Host
	Key         string // path of the client private key (ed25519, unencrypted, 0600) authorized for every user
	KnownHosts  string // path of a known_hosts file that already lists every host's key
	SSHConfig   string // path of an ssh_config file (Host *: IdentityFile, UserKnownHostsFile, IdentitiesOnly, StrictHostKeyChecking yes)
	HostsFile   string // path of a pssh host file listing every host as user@127.0.X.Y:PORT (user = Users.NoPass)
	Users       Users
	Unreachable string // an address "127.0.X.250:PORT" where nothing listens (for unreachable-host tests)

	// Block is the X of 127.0.X.Y: the /24 this fleet owns while it runs.
	Block int
	// RemoveDir says whether Stop removes Dir, which is true when Start
	// made Dir itself with os.MkdirTemp.
	RemoveDir bool

	// procs are the sshd processes this very process started; Stop reaps
	// them. A Loaded fleet has none and polls /proc instead.
	procs []*sshdProc
}

// Host is one sshd.
type Host struct {
	Addr string // "127.0.X.Y"
	Port int
	PID  int // of the listening `sshd -D` process

	// Distro is the distribution the host pretends to be
	// (Options.Distros), "" for a plain host.
	Distro string `json:",omitempty"`
	// Fault is the host's fault personality (Options.Faults), "" for a
	// healthy host.
	Fault Fault `json:",omitempty"`
	// Root is, for a running distro host, "/proc/PID/root": the path
	// through which this process sees the host's own filesystem (see
	// Path); "" otherwise.
	Root string `json:",omitempty"`
}

// HostPort returns "127.0.X.Y:PORT", the form ssh tools and net.Dial accept.
func (h Host) HostPort() string { return fmt.Sprintf("%s:%d", h.Addr, h.Port) }

// Users are the local accounts every host accepts (key auth with Fleet.Key
// for all of them).
type Users struct {
	NoPass       string // "fleet-np": sudo without password (NOPASSWD: ALL)
	Pass         string // "fleet-pw": sudo that needs a password
	PassPassword string // that user's password (for sudo -S), also saved in Dir/sudo-password (0600)
	Plain        string // "fleet-plain": no sudo at all
	Chatty       string // "fleet-chatty": passwordless sudo, and a ~/.bashrc that prints on stdout and stderr
}

// Start brings up the fleet: it installs missing tools, creates the users,
// generates keys, starts one sshd per host and waits until every host sends
// its SSH banner. ctx bounds only the start-up: the sshd processes outlive it
// (and this process too: they run in their own session) until Stop.
func Start(ctx context.Context, opts Options) (f *Fleet, err error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	if opts.Hosts, err = perHost(opts.Hosts, "Distros", opts.Distros, Distros()); err != nil {
		return nil, err
	}
	if opts.Hosts, err = perHost(opts.Hosts, "Faults", opts.Faults, append(AllFaults(), SlowFaults()...), FaultNone); err != nil {
		return nil, err
	}
	if opts.Hosts < 1 || opts.Hosts > maxHosts {
		return nil, fmt.Errorf("harness: start: Hosts must be 1..%d, got %d", maxHosts, opts.Hosts)
	}
	port := opts.Port
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("harness: start: bad port %d", port)
	}
	if err := EnsureTools(ctx, log); err != nil {
		return nil, err
	}
	hosts := make([]Host, opts.Hosts)
	for i := range hosts {
		if len(opts.Distros) > 0 {
			hosts[i].Distro = opts.Distros[i]
		}
		if len(opts.Faults) > 0 {
			hosts[i].Fault = opts.Faults[i]
		}
		if len(opts.Faults) > 0 && len(opts.Distros) == 0 && hosts[i].runsSSHD() {
			hosts[i].Distro = Debian12 // see Options.Faults
		}
	}
	if slices.ContainsFunc(hosts, func(h Host) bool { return h.Distro != "" }) {
		if err := OverlayAvailable(); err != nil {
			return nil, err
		}
	}

	f = &Fleet{Dir: opts.Dir}
	if f.Dir == "" {
		if f.Dir, err = os.MkdirTemp("", "fleet-e2e-"); err != nil {
			return nil, fmt.Errorf("harness: start: %w", err)
		}
		f.RemoveDir = true
	}
	// sshd is given absolute paths and Running matches them against sshd's
	// command line, so Dir must be absolute.
	if f.Dir, err = filepath.Abs(f.Dir); err != nil {
		return nil, fmt.Errorf("harness: start: %w", err)
	}
	if !f.RemoveDir {
		if err := refuseRunning(f.Dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(f.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("harness: start: %w", err)
		}
	}
	// The key, password and host keys live here: keep other users out even
	// when the folder already existed with looser permissions.
	if err := os.Chmod(f.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("harness: start: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Stop()
		}
	}()

	// The machine-wide lock serialises user setup and the choice of a free
	// block, so that two fleets started at once neither fight over
	// chpasswd nor pick the same 127.0.X.0/24.
	unlock, err := lockState(ctx)
	if err != nil {
		return f, err
	}
	defer unlock()

	if f.Users, err = ensureUsers(ctx, log); err != nil {
		return f, err
	}
	if err := writeFile(filepath.Join(f.Dir, "sudo-password"), f.Users.PassPassword+"\n", 0o600); err != nil {
		return f, err
	}
	if f.Block, err = pickBlock(port, opts.Hosts); err != nil {
		return f, err
	}
	for i, h := range hosts {
		h.Addr, h.Port = fmt.Sprintf("127.0.%d.%d", f.Block, i+2), port
		f.Hosts = append(f.Hosts, h)
	}
	f.Unreachable = fmt.Sprintf("127.0.%d.%d:%d", f.Block, unreachableHost, port)

	for _, step := range []func() error{
		func() error { return f.writeKeys(ctx) }, f.authorize, func() error { return f.prepareFaults(ctx) },
		func() error { return f.startHosts(ctx, log) }, f.faultsStarted, f.save,
	} {
		if err := step(); err != nil {
			return f, err
		}
	}
	fmt.Fprintf(log, "harness: fleet of %d hosts up on 127.0.%d.2-%d port %d (dir %s)\n",
		len(f.Hosts), f.Block, len(f.Hosts)+1, port, f.Dir)
	return f, nil
}

// Load reads Dir/fleet.json written by Start, so that a process other than
// the one that started a fleet can use or Stop it.
func Load(dir string) (*Fleet, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("harness: load: %w", err)
	}
	f := new(Fleet)
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("harness: load %s: %w", dir, err)
	}
	return f, nil
}

// save writes the fleet description atomically, so that Load never sees a
// half-written file.
func (f *Fleet) save() error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("harness: save: %w", err)
	}
	return writeFile(filepath.Join(f.Dir, StateFile), string(b)+"\n", 0o600)
}

// Running reports the hosts whose sshd is still alive.
func (f *Fleet) Running() []Host {
	var up []Host
	for _, h := range f.Hosts {
		if h.PID > 0 && isFleetSSHD(h.PID, f.Dir) {
			up = append(up, h)
		}
	}
	return up
}

// Stop kills every sshd of the fleet together with every process its
// sessions started, removes the fleet's authorized keys from the users'
// homes, and removes Dir if Start created it. It is safe to call more than
// once and on a partly started fleet.
func (f *Fleet) Stop() error {
	var errs []error
	// The keys go first, while the sshds still hold the block: once they
	// are gone another fleet may pick the same block and write a key file
	// of the same name, which a later removal would take from it.
	if f.Block != 0 {
		errs = append(errs, f.unauthorize())
	}
	var roots []int
	for _, h := range f.Running() {
		roots = append(roots, h.PID)
	}
	if err := killTrees(roots, sshConnectionTo(f.Hosts), 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	for _, p := range f.procs {
		p.waitExit(2 * time.Second)
	}
	f.procs = nil
	distroHosts := false
	for i := range f.Hosts {
		f.Hosts[i].PID = 0
		f.Hosts[i].Root = ""
		distroHosts = distroHosts || f.Hosts[i].Distro != ""
	}
	if distroHosts && f.Dir != "" {
		// The namespaces, and with them the overlay mounts, died with
		// their processes: only the upper layers are left to remove.
		if err := os.RemoveAll(f.rootsPath()); err != nil {
			errs = append(errs, fmt.Errorf("harness: stop: %w", err))
		}
	}
	if f.RemoveDir && f.Dir != "" {
		if err := os.RemoveAll(f.Dir); err != nil {
			errs = append(errs, fmt.Errorf("harness: stop: %w", err))
		}
	} else if f.Dir != "" {
		// Leave the folder (logs are worth keeping) but mark the fleet as
		// stopped so a later Load does not think it still runs.
		if _, err := os.Stat(filepath.Join(f.Dir, StateFile)); err == nil {
			errs = append(errs, f.save())
		}
	}
	return errors.Join(errs...)
}

// perHost checks a list of Options with one entry per host (field, e.g.
// Distros): it must be empty, or as long as hosts unless that is 0, and hold
// only known values. It returns the number of hosts the list implies.
func perHost[T ~string](hosts int, field string, list, known []T, extra ...T) (int, error) {
	if len(list) == 0 {
		return hosts, nil
	}
	if hosts != 0 && hosts != len(list) {
		return 0, fmt.Errorf("harness: start: Hosts is %d but %s has %d entries", hosts, field, len(list))
	}
	for _, v := range list {
		if !slices.Contains(known, v) && !slices.Contains(extra, v) {
			return 0, fmt.Errorf("harness: start: %s: unknown %q (want one of %q)", field, v, known)
		}
	}
	return len(list), nil
}

// refuseRunning fails when dir already holds a fleet whose sshds are alive:
// starting another one there would orphan them.
func refuseRunning(dir string) error {
	old, err := Load(dir)
	if err != nil {
		return nil // no (readable) fleet there
	}
	if up := old.Running(); len(up) > 0 {
		return fmt.Errorf("harness: start: %s already holds a running fleet (sshd pid %d); stop it first", dir, up[0].PID)
	}
	return nil
}

// writeFile writes through a temporary file and a rename, so readers never
// see partial content, then sets mode explicitly (umask must not loosen or
// tighten it).
func writeFile(path, content string, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		return fmt.Errorf("harness: write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("harness: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("harness: write %s: %w", path, err)
	}
	return nil
}
