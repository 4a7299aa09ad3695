package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/internal/benchreport"
)

// TestMain lets the test binary be the endpoint server too: the harness
// starts os.Executable() with -serve, which in a test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveFlag {
		os.Exit(serveMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestScaleSmoke runs the whole harness on 20 endpoints against a fleet
// built from this tree, as `go run ./e2e/cmd/scale -n 20 -p 10` would, and
// checks the report: every host of every scenario ok, nothing left behind,
// -p capped under a low RLIMIT_NOFILE with fleet's warning, and the
// History section of an existing report kept.
func TestScaleSmoke(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleet")
	build := exec.Command("go", "build", "-o", bin, "../../../cmd/fleet")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build fleet: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "scale.md")
	const history = benchreport.HistoryStart + "\nbefore: 1 MiB, after: 2 KiB\n" + benchreport.HistoryEnd
	if err := os.WriteFile(out, []byte("# old\n"+history+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	status := run([]string{"-fleet", bin, "-n", "20", "-p", "10", "-only", "run,provision,rlimit", // hold sleeps 5 s a host
		"-out", out, "-dir", filepath.Join(dir, "work")}, &stdout, &stderr)
	t.Logf("scale ran in %s:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	if status != 0 {
		t.Fatalf("scale exited %d", status)
	}
	report := stdout.String()
	for _, want := range []string{
		"| `fleet run true` | 20/20 | 10 |",
		"| `fleet provision` (5 steps) | 20/20 | 10 |",
		"- `fleet run true` leaves nothing behind:",
		"- `fleet provision` (5 steps) leaves nothing behind:",
		"fleet: warning: 20 hosts at a time (-p) need up to 144 open files, but fleet may open only 104",
		"running 10 hosts at a time instead",
		"20 of 20 hosts ok, exit status 0",
		"RLIMIT_NOFILE too low for -p: fleet caps -p with one clear message and every host still succeeds: **met**",
		"### `fleet provision` (5 steps): CPU",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, line := range strings.Split(report, "\n") {
		if strings.Contains(line, "leaves nothing behind") && !strings.HasSuffix(line, "**met**") {
			t.Errorf("leak check: %s", line)
		}
		if strings.Contains(line, "problems:") {
			t.Errorf("problem reported: %s", line)
		}
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(written), "# fleet at scale") || !strings.Contains(string(written), "## History\n\n"+history) {
		t.Errorf("the written report does not keep the History section:\n%s", written)
	}
}
