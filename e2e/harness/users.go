package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// The accounts every host accepts. They are real local users because sshd
// can only log into accounts the system knows, and they are shared by every
// fleet on the machine since all hosts are this one machine anyway.
const (
	userNoPass = "fleet-np"
	userPass   = "fleet-pw"
	userPlain  = "fleet-plain"
	userChatty = "fleet-chatty"
)

// chattyRC is fleet-chatty's ~/.bashrc: it prints on both streams even in
// non-interactive shells, as many real hosts' start-up files do. Debian's
// bash reads ~/.bashrc for commands run by sshd, and sshd runs an external
// sftp-server through the login shell, so this breaks a naive SFTP client
// ("packet too long").
const chattyRC = `# Written by github.com/fleet-sh/fleet/e2e/harness: a chatty start-up file.
echo "Welcome to $(hostname)! Have a nice day."
echo "motd on stderr" >&2
`

// sudoersPath is where the sudo rules of the test users live. sudo only
// reads files of /etc/sudoers.d whose names contain no dot, so the name has
// none and the temporary copy used for validation has one.
const sudoersPath = "/etc/sudoers.d/fleet-e2e"

// sudoers grants fleet-np passwordless sudo and fleet-pw password sudo.
// timestamp_timeout=0 makes every fleet-pw sudo ask again: otherwise one
// successful `sudo -S` would let a later `sudo -n` pass, and tests would
// depend on their order. fleet-plain is absent, so it has no sudo at all.
const sudoers = `# Written by github.com/fleet-sh/fleet/e2e/harness for fleet's end-to-end tests.
# Remove together with the users fleet-np, fleet-pw and fleet-plain.
Defaults:fleet-pw timestamp_timeout=0, !lecture
fleet-np ALL=(ALL:ALL) NOPASSWD: ALL
fleet-chatty ALL=(ALL:ALL) NOPASSWD: ALL
fleet-pw ALL=(ALL:ALL) ALL
`

// ensureUsers creates the three accounts when missing and makes them usable
// by sshd, then installs the sudo rules. It is idempotent.
func ensureUsers(ctx context.Context, log io.Writer) (Users, error) {
	u := Users{NoPass: userNoPass, Pass: userPass, Plain: userPlain, Chatty: userChatty}
	for _, name := range u.all() {
		if _, err := user.Lookup(name); err != nil {
			fmt.Fprintf(log, "harness: creating user %s\n", name)
			if _, err := run(ctx, "", "useradd", "--create-home", "--shell", "/bin/bash", name); err != nil {
				return u, fmt.Errorf("harness: create user %s: %w", name, err)
			}
		}
		if _, err := sshDir(name); err != nil {
			return u, err
		}
	}
	// useradd leaves the password field "!" (locked), and with UsePAM no
	// sshd refuses every login to a locked account, keys included. "*"
	// means "no password works" without "locked".
	for _, name := range []string{u.NoPass, u.Plain, u.Chatty} {
		if _, err := run(ctx, "", "usermod", "--password", "*", name); err != nil {
			return u, fmt.Errorf("harness: unlock user %s: %w", name, err)
		}
	}
	if err := writeChattyRC(u.Chatty); err != nil {
		return u, err
	}
	pw, err := sudoPassword()
	if err != nil {
		return u, err
	}
	u.PassPassword = pw
	if _, err := run(ctx, u.Pass+":"+pw+"\n", "chpasswd"); err != nil {
		return u, fmt.Errorf("harness: set password of %s: %w", u.Pass, err)
	}
	if err := installSudoers(ctx); err != nil {
		return u, err
	}
	return u, nil
}

