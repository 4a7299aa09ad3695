package sshtest

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The helpers below serve the tests of the engine and of the packages
// around it, which check files and processes the test server's commands
// leave behind.

// Lines returns the non-empty lines of the file at path, or fails t.
func Lines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(strings.Split(string(b), "\n"), func(l string) bool { return strings.TrimSpace(l) == "" })
}

// ProcessGone reports whether pid has exited. A zombie counts as gone:
// background jobs whose shell exited are reparented to an init that may
// never reap them.
func ProcessGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// Eventually polls cond every 10 ms until it holds, for at most d, and
// reports whether it did.
func Eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
