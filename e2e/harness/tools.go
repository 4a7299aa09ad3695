package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Paths of the system tools the harness drives. sshd must be started by
// absolute path: it re-executes itself for every connection and refuses to
// run otherwise.
const (
	sshdPath   = "/usr/sbin/sshd"
	sudoPath   = "/usr/bin/sudo"
	keygenPath = "/usr/bin/ssh-keygen"
	sshPath    = "/usr/bin/ssh"
)

// stateDir holds what every fleet on the machine shares: the lock and the
// sudo password of Users.Pass (one account, so one password for all fleets).
const stateDir = "/var/lib/fleet-e2e"

// installTimeout bounds apt-get, which may wait for a dpkg lock held by
// another apt run (DPkg::Lock::Timeout below) and then download packages.
const installTimeout = 10 * time.Minute

// EnsureTools installs openssh-server (and with it openssh-client, which
// provides ssh and ssh-keygen) and sudo with `apt-get install -y` when
// /usr/sbin/sshd, ssh-keygen or sudo is missing, saying so on log. It runs
// `apt-get update` only if the install fails without it, because a fresh CI
// machine often has stale or empty package lists but updating costs time.
// It returns an error when not run as root: installing packages, creating
// users and running sshd all need root.
func EnsureTools(ctx context.Context, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("harness: must run as root (euid is %d): the fleet needs useradd, /etc/sudoers.d and sshd", uid)
	}
	var pkgs []string
	if !exists(sshdPath) {
		fmt.Fprintln(log, "harness: sshd is missing; installing openssh-server with apt-get")
		pkgs = append(pkgs, "openssh-server")
	} else if !exists(keygenPath) || !exists(sshPath) {
		fmt.Fprintln(log, "harness: ssh or ssh-keygen is missing; installing openssh-client with apt-get")
		pkgs = append(pkgs, "openssh-client")
	}
	if !exists(sudoPath) {
		fmt.Fprintln(log, "harness: sudo is missing; installing sudo with apt-get")
		pkgs = append(pkgs, "sudo")
	}
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	if len(pkgs) > 0 {
		if err := aptGet(ctx, log, aptInstall(pkgs)...); err != nil {
			fmt.Fprintf(log, "harness: apt-get install failed (%v); running apt-get update and retrying\n", err)
			if err := aptGet(ctx, log, "-o", "DPkg::Lock::Timeout=300", "update"); err != nil {
				return fmt.Errorf("harness: apt-get update: %w", err)
			}
			if err := aptGet(ctx, log, aptInstall(pkgs)...); err != nil {
				return fmt.Errorf("harness: apt-get install %s: %w", strings.Join(pkgs, " "), err)
			}
		}
		for _, p := range []string{sshdPath, keygenPath, sshPath, sudoPath} {
			if !exists(p) {
				return fmt.Errorf("harness: %s still missing after apt-get install", p)
			}
		}
	}
	ensureCompletionShells(ctx, log)
	return nil
}

// aptInstall is the apt-get command line that installs pkgs, waiting for
// another apt run's dpkg lock rather than failing at once.
func aptInstall(pkgs []string) []string {
	return append([]string{"-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends"}, pkgs...)
}

// ensureCompletionShells installs zsh and fish when missing, for the tests
// that run fleet's completion scripts in them (cmd/fleet's
// completion_hosts script). Only those tests need them, and they say so
// when a shell is missing, so a failed install is a note, not an error.
func ensureCompletionShells(ctx context.Context, log io.Writer) {
	var pkgs []string
	for _, sh := range []string{"zsh", "fish"} {
		if !exists("/usr/bin/" + sh) {
			pkgs = append(pkgs, sh)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	fmt.Fprintf(log, "harness: %s missing (for the completion tests); installing with apt-get\n", strings.Join(pkgs, " and "))
	if err := aptGet(ctx, log, aptInstall(pkgs)...); err != nil {
		fmt.Fprintf(log, "harness: note: apt-get install %s failed (%v); the completion tests will skip those shells\n", strings.Join(pkgs, " "), err)
	}
}

// aptGet runs apt-get non-interactively, streaming its output to log so a
// slow install is visibly progressing rather than hung.
func aptGet(ctx context.Context, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

// run runs a command and returns its combined output in the error, since
// useradd, visudo and ssh-keygen explain failures only there.
func run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "),
			err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// lockWait bounds the wait for the harness lock. Only a live fleet's start
// holds it (the kernel releases a dead one's), but make e2e starts several
// fleets side by side (-parallel 6, a 200-host one among them), and they
// queue on it: 60 s was near what a slow machine could need.
const lockWait = 3 * time.Minute

// lockState takes the machine-wide harness lock (flock on
// /var/lib/fleet-e2e/lock), waiting at most lockWait or until ctx ends. The
// lock is released by the returned function, or by the kernel if we die.
func lockState(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: lock: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("harness: lock: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
				_ = lf.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			lf.Close()
			return nil, fmt.Errorf("harness: lock: %w", err)
		}
		if time.Now().After(deadline) {
			lf.Close()
			return nil, fmt.Errorf("harness: lock %s: still held by another fleet after %v", lf.Name(), lockWait)
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, fmt.Errorf("harness: lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
