package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// How each client of the run part is started: the same hosts, the same
// harness key and known_hosts (through the ssh_config, or given directly to
// the floor), the same -p, no time limit, and output printed to stdout
// (/dev/null) by every client that prints output.

// benchCmd is a command the run part runs on every host.
type benchCmd struct {
	Key  string // for -cmd
	Name string // in the report
	Line string // what the remote shell runs
}

// runCommands: `true`, which measures what a connection costs, and 100 KB of
// output in 1024 lines of 100 bytes, which measures the output path.
var runCommands = []benchCmd{
	{Key: "true", Name: "true", Line: "true"},
	{Key: "100k", Name: "100 KB output", Line: "yes $(printf %099d 0) | head -c 102400"},
}

func commandKeys() []string {
	var out []string
	for _, c := range runCommands {
		out = append(out, c.Key)
	}
	return out
}

// peerSetup is what the peers need besides their command lines: a config
// folder each for clush and ansible, so that neither reads the machine's
// or root's own configuration, nor writes into the working directory.
type peerSetup struct {
	hs         *hostSet
	ansibleDir string // ANSIBLE_CONFIG's folder and ansible's working directory
	clushDir   string // CLUSTERSHELL_CFGDIR
}

// newPeerSetup writes clush's and ansible's configuration under work.
func newPeerSetup(hs *hostSet, work string) (*peerSetup, error) {
	ps := &peerSetup{hs: hs, ansibleDir: filepath.Join(work, "ansible"), clushDir: filepath.Join(work, "clush")}
	for _, d := range []string{ps.ansibleDir, filepath.Join(ps.ansibleDir, "home"), filepath.Join(ps.ansibleDir, "tmp"), ps.clushDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// ansible's defaults but for: no retry files, no cowsay, no colour, no
	// deprecation chatter, its home and temporary files here, and ssh_args
	// without ControlPersist, whose master connections would outlive the
	// run (and keep the next run from connecting afresh); -C, which it
	// passes by default, stays.
	ansibleCfg := fmt.Sprintf(`# Written by e2e/cmd/bench
[defaults]
home = %[1]s/home
local_tmp = %[1]s/tmp
host_key_checking = True
gathering = explicit
retry_files_enabled = False
nocows = True
nocolor = True
deprecation_warnings = False
interpreter_python = auto_silent

[ssh_connection]
ssh_args = -C -o ControlMaster=no -F %[2]s
control_path_dir = %[1]s/cp
`, ps.ansibleDir, hs.SSHConfig)
	// Debian's /etc/clustershell/clush.conf, which CLUSTERSHELL_CFGDIR
	// replaces, but for the login, the harness ssh_config and port, and no
	// colour.
	clushCfg := fmt.Sprintf(`# Written by e2e/cmd/bench
[Main]
fanout: 64
connect_timeout: 15
command_timeout: 0
color: never
fd_max: 8192
history_size: 100
maxrc: no
node_count: yes
verbosity: 1
ssh_user: %s
ssh_options: -F %s -p %d
`, hs.User, hs.SSHConfig, hs.Port)
	if err := os.WriteFile(filepath.Join(ps.ansibleDir, "ansible.cfg"), []byte(ansibleCfg), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ps.clushDir, "clush.conf"), []byte(clushCfg), 0o600); err != nil {
		return nil, err
	}
	return ps, nil
}

