package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServePprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", ":6060", "localhost"} {
		if err := servePprof(addr); err == nil {
			t.Errorf("servePprof(%q) served; only a loopback address may be", addr)
		}
	}
	if err := servePprof("127.0.0.1:0"); err != nil {
		t.Errorf("servePprof(127.0.0.1:0): %v", err)
	}
}

// TestProfileDir checks what FLEET_PROFILE_DIR leaves: the profiles and an
// exit report that counts goroutines and files and finds no leak in a
// process that ran nothing.
func TestProfileDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prof")
	t.Setenv(envProfileDir, dir)
	t.Setenv(envPprof, "")
	var stderr bytes.Buffer
	finish := startProfiling(&stderr)
	finish()
	if stderr.Len() > 0 {
		t.Errorf("warnings: %s", stderr.String())
	}
	for _, name := range []string{"cpu.pprof", "heap.pprof", "exit.json"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "exit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep exitReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("exit.json: %v", err)
	}
	if rep.Start.Goroutines < 1 || rep.End.Goroutines < 1 || rep.Start.OpenFiles < 3 || len(rep.Running) == 0 {
		t.Errorf("exit.json does not count: %s", b)
	}
	if len(rep.Leaked) > 0 {
		t.Errorf("leaks reported in a process that ran nothing: %v", rep.Leaked)
	}
	if !strings.Contains(strings.Join(rep.Running, " "), "leakedGoroutines") {
		t.Errorf("running %v lacks the goroutine that listed them", rep.Running)
	}
}
