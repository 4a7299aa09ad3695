package harness

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Fault is a way a host misbehaves: its personality. A fleet gets fault
// hosts through Options.Faults, one entry per host ("" for a healthy host).
//
// Every host of a fleet with faults (but a FaultRefuse one, which runs
// nothing) is a distro host (namespace.go): Options.Distros[i] when given,
// else Debian 12. It has its own mount namespace and overlays, so what makes
// a host faulty (its /etc/passwd, its sudoers, a tiny tmpfs, wrapper scripts
// under FaultsDir) is seen by that host only and thrown away by Stop. Every
// fault lives in the host's files, its sshd_config or its process state, so
// a fleet Loaded by another process (testfleet up, then tests) keeps them:
// nothing runs inside the process that called Start.
type Fault string

// The personalities.
const (
	// FaultNone is a healthy host.
	FaultNone Fault = ""
	// FaultRefuse: nothing listens on the host's address; connecting is
	// refused. No sshd runs, so the host has no PID and no Root.
	FaultRefuse Fault = "refuse"
	// FaultNoBanner: TCP connections are accepted (by the kernel, into the
	// listen backlog) but no SSH banner ever comes: the host's sshd is
	// stopped with SIGSTOP once it has proved it works, as a hung sshd is.
	FaultNoBanner Fault = "nobanner"
	// FaultWrongKey: sshd presents a host key other than the one the
	// fleet's known_hosts lists for the host (the key was regenerated after
	// known_hosts was written, as after a reinstall).
	FaultWrongKey Fault = "wrongkey"
	// FaultRejectKey: sshd reads no authorized keys at all
	// (AuthorizedKeysFile none), so the fleet's key is refused.
	FaultRejectKey Fault = "rejectkey"
	// FaultNoShell: the key is accepted, but every test user's login shell
	// is /usr/sbin/nologin in the host's own /etc/passwd, so every command
	// (and sftp-server, which sshd starts through the shell) prints "This
	// account is currently not available." and exits 1.
	FaultNoShell Fault = "noshell"
	// FaultDropCmd: a command still running DropCmdAfter after it started
	// loses its connection: a ForceCommand wrapper runs the command through
	// the login shell (same PID, so fleet's PID marker is the session
	// leader's, as usual) and kills the sshd process serving the connection
	// (SIGKILL) if the command is still running then. Commands that end
	// sooner, and SFTP, are not affected.
	FaultDropCmd Fault = "dropcmd"
	// FaultDropTransfer: the connection drops in the middle of a file
	// transfer: the sftp subsystem is a wrapper that passes the client's
	// first DropTransferAfter bytes to sftp-server and kills the sshd
	// process serving the connection if more come. Commands are not
	// affected, nor transfers smaller than that.
	FaultDropTransfer Fault = "droptransfer"
	// FaultSlow: every session (command or SFTP) waits SlowDelay before it
	// starts (a ForceCommand wrapper).
	FaultSlow Fault = "slow"
	// FaultDiskFull: DiskFullDir is a tmpfs of DiskFullSize bytes in the
	// host's namespace: writing more there fails with "No space left on
	// device".
	FaultDiskFull Fault = "diskfull"
	// FaultSudoPass: the host's own sudoers make every test user's sudo ask
	// for a password; fleet-np's password is locked ("*"), so no password
	// works and `sudo -n` fails with "a password is required".
	FaultSudoPass Fault = "sudopass"
	// FaultChatty: every test user's ~/.bashrc prints text on stdout and
	// stderr without a trailing newline (printf "Welcome to prod", as on
	// many managed hosts), even in the non-interactive shells sshd starts
	// for commands and for the sftp subsystem. Not an error: fleet must
	// succeed.
	FaultChatty Fault = "chatty"
	// FaultChattyHuge: the same with ChattyHugeBytes of text on stdout
	// and ChattyHugeBytes/16 on stderr, streamed (never stored), before
	// every command and the sftp subsystem. Not in AllFaults, so that
	// the tests of every fault stay fast.
	FaultChattyHuge Fault = "chattyhuge"
)

