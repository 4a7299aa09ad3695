package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaults starts one fleet with a healthy host and one host of every
// personality, and checks with the system's ssh and sftp clients (and
// net.Dial) that each fault really happens, and only there.
func TestFaults(t *testing.T) {
	t.Parallel()
	faults := append([]Fault{FaultNone}, AllFaults()...)
	f, stop := startFleet(t, Options{Faults: faults})
	host := map[Fault]Host{}
	for i, h := range f.Hosts {
		if h.Fault != faults[i] {
			t.Fatalf("host %d has fault %q, want %q", i, h.Fault, faults[i])
		}
		if h.runsSSHD() && h.Distro != Debian12 {
			t.Errorf("host %s (%q) is distro %q, want %s: every host of a fleet with faults has its own filesystem", h.Addr, h.Fault, h.Distro, Debian12)
		}
		host[h.Fault] = h
	}
	// The checks run side by side in this group, which ends when they all
	// have; only then does "load and stop" take the fleet down.
	t.Run("personality", func(t *testing.T) {
		run, wait := concurrently(t)
		defer wait()
		checkPersonalities(t, run, f, host)
	})
	t.Run("load and stop", func(t *testing.T) {
		loaded, err := Load(f.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range loaded.Hosts {
			if h != f.Hosts[i] {
				t.Errorf("Load: host %d is %+v, want %+v", i, h, f.Hosts[i])
			}
		}
		if up := loaded.Running(); len(up) != len(f.Hosts)-1 {
			t.Errorf("Running() lists %d hosts, want all but the refuse host (%d)", len(up), len(f.Hosts)-1)
		}
		// Among them the stopped (SIGSTOP) sshd of the nobanner host.
		stopAndCheck(t, loaded, stop)
	})
}

// checkPersonalities checks each host of TestFaults, in subtests that run
// starts.
func checkPersonalities(t *testing.T, run func(string, func(*testing.T)), f *Fleet, host map[Fault]Host) {
	np := f.Users.NoPass
	ssh := func(t *testing.T, fl Fault, script string) (string, error) {
		t.Helper()
		return sshRun(t, f.SSHConfig, host[fl], np, script)
	}
	run("healthy", func(t *testing.T) {
		out, err := ssh(t, FaultNone, "sudo -n true && echo ok")
		if err != nil || out != "ok\n" {
			t.Errorf("healthy host: out %q, err %v; want ok", out, err)
		}
	})
	run("refuse", func(t *testing.T) {
		h := host[FaultRefuse]
		if h.PID != 0 {
			t.Errorf("a refuse host has sshd pid %d, want none", h.PID)
		}
		c, err := net.DialTimeout("tcp", h.HostPort(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s: %v, want connection refused", h.HostPort(), err)
		}
	})
	run("nobanner", func(t *testing.T) {
		h := host[FaultNoBanner]
		c, err := net.DialTimeout("tcp", h.HostPort(), 2*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v, want the TCP connection accepted", h.HostPort(), err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		var ne net.Error
		if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read from %s: %q, %v; want nothing until the deadline", h.HostPort(), buf[:n], err)
		}
	})
	run("wrongkey", func(t *testing.T) {
		_, err := ssh(t, FaultWrongKey, "true")
		if err == nil || !strings.Contains(err.Error(), "Host key verification failed") {
			t.Errorf("ssh to a wrongkey host: %v, want host key verification failed", err)
		}
	})
	run("rejectkey", func(t *testing.T) {
		_, err := ssh(t, FaultRejectKey, "true")
		if err == nil || !strings.Contains(err.Error(), "Permission denied (publickey)") {
			t.Errorf("ssh to a rejectkey host: %v, want permission denied", err)
		}
	})
	run("noshell", func(t *testing.T) {
		out, err := ssh(t, FaultNoShell, "echo ran")
		if exitCode(err) != 1 || strings.Contains(out, "ran") || !strings.Contains(out, "This account is currently not available.") {
			t.Errorf("ssh to a noshell host: out %q, err %v; want nologin's message and exit status 1", out, err)
		}
	})
	run("dropcmd", func(t *testing.T) {
		if out, err := ssh(t, FaultDropCmd, "echo quick"); err != nil || out != "quick\n" {
			t.Errorf("a short command on a dropcmd host: out %q, err %v; want it to work", out, err)
		}
		begin := time.Now()
		out, err := ssh(t, FaultDropCmd, fmt.Sprintf("echo start; sleep %d; echo done", int(DropCmdAfter.Seconds())+3))
		took := time.Since(begin)
		if exitCode(err) != 255 || out != "start\n" || took < DropCmdAfter {
			t.Errorf("a long command on a dropcmd host: out %q, err %v after %v; want only \"start\", then the connection lost (255) after %v",
				out, err, took, DropCmdAfter)
		}
	})
	run("droptransfer", func(t *testing.T) {
		h := host[FaultDropTransfer]
		dir := t.TempDir()
		small := writePattern(t, filepath.Join(dir, "small"), DropTransferAfter/4)
		big := writePattern(t, filepath.Join(dir, "big"), 4*DropTransferAfter)
		if out, err := sftpBatch(t, f, h, "put "+small+" /var/tmp/small"); err != nil {
			t.Errorf("sftp of a small file: %v\n%s", err, out)
		}
		if st, err := os.Stat(h.Path("/var/tmp/small")); err != nil || st.Size() != DropTransferAfter/4 {
			t.Errorf("small file on the host: %v, %v; want %d bytes", st, err, DropTransferAfter/4)
		}
		out, err := sftpBatch(t, f, h, "put "+big+" /var/tmp/big")
		// sftp says "Connection closed", or dies of SIGPIPE first, after
		// its ssh said "Connection to HOST closed by remote host", or after
		// ssh found the socket gone while writing ("client_loop: send
		// disconnect: Broken pipe"), or after the kernel answered with a
		// reset ("Connection reset by HOST"): each is the connection cut
		// mid-transfer.
		if err == nil || !regexp.MustCompile(`Connection (to \S+ )?closed|send disconnect: Broken pipe|Connection reset by `).MatchString(out) {
			t.Errorf("sftp of a big file: %v, want the connection closed\n%s", err, out)
		}
		if out, err := ssh(t, FaultDropTransfer, "echo cmd"); err != nil || out != "cmd\n" {
			t.Errorf("a command on a droptransfer host: out %q, err %v; want it to work", out, err)
		}
	})
	run("slow", func(t *testing.T) {
		begin := time.Now()
		out, err := ssh(t, FaultSlow, "echo slow")
		if took := time.Since(begin); err != nil || out != "slow\n" || took < SlowDelay {
			t.Errorf("a slow host: out %q, err %v after %v; want it to work after at least %v", out, err, took, SlowDelay)
		}
	})
	run("diskfull", func(t *testing.T) {
		script := fmt.Sprintf("head -c %d /dev/zero > %s/fill && echo wrote", 2*DiskFullSize, DiskFullDir)
		out, err := ssh(t, FaultDiskFull, script)
		if err == nil || strings.Contains(out, "wrote") || !strings.Contains(err.Error(), "No space left on device") {
			t.Errorf("filling %s of a diskfull host: out %q, err %v; want no space left", DiskFullDir, out, err)
		}
		if out, err := ssh(t, FaultNone, script+"; rm -f "+DiskFullDir+"/fill"); err != nil || out != "wrote\n" {
			t.Errorf("the same on a healthy host: out %q, err %v; want it to work", out, err)
		}
	})
	run("sudopass", func(t *testing.T) {
		out, err := ssh(t, FaultSudoPass, "sudo -n true && echo root")
		if err == nil || strings.Contains(out, "root") || !strings.Contains(err.Error(), "a password is required") {
			t.Errorf("sudo -n on a sudopass host: out %q, err %v; want a password required", out, err)
		}
	})
	run("chatty", func(t *testing.T) {
		out, err := ssh(t, FaultChatty, "echo mine")
		if err != nil || !strings.HasPrefix(out, "Welcome to ") || !strings.HasSuffix(out, ChattyBanner+"mine\n") {
			t.Errorf("a chatty host: out %q, err %v; want its welcome without a newline, then the command's output", out, err)
		}
	})
}

// exitCode is the exit status in an error of sshRun, -1 when there is none.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// writePattern writes n bytes of a repeating pattern to path.
func writePattern(t *testing.T, path string, n int) string {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7919 + i>>8)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sftpBatch runs the system sftp client against h as the passwordless-sudo
// user with one batch command, and returns its combined output.
func sftpBatch(t *testing.T, f *Fleet, h Host, command string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sftp", "-F", f.SSHConfig, "-P", strconv.Itoa(h.Port), "-b", "-", f.Users.NoPass+"@"+h.Addr)
	cmd.Stdin = strings.NewReader(command + "\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
