package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This file holds the slurp tests against hosts made hostile from inside:
// links that lead out of the copied tree, FIFOs, sockets, a link to
// /dev/zero, a file swapped for a FIFO half way. Every host is this
// machine, so the test makes a host hostile by writing its files.

// mustDo fails the test on err.
func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkEmpty fails the test when the canary folder outside -L holds
// anything: a host wrote where it must not.
func checkEmpty(t *testing.T, canary, when string) {
	t.Helper()
	if names := dirNames(t, canary); len(names) != 0 {
		t.Fatalf("%s: a host wrote outside -L, into %s: %q", when, canary, names)
	}
}

// TestSlurpHostileLinks: a host's links cannot make slurp write outside
// the host's folder, over two slurps in a row into the same -L (the first
// would plant a link, the second write through it), nor through links
// planted there beforehand; links that stay inside come back as links.
func TestSlurpHostileLinks(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts[:2]
	labels := []string{label(np, h[0]), label(np, h[1])}
	canary := sharedDir(t) // outside -L; a host's file landing here is the bug
	remote := filepath.Join(sharedDir(t), "conf")
	mustDo(t, os.MkdirAll(filepath.Join(remote, "sub"), 0o755))
	writeFile(t, filepath.Join(remote, "f"), "data\n", 0o644)
	writeFile(t, filepath.Join(remote, "sub", "g"), "deep\n", 0o644)
	for link, target := range map[string]string{
		"ok":        "f",
		"sub/ok":    "../f",
		"evil":      canary,          // absolute, out of the tree
		"sub/climb": "../../../../x", // relative, out of the tree
		"sub/up":    "..",
		"sub/sly":   "up/../..", // reads as inside, leads out through sub/up
	} {
		mustDo(t, os.Symlink(target, filepath.Join(remote, link)))
	}
	mustDo(t, syscall.Mkfifo(filepath.Join(remote, "sub", "fifo"), 0o644))
	l, err := net.Listen("unix", filepath.Join(remote, "sock"))
	mustDo(t, err)
	defer l.Close()

	local := t.TempDir()
	// Planted before the first run: links in a host's folder pointing
	// outside, where a file and a folder of the tree go.
	planted := filepath.Join(local, labels[1], "tree")
	mustDo(t, os.MkdirAll(planted, 0o755))
	mustDo(t, os.Symlink(canary, filepath.Join(planted, "sub")))
	mustDo(t, os.Symlink(filepath.Join(canary, "f"), filepath.Join(planted, "f")))

	args := []string{"-r", "-H", hostArg(np, h[0], h[1]), "-L", local, remote, "tree"}
	for run := 1; run <= 2; run++ {
		r := u.slurp(args...)
		mustExit(t, r, 0, "run %d", run)
		checkEmpty(t, canary, fmt.Sprintf("run %d", run))
		skipped := []string{"evil", "sub/climb", "sub/sly", "sub/fifo", "sock"}
		if run == 2 {
			skipped = skipped[1:] // evil is a folder now
		}
		for _, lb := range labels {
			if s := statuses(t, r.stdout)[lb]; !s.ok || !strings.Contains(r.stdout, fmt.Sprintf("%s (%d skipped", lb, len(skipped))) {
				t.Errorf("run %d: %s: want [SUCCESS] ... (%d skipped ...), got %+v\n%s", run, lb, len(skipped), s, r)
			}
			for _, name := range skipped {
				if !strings.Contains(r.stderr, fmt.Sprintf("fleet: warning: %s: skipped %q: ", lb, filepath.Join(remote, name))) {
					t.Errorf("run %d: no warning for %s of %s\n%s", run, name, lb, r)
				}
				if _, err := os.Lstat(filepath.Join(local, lb, "tree", name)); err == nil {
					t.Errorf("run %d: the skipped %s exists in %s's copy", run, name, lb)
				}
			}
			tree := filepath.Join(local, lb, "tree")
			for name, want := range map[string]string{"f": "data\n", "sub/g": "deep\n", "ok": "data\n", "sub/ok": "data\n"} {
				if b, err := os.ReadFile(filepath.Join(tree, name)); string(b) != want {
					t.Errorf("run %d: %s: %s holds %q (%v), want %q", run, lb, name, b, err, want)
				}
			}
			for link, target := range map[string]string{"ok": "f", "sub/ok": "../f", "sub/up": ".."} {
				if got, err := os.Readlink(filepath.Join(tree, link)); got != target {
					t.Errorf("run %d: %s: %s: want a link to %q, got %q (%v)", run, lb, link, target, got, err)
				}
			}
			if fi, err := os.Lstat(filepath.Join(tree, "sub")); err != nil || !fi.IsDir() {
				t.Errorf("run %d: %s: sub is not a real folder (%v)", run, lb, err)
			}
			if b, _ := os.ReadFile(filepath.Join(tree, "evil", "authorized_keys")); run == 2 && len(b) == 0 {
				t.Errorf("run 2: %s: evil/authorized_keys did not come back inside the tree", lb)
			}
		}
		// Each host's log lists what it skipped, one line a file.
		for _, h := range u.latestRun().Hosts {
			b, err := os.ReadFile(filepath.Join(u.stateDir, "runs", "latest", h.Log))
			if err != nil {
				t.Fatalf("run %d: log of %s: %v", run, h.Label, err)
			}
			if n := strings.Count(string(b), "| skipped \""); n != len(skipped) {
				t.Errorf("run %d: log of %s: %d skipped lines, want %d:\n%s", run, h.Label, n, len(skipped), b)
			}
		}
		// Between the runs the host turns its escaping link into a
		// folder holding a key: had the first run made the link, the
		// second would write the key through it into the canary.
		if run == 1 {
			mustDo(t, os.Remove(filepath.Join(remote, "evil")))
			mustDo(t, os.Mkdir(filepath.Join(remote, "evil"), 0o755))
			writeFile(t, filepath.Join(remote, "evil", "authorized_keys"), "ssh-ed25519 AAAA attacker\n", 0o644)
		}
	}
}

