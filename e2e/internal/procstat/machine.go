package procstat

import (
	"strconv"
	"strings"
)

// The machine facts both reports start with.

// CPUModel is the first "model name" of /proc/cpuinfo, or "unknown".
func CPUModel() string { return Field("/proc/cpuinfo", "model name", ":") }

// MemTotalKiB is the machine's memory, from /proc/meminfo.
func MemTotalKiB() int64 {
	n, _ := strconv.ParseInt(Field("/proc/meminfo", "MemTotal", ":"), 10, 64)
	return n
}

// Kernel is the kernel's release, such as "6.1.0-18-amd64".
func Kernel() string { return strings.TrimSpace(ReadFile("/proc/sys/kernel/osrelease")) }

// LoadAverage returns the 1, 5 and 15 minute load averages as "a, b, c",
// or "unknown".
func LoadAverage() string {
	f := strings.Fields(ReadFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
