// Package procstat reads what the benchmark programs (e2e/cmd/bench and
// e2e/cmd/scale) measure from Linux's /proc: a process's peak RSS, threads,
// open files and CPU, its descendants, the machine's busy time, and the
// machine facts a report starts with. Readers return zero values when a
// file cannot be read (the process has exited): a sampler keeps its peaks.
package procstat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ReadFile returns a file's text, or "" if it cannot be read.
func ReadFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// Field returns the value of the first "key<sep>value" line of a file,
// without a trailing " kB", or "unknown".
func Field(path, key, sep string) string {
	for line := range strings.Lines(ReadFile(path)) {
		k, v, ok := strings.Cut(line, sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return "unknown"
}

// Status returns VmHWM (KiB) and Threads of pid, from /proc/PID/status.
// VmHWM is the peak RSS of the process's own address space. ru_maxrss is
// no substitute: on exec Linux carries the parent's high-water mark into
// the child's (Go starts children with CLONE_VM), so it can show the
// parent's peak instead of the child's.
func Status(pid int) (hwm int64, threads int) {
	for line := range strings.Lines(ReadFile(fmt.Sprintf("/proc/%d/status", pid))) {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmHWM":
			hwm, _ = strconv.ParseInt(f[0], 10, 64)
		case "Threads":
			threads, _ = strconv.Atoi(f[0])
		}
	}
	return hwm, threads
}

// FDs counts the open file descriptors of pid.
func FDs(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}

// StatFields returns the fields of /proc/PID/stat after "(comm)", which
// may itself contain spaces: f[0] is the state (field 3 of proc(5)).
func StatFields(pid int) []string {
	s := ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// CPUTicks sums the given fields of /proc/PID/stat, by their index in
// StatFields: 11 and 12 are utime and stime, 13 and 14 the children's.
func CPUTicks(pid int, fields ...int) int64 { return sumFields(StatFields(pid), fields...) }

// sumFields sums the numbers f[i] for each i of idx that f has.
func sumFields(f []string, idx ...int) int64 {
	var sum int64
	for _, i := range idx {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			sum += v
		}
	}
	return sum
}

// RusageCPU is the user+system CPU of a rusage.
func RusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Exited returns the CPU (user+system) and max RSS (KiB) of an exited
// process and every child it waited for, from its rusage.
func Exited(ps *os.ProcessState) (cpu time.Duration, maxRSS int64) {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return RusageCPU(ru), ru.Maxrss // KiB on Linux
	}
	return 0, 0
}

// CPU is the user+system CPU pid has used.
func CPU(pid int) time.Duration { return Ticks(CPUTicks(pid, 11, 12)) }

// ClockTicks is USER_HZ, the unit of the times in /proc/PID/stat; Go has
// no sysconf without cgo, so getconf answers (it is 100 on every Linux
// port that matters, hence the fallback).
var ClockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil && n > 0 {
		return n
	}
	return 100
})

// Ticks turns clock ticks into a duration.
func Ticks(t int64) time.Duration {
	return time.Duration(t) * time.Second / time.Duration(ClockTicks())
}

// MachineBusyTicks sums the non-idle times of the "cpu" line of /proc/stat
// (user nice system idle iowait irq softirq steal; guest is inside user).
func MachineBusyTicks() int64 {
	line, _, _ := strings.Cut(ReadFile("/proc/stat"), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	return sumFields(f, 1, 2, 3, 6, 7, 8)
}

// HasChildren reads /proc/PID/task/PID/children (of a single-threaded
// process). Zombies are listed there too: not yet reaped.
func HasChildren(pid int) bool {
	return strings.TrimSpace(ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))) != ""
}

// Children returns the children of pid, from the children lists of all
// its threads.
func Children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		for f := range strings.FieldsSeq(ReadFile(t)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// Descendants returns pid and every process below it.
func Descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for _, c := range Children(out[i]) {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// TreeRSS returns the peak, over samples until stop, of the summed
// resident memory (KiB) of the descendants of pid, pid itself not counted.
// Samples are 20 ms apart, or 0.5 ms per process of the last sample (at
// most 250 ms) for a big tree, whose walk through /proc costs the machine
// CPU that what is measured competes for.
func TreeRSS(pid int, stop <-chan struct{}) int64 {
	page := int64(os.Getpagesize()) / 1024
	var peak int64
	for {
		var sum int64
		procs := Descendants(pid)[1:]
		for _, p := range procs {
			if f := strings.Fields(ReadFile(fmt.Sprintf("/proc/%d/statm", p))); len(f) > 1 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				sum += v * page
			}
		}
		peak = max(peak, sum)
		wait := min(max(20*time.Millisecond, time.Duration(len(procs))*time.Millisecond/2), 250*time.Millisecond)
		select {
		case <-stop:
			return peak
		case <-time.After(wait):
		}
	}
}
