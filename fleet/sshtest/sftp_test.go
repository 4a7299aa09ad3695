package sshtest

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/internal/leakcheck"
)

func TestSFTP(t *testing.T) {
	home := t.TempDir()
	_, c := startWithKey(t, Config{SFTP: true, Home: home})
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("sftp.NewClient: %v", err)
	}
	defer sc.Close()

	// A relative path lands in Home, as with sftp-server started by sshd.
	f, err := sc.Create("tmp-upload")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "payload"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sc.HasExtension("posix-rename@openssh.com"); !ok {
		t.Error("posix-rename@openssh.com not advertised")
	}
	final := filepath.Join(home, "final")
	if err := sc.PosixRename(filepath.Join(home, "tmp-upload"), final); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(final)
	if err != nil || string(got) != "payload" {
		t.Errorf("file on disk: %q, %v", got, err)
	}
}

func TestSFTPDisabled(t *testing.T) {
	_, c := startWithKey(t, Config{})
	if _, err := sftp.NewClient(c); err == nil {
		t.Fatal("sftp subsystem served without Config.SFTP")
	}
}

// TestShellBannerBreaksSFTP pins the failure a chatty .bashrc causes: the
// client reads the banner's first four bytes as an SFTP packet length.
func TestShellBannerBreaksSFTP(t *testing.T) {
	_, c := startWithKey(t, Config{SFTP: true, ShellBanner: "Welcome to host\n"})
	sc, err := sftp.NewClient(c)
	if err == nil {
		sc.Close()
		t.Fatal("sftp.NewClient succeeded despite the shell banner")
	}
	t.Logf("sftp.NewClient with a shell banner: %v", err)
	if !strings.Contains(err.Error(), "packet too long") {
		t.Errorf("got %q, want the classic \"packet too long\"", err)
	}
}

// TestNoGoroutinesLeft exercises every kind of goroutine the server starts
// (including a command still running and a dropped connection) and checks
// that Close leaves none behind.
func TestNoGoroutinesLeft(t *testing.T) {
	before, err := leakcheck.Take()
	if err != nil {
		t.Fatal(err)
	}

	key := NewClientKey(t)
	srv := Start(t, Config{SFTP: true, AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}, Home: t.TempDir()})
	c, err := dialErr(srv, ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, c, "cat; echo ho >&2", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Getwd(); err != nil {
		t.Fatal(err)
	}
	// Left running on purpose: Close has to kill it.
	if _, pid := startPID(t, c, "echo $$; exec sleep 30", false); ProcessGone(pid) {
		t.Fatal("sleep not running")
	}
	// A second connection dropped mid-command, one failed login, one
	// connection that never finished its handshake.
	c2, err := dialErr(srv, ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	startPID(t, c2, "echo $$; exec sleep 30", false)
	srv.DropConnections()
	c2.Close()
	if _, err := dialErr(srv, ssh.Password("nope")); err == nil {
		t.Fatal("login without credentials succeeded")
	}

	sc.Close()
	c.Close()
	srv.Close()

	// Goroutines by identity and file descriptors: the pipes of the killed
	// commands and the sockets must be closed too.
	if err := before.Check(2 * time.Second); err != nil {
		t.Fatal(err)
	}
}
