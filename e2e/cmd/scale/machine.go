package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// machine is what the report says about where it ran, and the system limits
// that a run of thousands of connections can hit.
type machine struct {
	Cores       int
	MemKiB      int64
	Kernel      string
	Load        string
	PortLo      int
	PortHi      int
	FileMax     int64
	NrOpen      int64
	NofileSoft  uint64 // as this process has it: Go raised it to the hard limit
	NofileHard  uint64
	GoVersion   string
	TCPTwReuse  string
	CreateCost  time.Duration // kernel CPU to create one small file in the work folder (see fileCreateCost)
	SoMaxConn   string
	Description string
}

func machineInfo() machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), MemKiB: procstat.MemTotalKiB(),
		Kernel: procstat.Kernel(), Load: procstat.LoadAverage(), Description: procstat.CPUModel()}
	if f := strings.Fields(procstat.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")); len(f) == 2 {
		m.PortLo, _ = strconv.Atoi(f[0])
		m.PortHi, _ = strconv.Atoi(f[1])
	}
	m.FileMax, _ = strconv.ParseInt(strings.TrimSpace(procstat.ReadFile("/proc/sys/fs/file-max")), 10, 64)
	m.NrOpen, _ = strconv.ParseInt(strings.TrimSpace(procstat.ReadFile("/proc/sys/fs/nr_open")), 10, 64)
	m.TCPTwReuse = strings.TrimSpace(procstat.ReadFile("/proc/sys/net/ipv4/tcp_tw_reuse"))
	m.SoMaxConn = strings.TrimSpace(procstat.ReadFile("/proc/sys/net/core/somaxconn"))
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		m.NofileSoft, m.NofileHard = l.Cur, l.Max
	}
	return m
}

// fileCreateCost measures the kernel CPU this machine spends creating,
// writing and closing one small file in dir, as fleet's record does for
// every host's log: on some disks it is a large share of fleet's CPU.
func fileCreateCost(dir string) time.Duration {
	const n = 500
	d, err := os.MkdirTemp(dir, "create-cost-")
	if err != nil {
		return 0
	}
	defer os.RemoveAll(d)
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &r0)
	for i := range n {
		f, err := os.OpenFile(filepath.Join(d, strconv.Itoa(i)+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return 0
		}
		_, _ = f.WriteString("2026-01-01T00:00:00.000Z --- | start host\n")
		f.Close()
	}
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &r1)
	return (procstat.RusageCPU(&r1) - procstat.RusageCPU(&r0)) / n
}

// text is the machine section, also printed before the runs start.
func (m machine) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "- %d cores (%s), %.1f GiB memory, Linux %s, %s\n", m.Cores, m.Description, float64(m.MemKiB)/(1<<20), m.Kernel, m.GoVersion)
	fmt.Fprintf(&b, "- ephemeral ports %d-%d (%d), net.ipv4.tcp_tw_reuse %s, net.core.somaxconn %s\n",
		m.PortLo, m.PortHi, m.PortHi-m.PortLo+1, m.TCPTwReuse, m.SoMaxConn)
	fmt.Fprintf(&b, "- fs.file-max %d, fs.nr_open %d, RLIMIT_NOFILE hard %s (Go programs raise the soft limit to it)\n",
		m.FileMax, m.NrOpen, limitString(m.NofileHard))
	if m.CreateCost > 0 {
		fmt.Fprintf(&b, "- creating a small file (a silent host's log) costs %d µs of kernel CPU on this disk\n", m.CreateCost.Microseconds())
	}
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at the start: %s; the machine is shared, so wall times are noisy\n", m.Load)
	return b.String()
}

// check refuses a run the system limits cannot hold, before anything starts:
// the endpoint server holds a listener per endpoint and a socket per
// connection; fleet itself checks its own limit (and caps -p, which the
// report would show as a missed -p, not as a failure here).
func (m machine) check(o options) error {
	serverNeed := uint64(o.n + 2*min(o.n, o.par) + 64)
	if m.NofileHard != 0 && m.NofileHard < serverNeed {
		return fmt.Errorf("the endpoint server needs about %d open files for %d endpoints at -p %d, but the hard "+
			"RLIMIT_NOFILE is %d: raise it (ulimit -Hn %d as root, or nofile in /etc/security/limits.conf) or use a smaller -n",
			serverNeed, o.n, o.par, m.NofileHard, serverNeed)
	}
	total := int64(serverNeed) + int64(64+4*min(o.n, o.par))
	if m.FileMax > 0 && m.FileMax < total {
		return fmt.Errorf("fs.file-max is %d, below the %d files the endpoints and fleet need together", m.FileMax, total)
	}
	// Every endpoint has an address of its own, so connections never share a
	// four-tuple even when they reuse a local port: the ephemeral range is
	// not the limit here. It would be with every endpoint on one address.
	if m.PortHi > 0 && m.PortHi-m.PortLo+1 < min(o.n, o.par) {
		return fmt.Errorf("only %d ephemeral ports (net.ipv4.ip_local_port_range), fewer than -p %d", m.PortHi-m.PortLo+1, o.par)
	}
	return nil
}

func limitString(v uint64) string {
	if v == ^uint64(0) {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}