// TestSlurpHostDirLink: a host folder that is itself a symbolic link is
// refused (that host fails), the other hosts go on.
func TestSlurpHostDirLink(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts[:2]
	canary := sharedDir(t)
	remote := writeFile(t, filepath.Join(sharedDir(t), "f"), "data\n", 0o644)
	local := t.TempDir()
	mustDo(t, os.Symlink(canary, filepath.Join(local, label(np, h[0]))))
	r := u.slurp("-H", hostArg(np, h[0], h[1]), "-L", local, remote, "got")
	mustExit(t, r, 5)
	checkEmpty(t, canary, "slurp")
	got := statuses(t, r.stdout)
	if s := got[label(np, h[0])]; s.ok || !strings.Contains(s.reason, "is a symbolic link") {
		t.Errorf("want [FAILURE] ... is a symbolic link ..., got %+v\n%s", s, r)
	}
	if !got[label(np, h[1])].ok {
		t.Errorf("the other host: want [SUCCESS]\n%s", r)
	}
	checkSame(t, filepath.Join(local, label(np, h[1]), "got"), remote)
}

// homeFile makes path (relative to the home of the login user name) a
// file the test builds with make, removed when the test ends.
func homeFile(t *testing.T, name, rel string, make func(p string)) {
	t.Helper()
	_, _, home := account(t, name)
	p := filepath.Join(home, rel)
	mustDo(t, os.MkdirAll(filepath.Dir(p), 0o755))
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(p)) })
	make(p)
}

// TestSlurpSpecialFiles: a FIFO or a link to /dev/zero given as REMOTE
// fails its host at once (never opened: -t 3 is not even needed) while the
// other host, whose REMOTE is a file, succeeds; a file over --max-size
// fails with the cap in the message and leaves nothing.
func TestSlurpSpecialFiles(t *testing.T) {
	u := setup(t)
	np, pl := testFleet.Users.NoPass, testFleet.Users.Plain
	h := testFleet.Hosts
	// REMOTE is relative, so each login user reads it in their own home:
	// fleet-np's is hostile, fleet-plain's is a plain file.
	rel := fmt.Sprintf("slurp-hostile-%06d/f", rand.IntN(1000000))
	homeFile(t, pl, rel, func(p string) { randomFile(t, p, 3000, 0o644) })
	hosts := hostArg(np, h[0]) + " " + hostArg(pl, h[1])
	for _, c := range []struct {
		name, want string
		make       func(p string)
	}{
		{"fifo", "is not a regular file (fifo)", func(p string) { mustDo(t, syscall.Mkfifo(p, 0o644)) }},
		{"zero", "is not a regular file (character device)", func(p string) { mustDo(t, os.Symlink("/dev/zero", p)) }},
		{"big", "is larger than --max-size 1M", func(p string) { bigFile(t, p, 5<<20) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			homeFile(t, np, rel, c.make)
			local := t.TempDir()
			start := time.Now()
			r := u.slurp("-t", "3", "--max-size", "1M", "-H", hosts, "-L", local, rel, "got")
			took := time.Since(start)
			if r.status != 5 || took > 15*time.Second {
				t.Fatalf("want exit status 5 within 15 s, got it after %v\n%s", took.Round(time.Millisecond), r)
			}
			got := statuses(t, r.stdout)
			if s := got[label(np, h[0])]; s.ok || !strings.Contains(s.reason, c.want) {
				t.Errorf("want [FAILURE] ... %s, got %+v\n%s", c.want, s, r)
			}
			if !got[label(pl, h[1])].ok {
				t.Errorf("the other host: want [SUCCESS]\n%s", r)
			}
			if ents, _ := os.ReadDir(filepath.Join(local, label(np, h[0]))); len(ents) != 0 {
				t.Errorf("the failed host left %v", ents)
			}
			if c.name == "big" && !strings.Contains(r.stderr+r.stdout, "--max-size 10G") {
				t.Errorf("no hint to raise the cap\n%s", r)
			}
		})
	}
}