// The faults' parameters, exported so tests can size their commands and
// files to them.
const (
	// SlowDelay is how long every session of a FaultSlow host waits.
	SlowDelay = time.Second
	// DropCmdAfter is how long a command may run on a FaultDropCmd host
	// before its connection is dropped.
	DropCmdAfter = 2 * time.Second
	// DropTransferAfter is how many bytes a FaultDropTransfer host's SFTP
	// server receives before the connection is dropped.
	DropTransferAfter = 256 << 10
	// DiskFullDir is the folder that is (nearly) full on a FaultDiskFull
	// host. It exists on every Linux host and is per-host on distro hosts.
	DiskFullDir = "/var/tmp"
	// DiskFullSize is the size of the tmpfs mounted on DiskFullDir.
	DiskFullSize = 128 << 10
	// ChattyBanner is what a FaultChatty host's login shell prints on
	// stdout (after "Welcome to " and its hostname), without a newline;
	// ChattyBannerStderr is what it prints on stderr.
	ChattyBanner       = "! Have a nice day."
	ChattyBannerStderr = "motd on stderr"
	// ChattyHugeBytes is how much a FaultChattyHuge host's login shell
	// prints on stdout before every command.
	ChattyHugeBytes = 192 << 20
)

// FaultsDir is where, inside a fault host, its wrapper scripts live.
const FaultsDir = "/usr/local/lib/fleet-faults"

// AllFaults lists every fault, in the order of their documentation.
func AllFaults() []Fault {
	return []Fault{FaultRefuse, FaultNoBanner, FaultWrongKey, FaultRejectKey, FaultNoShell, FaultDropCmd,
		FaultDropTransfer, FaultSlow, FaultDiskFull, FaultSudoPass, FaultChatty}
}

// SlowFaults lists the faults that AllFaults leaves out because every
// command on such a host takes seconds (FaultChattyHuge).
func SlowFaults() []Fault { return []Fault{FaultChattyHuge} }

// runsSSHD reports whether the host has an sshd process at all.
func (h Host) runsSSHD() bool { return h.Fault != FaultRefuse }

// faultConfig returns what a host's fault changes in its sshd_config:
// settings put before all others (sshd keeps the first value of a keyword)
// and the sftp subsystem's command ("" for the usual one).
func faultConfig(h Host) (first, sftp string) {
	switch h.Fault {
	case FaultRejectKey:
		return "AuthorizedKeysFile none\n", ""
	case FaultDropCmd:
		return "ForceCommand " + FaultsDir + "/dropcmd\n", ""
	case FaultSlow:
		return "ForceCommand " + FaultsDir + "/slow\n", ""
	case FaultDropTransfer:
		return "", FaultsDir + "/sftp-drop"
	}
	return "", ""
}

// prepareFaults does what must happen to fault hosts before any sshd
// starts, once known_hosts is written: a FaultWrongKey host gets a new host
// key, so the one known_hosts lists is no longer the one it presents.
func (f *Fleet) prepareFaults(ctx context.Context) error {
	for _, h := range f.Hosts {
		switch h.Fault {
		case FaultWrongKey:
			key := filepath.Join(f.hostDir(h), "ssh_host_ed25519_key")
			if err := keygen(ctx, key, "ed25519", "fleet-e2e-wrongkey-"+h.Addr); err != nil {
				return err
			}
		case FaultDiskFull:
			// The tmpfs hides what the host's DiskFullDir held, the
			// fleet's own files included if they were there.
			if rel, err := filepath.Rel(DiskFullDir, f.Dir); err == nil && !strings.HasPrefix(rel, "..") {
				return fmt.Errorf("harness: start: a %s host needs Dir outside %s, not %s", h.Fault, DiskFullDir, f.Dir)
			}
		}
	}
	return nil
}

// faultsStarted does what must happen once every sshd has answered: a
// FaultNoBanner host's sshd is stopped, so that its listening socket still
// takes connections but nothing ever answers them.
func (f *Fleet) faultsStarted() error {
	for _, h := range f.Hosts {
		if h.Fault == FaultNoBanner && h.PID > 0 {
			if err := syscall.Kill(h.PID, syscall.SIGSTOP); err != nil {
				return fmt.Errorf("harness: start %s (%s): %w", h.Addr, h.Fault, err)
			}
		}
	}
	return nil
}

