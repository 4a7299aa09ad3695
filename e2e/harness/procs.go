package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Processes returns the command lines (from /proc/*/cmdline, NUL replaced by
// space) of every live process whose real uid is the given user's, so tests
// can check that no remote command was left running. Zombies are left out:
// they run nothing. Note that while a connection is open its own
// "sshd: user@notty" process is listed too, and that the users are shared by
// every fleet on the machine.
func Processes(user string) ([]string, error) {
	uid, _, _, err := lookup(user)
	if err != nil {
		return nil, err
	}
	procs, err := snapshot()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range procs {
		if p.state == 'Z' || p.uid != uid {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
		if err != nil {
			continue // exited meanwhile
		}
		line := string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '}))
		if line == "" {
			line = "[" + p.comm + "]"
		}
		out = append(out, line)
	}
	return out, nil
}

// proc is what the harness needs from /proc/PID/stat and status.
type proc struct {
	pid, ppid, sid, uid int
	state               byte
	comm                string
}

// snapshot reads every process of the machine. Processes that exit while
// it reads are skipped.
func snapshot() ([]proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("harness: processes: %w", err)
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// readProc parses /proc/PID/stat, whose second field (comm) may contain
// spaces and parentheses, hence the split at the last ')'.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, false
	}
	f := strings.Fields(s[end+1:]) // state ppid pgrp session ...
	if len(f) < 4 {
		return proc{}, false
	}
	p := proc{pid: pid, comm: s[open+1 : end], state: f[0][0], uid: -1}
	p.ppid, _ = strconv.Atoi(f[1])
	p.sid, _ = strconv.Atoi(f[3])
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.SplitSeq(string(st), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if u := strings.Fields(rest); len(u) > 0 {
					p.uid, _ = strconv.Atoi(u[0])
				}
				break
			}
		}
	}
	return p, true
}

// alive reports whether pid exists and is not a zombie. Zombies count as
// dead because in a container PID 1 may never reap orphans.
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z'
}

// isFleetSSHD reports whether pid is a live sshd started with a config from
// dir, so that a recycled PID is never mistaken for (and killed as) ours.
// The listener rewrites its argv into one line ("sshd: /usr/sbin/sshd -D -e
// -f DIR/sshd/ADDR/sshd_config [listener] 0 of 200-400 startups"), so the
// command line is matched as text, not parsed into arguments.
func isFleetSSHD(pid int, dir string) bool {
	if !alive(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	line := strings.ReplaceAll(string(b), "\x00", " ")
	return (strings.HasPrefix(line, "sshd") || strings.HasPrefix(line, sshdPath)) &&
		strings.Contains(line, " "+filepath.Join(dir, "sshd")+"/")
}

// killTrees kills the given roots and everything they started. Descendants
// alone are not enough: a command backgrounded in a session (nohup cmd &) is
// reparented to init once its shell exits. So the hunt also takes members of
// any session found (sshd starts each session with setsid) and any process
// for which also reports true (Stop matches SSH_CONNECTION, which such
// orphans inherit). Everything found is first stopped (SIGSTOP), so nothing
// can fork behind our back, until a fresh scan finds nothing new; then all
// get SIGKILL.
func killTrees(roots []int, also func(proc) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	me, _ := readProc(os.Getpid())
	self := me.sid // never hunt our own session (the test binary's)
	known := map[int]bool{}
	sids := map[int]bool{}
	for _, pid := range roots {
		known[pid] = true
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	for time.Now().Before(deadline) {
		procs, err := snapshot()
		if err != nil {
			return err
		}
		found := 0
		for grew := true; grew; { // to a fixpoint: the scan is in PID order, not tree order
			grew = false
			for _, p := range procs {
				if known[p.pid] {
					if p.sid > 1 && p.sid != self {
						sids[p.sid] = true
					}
					continue
				}
				if p.pid == me.pid || p.state == 'Z' {
					continue // zombies are dead already; no signal reaches them
				}
				if known[p.ppid] || sids[p.sid] || also(p) {
					known[p.pid], grew = true, true
					found++
					_ = syscall.Kill(p.pid, syscall.SIGSTOP)
				}
			}
		}
		if found == 0 {
			break
		}
	}
	for pid := range known {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for {
		survivor := 0
		for pid := range known {
			if alive(pid) {
				survivor = pid
				break
			}
		}
		if survivor == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: stop: process %d still alive after SIGKILL", survivor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sshConnectionTo returns a matcher for processes whose environment says
// they descend from an ssh session to one of hosts: sshd sets
// SSH_CONNECTION="client_ip client_port server_ip server_port".
func sshConnectionTo(hosts []Host) func(proc) bool {
	servers := map[string]bool{}
	for _, h := range hosts {
		servers[h.Addr+" "+strconv.Itoa(h.Port)] = true
	}
	return func(p proc) bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		if err != nil {
			return false
		}
		for kv := range strings.SplitSeq(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, "SSH_CONNECTION="); ok {
				f := strings.Fields(v)
				return len(f) == 4 && servers[f[2]+" "+f[3]]
			}
		}
		return false
	}
}