// sudoPassword returns the password of fleet-pw, generating it once per
// machine. Every fleet must agree on it: a second fleet that picked a new
// one would break sudo -S in a fleet already running.
func sudoPassword() (string, error) {
	path := filepath.Join(stateDir, "sudo-password")
	if b, err := os.ReadFile(path); err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("harness: read sudo password: %w", err)
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("harness: sudo password: %w", err)
	}
	pw := "fleet-" + hex.EncodeToString(b[:])
	if err := writeFile(path, pw+"\n", 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// installSudoers validates the rules with visudo before putting them in
// place: a broken file in /etc/sudoers.d breaks sudo for everyone.
func installSudoers(ctx context.Context) error {
	if b, err := os.ReadFile(sudoersPath); err == nil && string(b) == sudoers {
		return nil
	}
	tmp := sudoersPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(sudoers), 0o440); err != nil {
		return fmt.Errorf("harness: sudoers: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o440); err != nil {
		return fmt.Errorf("harness: sudoers: %w", err)
	}
	if _, err := run(ctx, "", "visudo", "-cf", tmp); err != nil {
		return fmt.Errorf("harness: sudoers: %w", err)
	}
	if err := os.Rename(tmp, sudoersPath); err != nil {
		return fmt.Errorf("harness: sudoers: %w", err)
	}
	return nil
}

// sshDir makes sure name's home and ~/.ssh pass sshd's StrictModes: owned
// by the user and not writable by group or others. It returns ~/.ssh.
func sshDir(name string) (string, error) {
	uid, gid, home, err := lookup(name)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(home, ".ssh")
	for _, p := range []string{home, dir} {
		err := os.MkdirAll(p, 0o700)
		var st os.FileInfo
		if err == nil {
			st, err = os.Stat(p)
		}
		if err == nil {
			err = os.Chown(p, uid, gid)
		}
		if err == nil {
			perm := st.Mode().Perm() &^ 0o022 // the home keeps its other bits
			if p == dir {
				perm = 0o700
			}
			err = os.Chmod(p, perm)
		}
		if err != nil {
			return "", fmt.Errorf("harness: %s of %s: %w", p, name, err)
		}
	}
	return dir, nil
}

// authorizedKeysName is the file, relative to each home, that sshd of this
// fleet reads as AuthorizedKeysFile. Each fleet has its own (named after its
// block), so two fleets never overwrite each other's key and Stop can remove
// its own without touching ~/.ssh/authorized_keys.
func (f *Fleet) authorizedKeysName() string {
	return fmt.Sprintf(".ssh/fleet-e2e-%d.keys", f.Block)
}

// authorize installs the fleet's client public key for every user.
func (f *Fleet) authorize() error { return f.addKey(f.Key+".pub", false) }

// AuthorizeKey lets every user log in to this fleet's hosts also with the
// public key in pubPath (an ssh-keygen .pub file), such as another fleet's
// Key: one client key then reaches the hosts of several fleets, which is
// how more than one /24 of hosts is used at once (the bench's 500 hosts).
// Stop removes it together with the fleet's own key.
func (f *Fleet) AuthorizeKey(pubPath string) error { return f.addKey(pubPath, true) }

// addKey writes the public key in pubPath to every user's file of
// authorizedKeysName, after the keys already there if keep is set.
func (f *Fleet) addKey(pubPath string, keep bool) error {
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		return fmt.Errorf("harness: authorize: %w", err)
	}
	for _, name := range f.Users.all() {
		uid, gid, home, err := lookup(name)
		if err != nil {
			return err
		}
		path := filepath.Join(home, f.authorizedKeysName())
		var old []byte
		if keep {
			if old, err = os.ReadFile(path); err != nil {
				return fmt.Errorf("harness: authorize %s: %w", name, err)
			}
		}
		if err := writeFile(path, string(old)+string(pub), 0o600); err != nil {
			return fmt.Errorf("harness: authorize %s: %w", name, err)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return fmt.Errorf("harness: authorize %s: %w", name, err)
		}
	}
	return nil
}

// unauthorize removes what authorize wrote.
func (f *Fleet) unauthorize() error {
	var errs []error
	for _, name := range f.Users.all() {
		if name == "" {
			continue
		}
		_, _, home, err := lookup(name)
		if err != nil {
			continue // user gone: nothing to clean
		}
		err = os.Remove(filepath.Join(home, f.authorizedKeysName()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("harness: unauthorize %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// lookup returns the numeric ids and home of a local user.
func lookup(name string) (uid, gid int, home string, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, "", fmt.Errorf("harness: user %s: %w", name, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, "", fmt.Errorf("harness: user %s: uid %q: %w", name, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, "", fmt.Errorf("harness: user %s: gid %q: %w", name, u.Gid, err)
	}
	return uid, gid, u.HomeDir, nil
}

// all lists every test account.
func (u Users) all() []string { return []string{u.NoPass, u.Pass, u.Plain, u.Chatty} }

// writeChattyRC installs fleet-chatty's start-up file.
func writeChattyRC(name string) error {
	uid, gid, home, err := lookup(name)
	if err != nil {
		return err
	}
	path := filepath.Join(home, ".bashrc")
	if err := writeFile(path, chattyRC, 0o644); err != nil {
		return fmt.Errorf("harness: %s: %w", path, err)
	}
	return os.Chown(path, uid, gid)
}
