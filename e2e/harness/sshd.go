package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	firstBlock, lastBlock = 100, 199 // the X of 127.0.X.Y a fleet may take
	unreachableHost       = 250      // 127.0.X.250 never runs an sshd
	maxHosts              = unreachableHost - 2
	// Every host has its banner within bannerTimeout plus bannerPerHost
	// for each host, all together: hundreds of sshd starting at once on a
	// busy two-core machine take longer than a handful.
	bannerTimeout = 10 * time.Second
	bannerPerHost = 100 * time.Millisecond
)

// sshdProc is an sshd started by this process. done closes once it has been
// reaped, which only this process (its parent) can do.
type sshdProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *sshdProc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// pickBlock returns the first X in 100..199 whose host addresses (and the
// unreachable one) are all free on port. Callers hold the state lock, so a
// concurrent Start cannot pick the same X between this check and sshd's
// bind; a fleet started later sees our sshd listening and moves on.
func pickBlock(port, hosts int) (int, error) {
	for x := firstBlock; x <= lastBlock; x++ {
		free := true
		for y := 2; y <= hosts+1 && free; y++ {
			free = canBind(fmt.Sprintf("127.0.%d.%d", x, y), port)
		}
		if free && canBind(fmt.Sprintf("127.0.%d.%d", x, unreachableHost), port) {
			return x, nil
		}
	}
	return 0, fmt.Errorf("harness: no free block 127.0.%d-%d.0 for port %d", firstBlock, lastBlock, port)
}

func canBind(addr string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// startHosts starts every sshd, then waits (10 s in all) until each one
// answers with an SSH banner: an accepting socket alone does not prove sshd
// has loaded its keys and config.
func (f *Fleet) startHosts(ctx context.Context, log io.Writer) error {
	// sshd refuses to start without its privilege-separation directory,
	// which Debian creates only through the systemd unit.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return fmt.Errorf("harness: start: %w", err)
	}
	extra := versionOptions(ctx)
	procs := make([]*sshdProc, len(f.Hosts))
	for i := range f.Hosts {
		if !f.Hosts[i].runsSSHD() {
			continue // a FaultRefuse host: nothing listens there
		}
		p, err := f.startHost(&f.Hosts[i], extra)
		if err != nil {
			return err
		}
		procs[i] = p
	}
	fmt.Fprintf(log, "harness: started %d sshd; waiting for their banners\n", len(f.procs))
	deadline := time.Now().Add(bannerTimeout + time.Duration(len(f.Hosts))*bannerPerHost)
	for i, h := range f.Hosts {
		if procs[i] == nil {
			continue
		}
		if err := waitBanner(ctx, h, procs[i], deadline); err != nil {
			return fmt.Errorf("harness: start %s: %w\nsshd log %s:\n%s",
				h.Addr, err, f.sshdLog(h), tail(f.sshdLog(h), 2000))
		}
	}
	return nil
}

// startHost writes one host's sshd_config and starts `sshd -D -e` with it in
// a session of its own, so it survives the exit of the process that started
// it (testfleet up) and no terminal signal reaches it.
func (f *Fleet) startHost(h *Host, extra string) (*sshdProc, error) {
	dir := f.hostDir(*h)
	cfg := filepath.Join(dir, "sshd_config")
	if err := writeFile(cfg, f.sshdConfig(*h, extra), 0o600); err != nil {
		return nil, err
	}
	cmd := sshdCommand(cfg)
	if h.Distro != "" {
		// A distro host: sshd in its own mount namespace (namespace.go),
		// exec'd by a setup shell, so the PID below is still sshd's.
		var err error
		if cmd, err = f.distroCommand(*h, cmd.Args); err != nil {
			return nil, err
		}
	}
	p, err := spawn(cmd, f.sshdLog(*h))
	if err != nil {
		return nil, fmt.Errorf("harness: start %s: %w", h.Addr, err)
	}
	f.procs = append(f.procs, p)
	h.PID = cmd.Process.Pid
	if h.Distro != "" {
		h.Root = fmt.Sprintf("/proc/%d/root", h.PID)
	}
	return p, nil
}

// sshdCommand runs sshd in the foreground with config file cfg, in a
// session of its own.
func sshdCommand(cfg string) *exec.Cmd {
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

// spawn starts cmd in / with its output appended to logPath, and reaps it
// once it exits.
func spawn(cmd *exec.Cmd, logPath string) (*sshdProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own copy
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &sshdProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// sshdConfig is one host's complete configuration; nothing comes from
// /etc/ssh, so the machine's own sshd setup cannot change test results.
// Authorized keys live in each user's home because StrictModes checks the
// file and every directory above it, which a root-owned 0700 Dir under the
// world-writable /tmp would fail (and the user could not even read it).
func (f *Fleet) sshdConfig(h Host, extra string) string {
	dir := f.hostDir(h)
	first, sftp := faultConfig(h)
	if sftp == "" {
		sftp = sftpServer()
	}
	return fmt.Sprintf(`# Written by github.com/fleet-sh/fleet/e2e/harness
%sListenAddress %s
HostKey %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
MaxStartups 200:30:400
MaxSessions 20
LoginGraceTime 30
LogLevel VERBOSE
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AcceptEnv LANG LC_*
Subsystem sftp %s
%s`, first, h.HostPort(), configQuote(filepath.Join(dir, "ssh_host_ed25519_key")), configQuote(filepath.Join(dir, "ssh_host_ecdsa_key")),
		configQuote(filepath.Join(dir, "sshd.pid")), f.authorizedKeysName(), sftp, extra)
}

// versionOptions returns settings that only some sshd versions know.
// OpenSSH 9.8 added PerSourcePenalties, on by default, which would lock out
// 127.0.0.1 after the many connections and failed logins tests make on
// purpose; older versions reject the keyword, so it is added only when
// understood.
func versionOptions(ctx context.Context) string {
	out, _ := run(ctx, "", sshPath, "-V") // ssh and sshd come from one source package
	m := regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major > 9 || major == 9 && minor >= 8 {
		return "PerSourcePenalties no\n"
	}
	return ""
}

func (f *Fleet) sshdLog(h Host) string { return filepath.Join(f.hostDir(h), "sshd.log") }

// waitBanner polls h until it sends "SSH-...", its sshd exits, or deadline.
func waitBanner(ctx context.Context, h Host, p *sshdProc, deadline time.Time) error {
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("sshd exited (%v)", p.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if last = readBanner(h.HostPort(), deadline); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no ssh banner by the start-up deadline: %w", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readBanner connects once and reads the server's identification line.
func readBanner(addr string, deadline time.Time) error {
	d := time.Until(deadline)
	if d < 100*time.Millisecond {
		d = 100 * time.Millisecond
	}
	conn, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(d))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("unexpected banner %q", strings.TrimSpace(line))
	}
	return nil
}

// tail returns at most the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	fh, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Size() > n {
		_, _ = fh.Seek(-n, io.SeekEnd)
	}
	b, err := io.ReadAll(fh)
	if err != nil && !errors.Is(err, io.EOF) {
		return "(" + err.Error() + ")"
	}
	return string(b)
}

// sftpServer is OpenSSH's external sftp-server, which sshd runs through the
// user's login shell, as a stock Debian or RHEL host does; internal-sftp
// would hide what a chatty ~/.bashrc does to SFTP.
func sftpServer() string {
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "internal-sftp"
}
