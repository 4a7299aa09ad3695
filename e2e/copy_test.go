package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
)

// All harness hosts are this machine: a path written through one host is
// visible through every other, so each test writes under a folder of its
// own, and the tests check the remote side by looking at the local disk.

// copy runs `fleet copy args...` to its end.
func (u *user) copy(args ...string) result {
	u.t.Helper()
	return u.startSub("copy", "", args...).wait(cmdTimeout + 5*time.Second)
}

// checkStates checks that every label succeeded with one of the reasons
// "changed" or "unchanged" allowed by want, and returns how many changed.
func checkStates(t *testing.T, r result, labels []string, want ...string) (changed int) {
	t.Helper()
	got := statuses(t, r.stdout)
	for _, l := range labels {
		s, ok := got[l]
		if !ok || !s.ok || !slices.Contains(want, s.reason) {
			t.Errorf("%s: want [SUCCESS] %s %s, got %+v\n%s", l, l, strings.Join(want, "|"), s, r)
		}
		if s.reason == "changed" {
			changed++
		}
	}
	return changed
}

// TestCopySudo: --sudo installs into a root-only folder with the asked mode
// and owner; a second run leaves the file alone; a wrong mode is corrected;
// without --sudo the copy fails with permission denied.
func TestCopySudo(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	labels := allLabels(np)
	dir := sharedDir(t)
	src := randomFile(t, filepath.Join(t.TempDir(), "app.conf"), 64<<10, 0o644)
	dst := filepath.Join(dir, "app.conf") // the same for every host: one disk
	args := []string{"-h", testFleet.HostsFile, "--sudo", "--mode", "0640", "--owner", "root:root", src, dst}

	r := u.copy(args...)
	mustExit(t, r, 0)
	if checkStates(t, r, labels, "changed", "unchanged") == 0 {
		t.Errorf("no host reported changed for a new file\n%s", r)
	}
	checkSame(t, dst, src)
	mode, uid, gid, ino := stat(t, dst)
	if mode != 0o640 || uid != 0 || gid != 0 {
		t.Errorf("%s: mode %04o owner %d:%d, want 0640 0:0", dst, mode, uid, gid)
	}

	r = u.copy(args...)
	mustExit(t, r, 0, "second run")
	checkStates(t, r, labels, "unchanged")
	if _, _, _, ino2 := stat(t, dst); ino2 != ino {
		t.Errorf("the second, identical run rewrote %s (inode %d, was %d)", dst, ino2, ino)
	}

	if err := os.Chmod(dst, 0o666); err != nil {
		t.Fatal(err)
	}
	r = u.copy(args...)
	mustExit(t, r, 0, "third run")
	if checkStates(t, r, labels, "changed", "unchanged") == 0 {
		t.Errorf("no host reported changed after the mode was changed to 0666\n%s", r)
	}
	if mode, _, _, _ := stat(t, dst); mode != 0o640 {
		t.Errorf("%s: mode %04o after the third run, want 0640", dst, mode)
	}
	checkSame(t, dst, src)

	// Without --sudo the login user cannot write there.
	dst2 := filepath.Join(dir, "other.conf")
	r = u.copy("-h", testFleet.HostsFile, "--mode", "0640", src, dst2)
	mustExit(t, r, 5, "without --sudo")
	if !strings.Contains(strings.ToLower(r.stdout), "permission denied") {
		t.Errorf("without --sudo: no \"permission denied\" in the output\n%s", r)
	}
	if _, err := os.Lstat(dst2); err == nil {
		t.Errorf("without --sudo, %s was written anyway", dst2)
	}
	if left := temps(dir); len(left) > 0 {
		t.Errorf("temporary files left in %s: %q", dir, left)
	}
}