// TestSlurpBlockedTransfer: when the host never answers an open (a file
// swapped for a FIFO after slurp listed it), -t ends the host and SIGTERM
// ends fleet at once, with the run record written and no temporary file.
func TestSlurpBlockedTransfer(t *testing.T) {
	parent(t)
	np := testFleet.Users.NoPass
	for _, mode := range []string{"timeout", "sigterm"} {
		t.Run(mode, func(t *testing.T) {
			u := setup(t)
			h := testFleet.Hosts[2]
			lb := label(np, h)
			remote := filepath.Join(sharedDir(t), "tree")
			mustDo(t, os.MkdirAll(filepath.Join(remote, "d"), 0o755))
			bigFile(t, filepath.Join(remote, "d", "a"), 256<<20)
			z := writeFile(t, filepath.Join(remote, "z"), "z\n", 0o644)
			fifo := filepath.Join(filepath.Dir(remote), "fifo")
			mustDo(t, syscall.Mkfifo(fifo, 0o644))
			// The sftp-server stays in open(2) until a writer comes: be
			// one when the test ends, so it can see its session is gone.
			t.Cleanup(func() {
				if f, err := os.OpenFile(z, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
			local := t.TempDir()
			args := []string{"-r", "-H", hostArg(np, h), "-L", local, remote, "tree"}
			if mode == "timeout" {
				args = append([]string{"-t", "6"}, args...)
			}
			run := u.startSub("slurp", "", args...)
			d := filepath.Join(local, lb, "tree", "d")
			if !eventually(20*time.Second, func() bool { return len(temps(d)) > 0 || run.finished() }) || run.finished() {
				t.Fatalf("the copy of d/a never started\n%s", run.result())
			}
			start := time.Now()
			mustDo(t, os.Rename(fifo, z))
			// d/a comes whole, then slurp opens z, the FIFO, and waits.
			if !eventually(20*time.Second, func() bool { return fileExists(filepath.Join(d, "a")) || run.finished() }) {
				t.Fatalf("d/a never arrived\n%s", run.result())
			}
			if mode == "sigterm" {
				time.Sleep(time.Second)
				if run.finished() {
					t.Fatalf("fleet ended before the signal: the open did not block\n%s", run.result())
				}
				start = time.Now()
				mustDo(t, run.cmd.Process.Signal(syscall.SIGTERM))
			}
			limit := 5 * time.Second
			if mode == "timeout" {
				limit = 12 * time.Second
			}
			select {
			case <-run.done:
			case <-time.After(limit):
				t.Errorf("fleet still running %v after the %s", limit, map[string]string{"timeout": "swap", "sigterm": "SIGTERM"}[mode])
			}
			t.Logf("fleet ended %v after the %s", time.Since(start).Round(time.Millisecond), mode)
			r := run.wait(cmdTimeout)
			want, outcome := 3, "timeout"
			if mode == "sigterm" {
				want, outcome = 130, "cancelled"
			}
			wantExit(t, r, want)
			if got := u.latestRun().outcomes()[lb]; got != outcome {
				t.Errorf("run.json: %s is %q, want %q", lb, got, outcome)
			}
			if left := temps(filepath.Join(local, lb, "tree")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestSlurpLinkedFolder: a REMOTE that is a link to a folder comes back
// whole with -r (the user named it: it is followed, as cp -r does).
func TestSlurpLinkedFolder(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	h := testFleet.Hosts[3]
	dir := filepath.Join(sharedDir(t), "real")
	makeTree(t, dir)
	chown(t, filepath.Join(dir, "sub", "secret"), np) // 0600: the login user's own
	link := filepath.Join(sharedDir(t), "link")
	mustDo(t, os.Symlink(dir, link))
	local := t.TempDir()
	r := u.slurp("-r", "-H", hostArg(np, h), "-L", local, link, "tree")
	mustExit(t, r, 0)
	checkTree(t, filepath.Join(local, label(np, h), "tree"), dir)
	// Without -r, the folder is an error that says so.
	r = u.slurp("-H", hostArg(np, h), "-L", local, link, "file")
	if s := statuses(t, r.stdout)[label(np, h)]; r.status != 5 || s.ok || !strings.Contains(s.reason, "is a folder (use -r)") {
		t.Errorf("without -r: want exit status 5 and [FAILURE] ... is a folder (use -r)\n%s", r)
	}
}
