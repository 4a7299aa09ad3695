package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

// holdFile, while it exists on the host, holds the root install step of
// copy --sudo in its sha256sum (see holdWrapper).
const holdFile = "/run/fleet-test-hold"

// holdWrapper stands in for sha256sum(1) in /usr/local/bin, which sudo's
// secure_path puts first: it waits while holdFile exists, so that the test
// can cut the connection, or let a timeout fire, during the install step.
const holdWrapper = `#!/bin/sh
i=0
while [ -e ` + holdFile + ` ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exec /usr/bin/sha256sum "$@"
`

// TestCopySudoTempsCleanedUp: copy --sudo uploads into a staging folder
// in /tmp before root installs the file. When the connection dies during
// the install step, fleet removes the folder through a fresh connection.
// When the host cannot be reached again at once either, the folder stays,
// and the next copy --sudo to that host removes it (and only it: not
// another user's, not one still in use), installs the file and leaves no
// temporary file. A timeout during the install step, on a connection that
// still works, leaves nothing at all.
func TestCopySudoTempsCleanedUp(t *testing.T) {
	u := setup(t)
	f := startFleet(t, harness.Options{Distros: []string{harness.Debian12}})
	h := f.Hosts[0]
	np := f.Users.NoPass
	uid, _, _ := account(t, np)
	plainUID, _, _ := account(t, f.Users.Plain)
	writeFile(t, h.Path("/usr/local/bin/sha256sum"), holdWrapper, 0o755)
	prefix := ".fleet-sudo-" + strconv.Itoa(uid) + "-"

	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	src := writeFile(t, filepath.Join(t.TempDir(), "payload"), string(data), 0o644)
	const dst = "/opt/fleet-sudo-copy.bin"
	copyArgs := []string{"-H", label(np, h), "--connect-timeout", "2", "--sudo", src, dst}
	// startHeld starts a copy whose install step holdFile holds.
	startHeld := func(extra ...string) (*running, proc) {
		writeFile(t, h.Path(holdFile), "", 0o644)
		run := u.startOn(f.SSHConfig, cmdTimeout, "copy", "", append(extra, copyArgs...)...)
		return run, waitHeld(t, run)
	}
	released := func() bool {
		return eventually(killWindow, func() bool { return len(procsMatching("/usr/local/bin/sha256sum")) == 0 })
	}

	// 0. The connection dies while root installs the file, and the host
	// answers again at once: fleet removes the staging folder through a
	// fresh connection before it reports the host. The install step goes
	// on without its connection (sshd does not stop it), finds its source
	// gone and fails without touching dst.
	run, held := startHeld()
	if err := syscall.Kill(sessionSSHD(t, held.pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := run.wait(cmdTimeout)
	if r.status == 0 || !strings.Contains(r.stdout, "[FAILURE]") {
		t.Fatalf("want the copy to fail when its connection died\n%s", r)
	}
	if left := staging(t, f, h); len(left) > 0 {
		t.Errorf("staging folders left although the host could be reached again: %q\n%s", left, r)
	}
	os.Remove(h.Path(holdFile))
	if !released() {
		t.Fatal("the install step did not end once released")
	}
	if _, err := os.Stat(h.Path(dst)); err == nil {
		t.Fatalf("%s exists although its install step lost its source", dst)
	}
	checkNoTemps(t, f, h, dst)

	// 1. The connection dies while root installs the file; the host's sshd
	// is stopped first, so fleet's fresh connection to clean up gets no
	// answer either; the install step dies too.
	run, held = startHeld()
	if err := syscall.Kill(h.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = syscall.Kill(h.PID, syscall.SIGCONT)
		}
	}()
	if err := syscall.Kill(sessionSSHD(t, held.pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r = run.wait(cmdTimeout)
	killTree(held.pid)
	if err := syscall.Kill(h.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if r.status == 0 || !strings.Contains(r.stdout, "[FAILURE]") {
		t.Fatalf("want the copy to fail when its connection died\n%s", r)
	}
	left := staging(t, f, h)
	if len(left) != 1 || !strings.HasPrefix(left[0], prefix) {
		t.Fatalf("want exactly one staging folder %s* left by the lost connection, got %q\n%s", prefix, left, r)
	}
	stale := h.Path("/tmp/" + left[0])
	checkPrivate(t, stale, uid, 0o700)
	checkPrivate(t, filepath.Join(stale, "data"), uid, 0o600)
	if _, err := os.Stat(h.Path(dst)); err == nil {
		t.Fatalf("%s exists although the install step died", dst)
	}

	// Time passes; meanwhile another copy of the same user is in flight
	// (a fresh folder), and another user made a folder under that name.
	hourAgo := time.Now().Add(-time.Hour)
	for _, p := range []string{filepath.Join(stale, "data"), stale} {
		if err := os.Chtimes(p, hourAgo, hourAgo); err != nil {
			t.Fatal(err)
		}
	}
	young := makeStaging(t, h, prefix+"inflight", uid, time.Now())
	foreign := makeStaging(t, h, prefix+"foreign", plainUID, hourAgo)
	otherUser := makeStaging(t, h, ".fleet-sudo-"+strconv.Itoa(plainUID)+"-theirs", plainUID, hourAgo)

	// 2. The next copy --sudo removes the abandoned folder and only it.
	os.Remove(h.Path(holdFile))
	r = u.startOn(f.SSHConfig, cmdTimeout, "copy", "", copyArgs...).wait(cmdTimeout + 5*time.Second)
	if r.status != 0 {
		t.Fatalf("want the second copy to succeed\n%s", r)
	}
	if got, err := os.ReadFile(h.Path(dst)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("%s has %d bytes (%v), want the %d sent", dst, len(got), err, len(data))
	}
	want := []string{filepath.Base(foreign), filepath.Base(young), filepath.Base(otherUser)}
	if got := staging(t, f, h); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("staging folders after the second copy: %q, want only the ones not abandoned by this user %q", got, want)
	}
	for _, p := range []string{young, foreign, otherUser} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	checkNoTemps(t, f, h, dst)

	// 3. A timeout during the install step: the connection works, and
	// fleet removes the staging folder and anything beside dst.
	data2 := append([]byte("other content\n"), data[:1<<20]...)
	writeFile(t, src, string(data2), 0o644)
	run, _ = startHeld("-t", "3")
	r = run.wait(cmdTimeout)
	os.Remove(h.Path(holdFile))
	if r.status == 0 || !strings.Contains(r.stdout, "[FAILURE]") {
		t.Fatalf("want the copy to time out\n%s", r)
	}
	if got, err := os.ReadFile(h.Path(dst)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("%s changed (%d bytes, %v) although the install timed out", dst, len(got), err)
	}
	if !released() {
		t.Errorf("the held install step still runs after the timeout")
	}
	if got := staging(t, f, h); len(got) != 0 {
		t.Errorf("staging folders left after a timeout: %q\n%s", got, r)
	}
	checkNoTemps(t, f, h, dst)
}

// waitHeld waits until the root install step is held in the wrapper and
// returns that process.
func waitHeld(t *testing.T, run *running) proc {
	t.Helper()
	var held proc
	if !eventually(cmdTimeout, func() bool {
		for _, p := range procsMatching("/usr/local/bin/sha256sum") {
			if p.uid == 0 {
				held = p
				return true
			}
		}
		return run.finished()
	}) || held.pid == 0 {
		t.Fatalf("the install step never reached sha256sum\n%s", run.result())
	}
	return held
}

// sessionSSHD is the sshd process serving the connection of process pid:
// its nearest ancestor named sshd*.
func sessionSSHD(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 10 && pid > 1; i++ {
		pid = parentOf(pid)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.HasPrefix(string(comm), "sshd") {
			return pid
		}
	}
	t.Fatal("no sshd among the install step's ancestors")
	return 0
}

// killTree kills the held wrapper and the root shell that runs it: the
// install step dies with its connection.
func killTree(pid int) {
	parent := parentOf(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if parent > 1 {
		_ = syscall.Kill(parent, syscall.SIGKILL)
	}
}

// staging lists the .fleet-sudo-* entries the host itself made in its
// /tmp (whose lower layer is the machine's /tmp, where other tests work).
func staging(t *testing.T, f *harness.Fleet, h harness.Host) []string {
	t.Helper()
	names, err := f.Written(h, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, ".fleet-sudo-") })
}

// makeStaging makes a staging-like folder with a data file, owned by uid
// and last changed at mtime, and returns its path as this process sees it.
func makeStaging(t *testing.T, h harness.Host, name string, uid int, mtime time.Time) string {
	t.Helper()
	dir := h.Path("/tmp/" + name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	data := writeFile(t, filepath.Join(dir, "data"), "x", 0o600)
	for _, p := range []string{data, dir} {
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkPrivate checks owner and mode of p.
func checkPrivate(t *testing.T, p string, uid int, mode os.FileMode) {
	t.Helper()
	if got, owner, _, _ := stat(t, p); int(owner) != uid || got != mode {
		t.Errorf("%s: owner %d mode %v, want owner %d mode %v", p, owner, got, uid, mode)
	}
}

// checkNoTemps checks that nothing the runs made is left in the host's
// /tmp (whatever its name) or beside dst.
func checkNoTemps(t *testing.T, f *harness.Fleet, h harness.Host, dst string) {
	t.Helper()
	left, err := f.Written(h, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("files of the runs left in /tmp: %q", left)
	}
	ents, err := os.ReadDir(h.Path(filepath.Dir(dst)))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".fleet-") {
			t.Errorf("temporary file left beside %s: %s", dst, e.Name())
		}
	}
}
