package procstat

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestSelf reads this test process: it has a peak RSS, threads, open
// files and a state; a child it started is among its descendants and has
// resident memory.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	if hwm, threads := Status(pid); hwm <= 0 || threads < 1 {
		t.Errorf("Status = %d KiB, %d threads", hwm, threads)
	}
	if n := FDs(pid); n < 3 {
		t.Errorf("FDs = %d, want at least stdin, stdout, stderr", n)
	}
	if f := StatFields(pid); len(f) < 15 || f[0] != "R" && f[0] != "S" {
		t.Errorf("StatFields = %q", f)
	}
	if hwm, threads := Status(1 << 30); hwm != 0 || threads != 0 {
		t.Errorf("Status of no process = %d, %d", hwm, threads)
	}

	child := exec.Command("sleep", "10")
	if err := child.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	if d := Descendants(pid); !slices.Contains(d, child.Process.Pid) || d[0] != pid {
		t.Errorf("Descendants = %v, want %d first and child %d", d, pid, child.Process.Pid)
	}
	stop := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(stop) })
	if rss := TreeRSS(pid, stop); rss <= 0 {
		t.Errorf("TreeRSS = %d KiB with a child running", rss)
	}
}

// TestMachine: the facts a report starts with are there on Linux.
func TestMachine(t *testing.T) {
	if MemTotalKiB() <= 0 || Kernel() == "" || LoadAverage() == "unknown" || MachineBusyTicks() <= 0 || ClockTicks() <= 0 {
		t.Errorf("mem %d KiB, kernel %q, load %q, busy %d, ticks %d",
			MemTotalKiB(), Kernel(), LoadAverage(), MachineBusyTicks(), ClockTicks())
	}
}
