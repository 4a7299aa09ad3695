package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/procstat"
)

// An sshd connection process does not always reap its session child: when
// the client drops the connection instead of closing its channel (scp in
// SFTP mode kills its ssh when done, so parallel-scp always does), the
// privileged monitor exits at once and the unprivileged child, which did
// the ciphering and waited for the session's commands, is orphaned. Its CPU
// then never reaches the master's cutime (strace: "sshd -R" exits 255
// without a wait4 for it), and it would show up as other load. The bench
// is therefore a child subreaper: such orphans are re-parented to it rather
// than to init, and measure reaps them and adds their rusage to the sshd CPU.

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, prctl(2)

func becomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}

// masters are the sshd masters of every running harness fleet: children of
// this process that the harness waits for, never to be reaped here.
var masters = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

func registerMasters(pids []int, on bool) {
	masters.Lock()
	defer masters.Unlock()
	for _, p := range pids {
		if on {
			masters.pids[p] = true
		} else {
			delete(masters.pids, p)
		}
	}
}

// reapAdopted reaps every adopted sshd process that has exited and returns
// their CPU (user+sys, with that of the children they waited for), and how
// many adopted sshd processes still run.
func reapAdopted() (cpu time.Duration, running int) {
	masters.Lock()
	defer masters.Unlock()
	for _, pid := range procstat.Children(os.Getpid()) {
		if masters.pids[pid] || !strings.Contains(procstat.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)), "(sshd)") {
			continue // the spawner is waited for by measure before this runs
		}
		if st := procstat.StatFields(pid); len(st) == 0 || st[0] != "Z" {
			running++
			continue
		}
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, &ru); err == nil && got == pid {
			cpu += procstat.RusageCPU(&ru)
		}
	}
	return cpu, running
}