// TestCopySudoPasswordFile: a copy as a user whose sudo asks for a
// password; the password shows in no output, no run record and no
// process's command line or environment.
func TestCopySudoPasswordFile(t *testing.T) {
	u := setup(t)
	pw := testFleet.Users.Pass
	secret := testFleet.Users.PassPassword
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "sudo-pw"), secret+"\n", 0o600)
	dir := sharedDir(t)
	// Big enough that sudo (install, and sha256sum in the probes) runs
	// long enough to be seen in /proc.
	src := bigFile(t, filepath.Join(t.TempDir(), "blob"), 64<<20)
	dst := filepath.Join(dir, "blob")
	hosts := []any{testFleet.Hosts[0], testFleet.Hosts[1]}
	var leaks []string
	sawSudo := false
	for i, want := range []string{"changed", "unchanged"} {
		run := u.startSub("copy", "", "--sudo-password-file", pwFile, "--mode", "0600", "--owner", "root",
			"-H", hostArg(pw, hosts...), src, dst)
		for !run.finished() {
			for _, p := range procsMatching("") {
				sawSudo = sawSudo || strings.HasPrefix(p.cmdline, "sudo ") && strings.Contains(p.cmdline, dir)
				if strings.Contains(p.cmdline, secret) {
					leaks = append(leaks, "argv of "+p.cmdline)
				}
				if env, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/environ"); err == nil &&
					bytes.Contains(env, []byte(secret)) {
					leaks = append(leaks, "environment of "+p.cmdline)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		r := run.wait(time.Second)
		mustExit(t, r, 0, "run %d", i+1)
		changed := checkStates(t, r, []string{label(pw, testFleet.Hosts[0]), label(pw, testFleet.Hosts[1])}, "changed", "unchanged")
		if (want == "changed") != (changed > 0) {
			t.Errorf("run %d: %d hosts changed, want some %s\n%s", i+1, changed, want, r)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("the sudo password is in fleet's output\n%s", r)
		}
	}
	checkSame(t, dst, src)
	if mode, uid, _, _ := stat(t, dst); mode != 0o600 || uid != 0 {
		t.Errorf("%s: mode %04o uid %d, want 0600 root", dst, mode, uid)
	}
	if !sawSudo {
		t.Errorf("never saw the remote sudo running while scanning /proc: the scan proves nothing")
	}
	for _, l := range leaks {
		t.Errorf("the sudo password is in the %s", l)
	}
	noSecretIn(t, secret, u.stateDir, u.home)
}

// TestCopyRecursive: -r copies a tree into a new remote folder; links are
// copied as links (their target text, as cp -a does), not as the files
// they point to; a second run changes nothing.
func TestCopyRecursive(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src)
	dir := userDir(t, np)
	hosts := hostArg(np, testFleet.Hosts[0], testFleet.Hosts[1])
	labels := []string{label(np, testFleet.Hosts[0]), label(np, testFleet.Hosts[1])}
	// The trailing / makes "new" a folder to copy into. (Without it, the
	// first run would make "new" the tree and a second run, finding a
	// folder there, would copy into new/tree, as cp -r and scp -r do.)
	remote := filepath.Join(dir, "new") + "/"
	for i, want := range [][]string{{"changed", "unchanged"}, {"unchanged"}} {
		r := u.copy("-r", "-H", hosts, src, remote)
		mustExit(t, r, 0, "run %d", i+1)
		if changed := checkStates(t, r, labels, want...); i == 0 && changed == 0 {
			t.Errorf("run 1: no host reported changed\n%s", r)
		}
		checkTree(t, filepath.Join(dir, "new", "tree"), src)
	}
	if left := temps(filepath.Join(dir, "new", "tree")); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// TestCopyExitStatus checks pssh's exit statuses for copy: 4 when a host
// is unreachable, 3 on a timeout, 5 when the transfer fails.
func TestCopyExitStatus(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts
	t.Run("one host unreachable", func(t *testing.T) {
		u := setup(t)
		src := randomFile(t, filepath.Join(t.TempDir(), "f"), 1000, 0o644)
		dst := filepath.Join(userDir(t, np), "f")
		r := u.copy("-H", hostArg(np, h[0], testFleet.Unreachable, h[1]), src, dst)
		mustExit(t, r, 4)
		checkStates(t, r, []string{label(np, h[0]), label(np, h[1])}, "changed", "unchanged")
		if s := statuses(t, r.stdout)[np+"@"+testFleet.Unreachable]; s.ok || !strings.Contains(s.reason, "unreachable") {
			t.Errorf("want [FAILURE] ... unreachable for %s, got %+v\n%s", testFleet.Unreachable, s, r)
		}
		checkSame(t, dst, src)
	})
	t.Run("timeout", func(t *testing.T) {
		u := setup(t)
		dir := userDir(t, np)
		// Sparse, so it costs no disk here; sent, it is 512 MiB, which takes
		// seconds over loopback SSH (about 150 MB/s here when idle).
		src := bigFile(t, filepath.Join(t.TempDir(), "big"), 512<<20)
		r := u.copy("--json", "-t", "1", "-H", hostArg(np, h[2]), src, filepath.Join(dir, "big"))
		var j ui.JSONResult
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatalf("--json output: %v\n%s", err, r)
		}
		if r.status == 0 && j.DurationMS < 1000 {
			t.Skipf("this machine sent 512 MiB in %d ms: too fast to test -t 1 with it", j.DurationMS)
		}
		if r.status != 3 || !strings.Contains(j.Error, "timed out") {
			t.Fatalf("want exit status 3 and a \"timed out\" error\n%s", r)
		}
		if left := temps(dir); len(left) > 0 {
			t.Errorf("the timed-out copy left temporary files in %s: %q", dir, left)
		}
		// Nothing was written (the temporary file is gone, the destination
		// never existed), so the host must not claim a change.
		if _, err := os.Lstat(filepath.Join(dir, "big")); err == nil || j.Changed {
			t.Errorf("the timed-out copy changed the host: destination exists = %v, \"changed\" = %v\n%s", err == nil, j.Changed, r)
		}
	})
	for _, sudo := range []bool{false, true} {
		t.Run("missing folder sudo="+strconv.FormatBool(sudo), func(t *testing.T) {
			u := setup(t)
			src := randomFile(t, filepath.Join(t.TempDir(), "f"), 1000, 0o644)
			missing := filepath.Join(userDir(t, np), "missing")
			args := []string{"-H", hostArg(np, h[0], h[1]), src, filepath.Join(missing, "f")}
			if sudo {
				args = append([]string{"--sudo"}, args...)
			}
			r := u.copy(args...)
			mustExit(t, r, 5)
			got := statuses(t, r.stdout)
			for _, l := range []string{label(np, h[0]), label(np, h[1])} {
				if s := got[l]; s.ok || !strings.Contains(strings.ToLower(s.reason), "no such file") {
					t.Errorf("%s: want [FAILURE] ... no such file ..., got %+v\n%s", l, s, r)
				}
			}
			if _, err := os.Lstat(missing); err == nil {
				t.Errorf("%s was created", missing)
			}
			// Nothing changed on the hosts, and the record must say so.
			for _, l := range changedInRecord(u) {
				t.Errorf("run.json says %s changed, but the copy failed and wrote nothing", l)
			}
		})
	}
}

// TestCopyCutHalfWay kills the SSH connection while a big file is being
// written over an existing one: the old file must stay as it was, and
// fleet must remove its temporary file (over a fresh connection).
func TestCopyCutHalfWay(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	host := testFleet.Hosts[3]
	dir := userDir(t, np)
	const old = "old content\n"
	dst := writeFile(t, filepath.Join(dir, "data"), old, 0o644)
	chown(t, dst, np)
	src := bigFile(t, filepath.Join(t.TempDir(), "data"), 500<<20)
	run := u.startSub("copy", "", "-H", hostArg(np, host), src, dst)
	var tmp string
	eventually(30*time.Second, func() bool {
		if l := temps(dir); len(l) > 0 {
			tmp = filepath.Join(dir, l[0])
		}
		return tmp != "" || run.finished()
	})
	if tmp == "" {
		t.Fatalf("no temporary file appeared in %s within 30 s\n%s", dir, run.result())
	}
	conn := sessionProcess(t, tmp, np, host.PID)
	if err := syscall.Kill(conn, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := run.wait(cmdTimeout)
	if r.status != 4 && r.status != 5 {
		t.Errorf("want exit status 4 (connection lost) or 5\n%s", r)
	}
	if got := readString(t, dst); got != old {
		t.Errorf("%s holds %d bytes after the cut transfer, want %q", dst, len(got), old)
	}
	var left []string
	if !eventually(30*time.Second, func() bool { left = temps(dir); return len(left) == 0 }) {
		t.Errorf("10 s after the cut, temporary files are left in %s: %q\n%s", dir, left, r)
	}
}

// sessionProcess returns the pid of the "sshd: USER@notty" process that
// serves the connection writing path: the ancestor of the process holding
// path open, below the listening sshd of the host (pid listener). Other
// tests use the same user and host at the same time, hence the search
// through the open file.
func sessionProcess(t *testing.T, path, name string, listener int) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		fds, _ := os.ReadDir(filepath.Join("/proc", e.Name(), "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", e.Name(), "fd", fd.Name())); l != path {
				continue
			}
			var chain []string
			session := 0
			for pid, _ := strconv.Atoi(e.Name()); pid > 1; pid = parentOf(pid) {
				cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
				chain = append(chain, strings.TrimRight(string(cmd), "\x00"))
				// OpenSSH 9.8 renamed the per-connection processes sshd-session.
				if c := string(cmd); strings.HasPrefix(c, "sshd: "+name+"@notty") || strings.HasPrefix(c, "sshd-session: "+name+"@notty") {
					session = pid
				}
				if pid == listener && session != 0 {
					return session
				}
			}
			t.Fatalf("the process writing %s does not descend from an sshd session of host sshd %d: %q", path, listener, chain)
		}
	}
	t.Fatalf("no process holds %s open", path)
	return 0
}

// parentOf returns the parent pid, 0 when pid is gone.
func parentOf(pid int) int { return max(statField(pid, 1), 0) }

// statField is field i of /proc/PID/stat after the command name (1: the
// parent pid, 2: the process group), -1 when pid is gone.
func statField(pid, i int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp ...
	if len(f) <= i {
		return -1
	}
	n, err := strconv.Atoi(f[i])
	if err != nil {
		return -1
	}
	return n
}