// clients returns the contestants for one command, host count and -p, in
// the order they run in each round: fleet, the ready peers, the floor.
func (ps *peerSetup) clients(fleetBin, self string, ready []peer, cmd benchCmd, hf hostFiles, p int, stateDir string) []client {
	hs, par := ps.hs, strconv.Itoa(p)
	out := []client{{
		Name: "fleet",
		Argv: []string{fleetBin, "run", "-F", hs.SSHConfig, "-h", hf.PSSH, "-p", par, "-t", "0", "-i", cmd.Line},
		// Run records are part of fleet's cost: keep them on.
		StateDir: stateDir,
	}}
	for _, pe := range ready {
		c := client{Name: pe.Name}
		switch pe.Name {
		case "parallel-ssh":
			c.Argv = []string{psshPath, "-h", hf.PSSH, "-p", par, "-t", "0", "-i", "-x", "-F " + shellQuote(hs.SSHConfig), cmd.Line}
		case "pdsh":
			// -S: exit with the largest remote status, so a failure shows.
			c.Argv = []string{pe.Bin, "-R", "ssh", "-S", "-f", par, "-l", hs.User, "-w", "^" + hf.Addrs, cmd.Line}
			// pdsh's own default is "-2 -a -x -l%u %h"; -2 is gone from
			// OpenSSH, the rest stays.
			c.Env = []string{fmt.Sprintf("PDSH_SSH_ARGS=-a -x -F %s -p %d -l%%u %%h", hs.SSHConfig, hs.Port)}
		case "clush":
			c.Argv = []string{pe.Bin, "-S", "-f", par, "--hostfile", hf.Addrs, "--nostdin", cmd.Line}
			c.Env = []string{"CLUSTERSHELL_CFGDIR=" + ps.clushDir}
		case "ansible":
			c.Argv = []string{pe.Bin, "all", "-i", hf.Inventory, "-f", par, "-m", "raw", "-a", cmd.Line}
			c.Env = []string{"ANSIBLE_CONFIG=" + filepath.Join(ps.ansibleDir, "ansible.cfg")}
			c.Dir = ps.ansibleDir
		default:
			continue
		}
		out = append(out, c)
	}
	return append(out, client{
		Name: "floor",
		Argv: []string{self, floorFlag, "-h", hf.PSSH, "-i", hs.Key, "-known-hosts", hs.KnownHosts, "-p", par, cmd.Line},
	})
}

// peerCommandLines describes, for the report, how each client was started.
func peerCommandLines(ready []peer) []string {
	lines := []string{
		"`fleet run -F <ssh_config> -h <hosts> -p P -t 0 -i CMD`, run records on, in one FLEET_STATE_DIR for the whole part",
	}
	for _, pe := range ready {
		switch pe.Name {
		case "parallel-ssh":
			lines = append(lines, "`parallel-ssh -h <hosts> -p P -t 0 -i -x \"-F <ssh_config>\" CMD`")
		case "pdsh":
			lines = append(lines, "`pdsh -R ssh -S -f P -l fleet-np -w ^<addresses> CMD` with `PDSH_SSH_ARGS=\"-a -x -F <ssh_config> -p PORT -l%u %h\"`")
		case "clush":
			lines = append(lines, "`clush -S -f P --hostfile <addresses> --nostdin CMD` with CLUSTERSHELL_CFGDIR naming a folder whose clush.conf "+
				"is Debian's but `ssh_user: fleet-np`, `ssh_options: -F <ssh_config> -p PORT` and `color: never`")
		case "ansible":
			lines = append(lines, "`ansible all -i <inventory> -f P -m raw -a CMD` (an INI inventory: address, ansible_port, ansible_user) with "+
				"ANSIBLE_CONFIG naming an ansible.cfg of ansible's defaults but `ssh_args = -C -o ControlMaster=no -F <ssh_config>` "+
				"(no ControlPersist master outliving the run), host_key_checking on, no retry files, no cows, no colour, "+
				"its home and temporary files in the bench's folder, run from that folder; like every ansible raw task, ssh runs with -tt "+
				"(a pseudo-terminal on every host)")
		}
	}
	lines = append(lines, "`bench -floor -h <hosts> -i <key> -known-hosts <known_hosts> -p P CMD`: this binary in its floor mode, "+
		"golang.org/x/crypto/ssh only: dial, check the host key, authenticate, one session running the command (its output read and dropped), close")
	return lines
}
