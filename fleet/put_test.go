package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

func localFile(t *testing.T, content []byte, mode os.FileMode) *LocalFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src")
	writeFile(t, p, content, mode)
	os.Chmod(p, mode)
	lf, err := StatLocal(p)
	if err != nil {
		t.Fatal(err)
	}
	return lf
}

func put(t *testing.T, c *Conn, src *LocalFile, dst string, o PutOptions) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changed, err := c.Put(ctx, src, dst, o)
	return changed, Classify(ctx, err)
}

// noLeftovers fails the test for each of dirs that holds fleet's temporary
// files.
func noLeftovers(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".fleet-") {
				t.Errorf("temporary file left: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

// changedThenUnchanged runs op twice: an idempotent step changes the host
// the first time and nothing the second.
func changedThenUnchanged(t *testing.T, what string, op func() (bool, error)) {
	t.Helper()
	for i, want := range []bool{true, false} {
		if changed, err := op(); err != nil || changed != want {
			t.Fatalf("%s %d: changed=%v err=%v, want changed %v", what, i, changed, err, want)
		}
	}
}

func TestPutNewUnchangedAndDrift(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	dir := t.TempDir()
	dst := filepath.Join(dir, "daemon.json")
	src := localFile(t, []byte(`{"exec-opts": ["native.cgroupdriver=systemd"]}`+"\n"), 0o640)

	changed, err := put(t, c, src, dst, PutOptions{})
	if err != nil || !changed {
		t.Fatalf("first put: changed=%v err=%v", changed, err)
	}
	got, _ := os.ReadFile(dst)
	st, _ := os.Stat(dst)
	if string(got) != `{"exec-opts": ["native.cgroupdriver=systemd"]}`+"\n" || st.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %o", got, st.Mode().Perm())
	}
	changed, err = put(t, c, src, dst, PutOptions{})
	if err != nil || changed {
		t.Fatalf("second put: changed=%v err=%v, want unchanged", changed, err)
	}
	// The same content with a drifted mode is corrected in place, when a
	// mode is asked for (without, the existing file keeps its own: see
	// TestPutKeepsTheExistingModeAndOwner).
	os.Chmod(dst, 0o666)
	before, _ := os.Stat(dst)
	changed, err = put(t, c, src, dst, PutOptions{Mode: 0o640})
	after, _ := os.Stat(dst)
	if err != nil || !changed || after.Mode().Perm() != 0o640 || !os.SameFile(before, after) {
		t.Fatalf("drift: changed=%v err=%v mode %o same file %v", changed, err, after.Mode().Perm(), os.SameFile(before, after))
	}
	// --mode wins over the local mode.
	if _, err := put(t, c, src, dst, PutOptions{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Fatalf("--mode: %o", st.Mode().Perm())
	}
	// New content replaces the file by rename: a new inode, never a write in place.
	src2 := localFile(t, []byte("new\n"), 0o644)
	if changed, err := put(t, c, src2, dst, PutOptions{}); err != nil || !changed {
		t.Fatalf("replace: %v %v", changed, err)
	}
	replaced, _ := os.Stat(dst)
	if os.SameFile(after, replaced) {
		t.Error("content was rewritten in place, not renamed over")
	}
	noLeftovers(t, dir)
}

// A put that fails says why, and changed nothing.
func TestPutErrorsSayWhy(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	src := localFile(t, []byte("x"), 0o644)
	for dst, want := range map[string]string{
		"/nonexistent-dir/file":                    "no such file",
		filepath.Join(t.TempDir(), "missing", "f"): "no such file",
		t.TempDir(): "is a folder",
	} {
		changed, err := put(t, c, src, dst, PutOptions{})
		if OutcomeOf(err) != Failed || !strings.Contains(err.Error(), want) || changed {
			t.Errorf("%s: changed=%v err=%v, want a failure saying %q and no change", dst, changed, err, want)
		}
	}
}

// A connection dropped in the middle of a transfer leaves the destination as
// it was and no temporary file behind.
func TestPutConnectionDroppedHalfWay(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	c, srv := connect(t, sshtest.Config{SFTP: true})
	dir := t.TempDir()
	dst := filepath.Join(dir, "big")
	os.WriteFile(dst, []byte("old content\n"), 0o644)
	// Progress counts bytes read from the source, so the host has at most
	// the 2 MiB read before the drop: far from the whole file.
	big := make([]byte, 8<<20)
	rand.Read(big)
	src := localFile(t, big, 0o644)
	var once sync.Once
	var sent int64
	_, err := put(t, c, src, dst, PutOptions{Progress: func(n int64) {
		sent += n
		if sent > 2<<20 {
			once.Do(srv.DropConnections)
		}
	}})
	if err == nil {
		t.Fatal("put succeeded over a dropped connection")
	}
	if got, _ := os.ReadFile(dst); string(got) != "old content\n" {
		t.Fatalf("destination changed: %d bytes", len(got))
	}
	noLeftovers(t, dir)
}

// A login shell that prints text breaks the SFTP stream ("packet too long");
// fleet skips it up to the server's version packet.
func TestPutWithChattyShell(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true, ShellBanner: "Welcome to this host!\nHave a nice day.\n"})
	dst := filepath.Join(t.TempDir(), "f")
	src := localFile(t, bytes.Repeat([]byte("data "), 100000), 0o644)
	changedThenUnchanged(t, "put", func() (bool, error) { return put(t, c, src, dst, PutOptions{}) })
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, bytes.Repeat([]byte("data "), 100000)) {
		t.Fatal("content differs")
	}
}

func TestPutBytes(t *testing.T) {
	c, _ := connect(t, sshtest.Config{SFTP: true})
	dst := filepath.Join(t.TempDir(), "rendered")
	src := BytesFile("daemon.json (rendered)", []byte("{}\n"), 0o644)
	changedThenUnchanged(t, "put", func() (bool, error) { return put(t, c, src, dst, PutOptions{}) })
	if b, _ := os.ReadFile(dst); string(b) != "{}\n" {
		t.Fatalf("content %q", b)
	}
}

func TestSendConcurrencySharesABudget(t *testing.T) {
	for inFlight, want := range map[int]int{0: 64, 1: 64, 16: 64, 20: 51, 100: 10, 1000: 4} {
		if got := sendConcurrency(inFlight); got != want {
			t.Errorf("sendConcurrency(%d) = %d, want %d", inFlight, got, want)
		}
	}
}

func TestSFTPWriteFailureSuggestsFullDisk(t *testing.T) {
	err := sftpWriteError("/var/tmp/.f.fleet-1", &sftp.StatusError{Code: 4}) // SSH_FX_FAILURE, as sftp-server sends for ENOSPC
	var fe *Error
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "full disk") || !strings.Contains(fe.Hint, "df -h /var/tmp") {
		t.Fatalf("got %#v", err)
	}
	// Another operation's failure is reported as it is.
	if err := sftpError("chmod /x", &sftp.StatusError{Code: 4}); strings.Contains(err.Error(), "full disk") {
		t.Errorf("a chmod failure blames the disk: %v", err)
	}
}