// writeFaultFiles writes into a fault host's upper layers what its fault
// needs: scripts, /etc files, start-up files, and FaultsDir/init, which the
// host's namespace set-up runs as root before sshd starts (nsSetup).
func (f *Fleet) writeFaultFiles(h Host, r *hostRoot) error {
	dir := strings.TrimPrefix(FaultsDir, "/")
	switch h.Fault {
	case FaultNoShell:
		return r.write("etc/passwd", []byte(noShellPasswd(f.Users)), 0o644)
	case FaultDropCmd:
		return r.write(dir+"/dropcmd", []byte(dropCmdScript), 0o755)
	case FaultSlow:
		return r.write(dir+"/slow", []byte(slowScript), 0o755)
	case FaultDropTransfer:
		return r.write(dir+"/sftp-drop", []byte(fmt.Sprintf(sftpDropScript, sftpServer())), 0o755)
	case FaultDiskFull:
		return r.write(dir+"/init", []byte(diskFullInit), 0o755)
	case FaultSudoPass:
		return r.write(strings.TrimPrefix(sudoersPath, "/"), []byte(sudoPassSudoers), 0o440)
	case FaultChatty, FaultChattyHuge:
		rc := chattyFaultRC
		if h.Fault == FaultChattyHuge {
			rc = chattyHugeRC
		}
		for _, name := range []string{f.Users.NoPass, f.Users.Pass, f.Users.Plain} {
			uid, gid, home, err := lookup(name)
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(filepath.Join(home, ".bashrc"), "/")
			if err := r.write(rel, []byte(rc), 0o644); err != nil {
				return err
			}
			if err := os.Lchown(r.upper(rel), uid, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// noShellPasswd is the machine's /etc/passwd with every test user's shell
// replaced by nologin, read now: the users exist by the time hosts start.
func noShellPasswd(u Users) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return ""
	}
	var out strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && slices.Contains(u.all(), f[0]) {
			f[6] = "/usr/sbin/nologin"
			line = strings.Join(f, ":")
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}

// findSSHD is shell code that sets $sshd to the sshd process serving this
// session ("sshd: USER@notty", whose child the session's shell is): the
// nearest ancestor named sshd*, found through /proc so that it does not
// matter whether the login shell exec'd the wrapper or forked it.
var findSSHD = `sshd=$PPID
i=0
while [ "$sshd" -gt 1 ] && [ $i -lt 10 ]; do
	case $(cat /proc/$sshd/comm 2>/dev/null) in sshd*) break ;; esac
	sshd=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$sshd/status 2>/dev/null)
	[ -n "$sshd" ] || sshd=1
	i=$((i+1))
done
`

// dropCmdScript is a FaultDropCmd host's ForceCommand. $$ is kept through
// exec, so the command's shell is still the session leader; the watcher
// runs with no stream of the session open, or the session would wait for it.
var dropCmdScript = `#!/bin/sh
# Written by github.com/fleet-sh/fleet/e2e/harness: a "dropcmd" host.
` + findSSHD + `case $SSH_ORIGINAL_COMMAND in
"") exec "$SHELL" -l ;;
*sftp-server*|internal-sftp) exec "$SHELL" -c "$SSH_ORIGINAL_COMMAND" ;;
esac
cmd=$$
( sleep ` + seconds(DropCmdAfter) + `; if kill -0 "$cmd" 2>/dev/null; then kill -KILL "$sshd"; fi ) </dev/null >/dev/null 2>&1 &
exec "$SHELL" -c "$SSH_ORIGINAL_COMMAND"
`

// slowScript is a FaultSlow host's ForceCommand.
var slowScript = `#!/bin/sh
# Written by github.com/fleet-sh/fleet/e2e/harness: a "slow" host.
sleep ` + seconds(SlowDelay) + `
[ -n "$SSH_ORIGINAL_COMMAND" ] || exec "$SHELL" -l
exec "$SHELL" -c "$SSH_ORIGINAL_COMMAND"
`

// sftpDropScript is a FaultDropTransfer host's sftp subsystem (%s: the
// real sftp-server). Reading one byte past the limit tells a transfer still
// going from a session that merely ends (EOF).
var sftpDropScript = `#!/bin/sh
# Written by github.com/fleet-sh/fleet/e2e/harness: a "droptransfer" host.
` + findSSHD + `{
	stdbuf -o0 head -c ` + fmt.Sprint(DropTransferAfter) + `
	if [ "$(head -c 1 | wc -c)" -gt 0 ]; then kill -KILL "$sshd"; fi
} | %s
`

// diskFullInit mounts the tiny tmpfs of a FaultDiskFull host.
var diskFullInit = `#!/bin/sh
# Written by github.com/fleet-sh/fleet/e2e/harness: a "diskfull" host.
set -e
mount -t tmpfs -o size=` + fmt.Sprint(DiskFullSize) + `,mode=1777 fleet-diskfull ` + DiskFullDir + `
`

// sudoPassSudoers replaces the machine's sudoersPath on a FaultSudoPass
// host: every test user needs a password.
var sudoPassSudoers = fmt.Sprintf(`# Written by github.com/fleet-sh/fleet/e2e/harness: a "sudopass" host.
Defaults:%[1]s,%[2]s,%[3]s timestamp_timeout=0, !lecture
%[1]s ALL=(ALL:ALL) ALL
%[2]s ALL=(ALL:ALL) ALL
%[3]s ALL=(ALL:ALL) ALL
`, userNoPass, userChatty, userPass)

// chattyFaultRC is the ~/.bashrc of a FaultChatty host's test users: no
// newline after either text, so that whatever comes next (fleet's own
// markers, the SFTP stream) continues the same line.
var chattyFaultRC = `# Written by github.com/fleet-sh/fleet/e2e/harness: a "chatty" host.
printf 'Welcome to %s` + ChattyBanner + `' "$(hostname)"
printf '%s' '` + ChattyBannerStderr + `' >&2
`

// chattyHugeRC is a FaultChattyHuge host's: streamed, never held.
var chattyHugeRC = fmt.Sprintf(`# Written by github.com/fleet-sh/fleet/e2e/harness: a "chattyhuge" host.
head -c %d /dev/zero | tr '\0' 'W'
head -c %d /dev/zero | tr '\0' 'e' >&2
`, ChattyHugeBytes, ChattyHugeBytes/16)

// seconds formats d for sleep(1).
func seconds(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", d.Seconds()), "0"), ".")
}

// Written lists the names in folder dir (an absolute path inside h) that h
// itself created or changed there, as opposed to what it sees of the
// machine's own files through its overlays: the entries of dir in h's
// upper layer, without the markers of deleted files. It is how a test tells
// what a run left behind on a host whose /tmp is shared, read-only, with
// everything else on the machine. A folder the host never wrote to gives
// none, and the fleet's own Dir (copied up as the host's set-up mounts
// over part of it) is left out. (A tmpfs a fault mounts, like
// DiskFullDir's, is not an overlay: read it through Host.Path.)
func (f *Fleet) Written(h Host, dir string) ([]string, error) {
	if h.Distro == "" || !h.runsSSHD() {
		return nil, fmt.Errorf("harness: written in %s: %s is not a distro host", dir, h.Addr)
	}
	rel := strings.TrimPrefix(filepath.Clean(dir), "/")
	top, rest, _ := strings.Cut(rel, "/")
	ents, err := os.ReadDir(filepath.Join(f.rootsPath(), h.Addr, top, "upper", rest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("harness: written in %s on %s: %w", dir, h.Addr, err)
	}
	var names []string
	for _, e := range ents {
		if e.Type()&fs.ModeCharDevice != 0 {
			continue // a whiteout: the host deleted a file of the machine's
		}
		if p := filepath.Join("/", rel, e.Name()); p == f.Dir || strings.HasPrefix(f.Dir, p+"/") {
			continue
		}
		names = append(names, e.Name())
	}
	return names, nil
}
