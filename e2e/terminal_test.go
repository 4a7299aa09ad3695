package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/e2e/ptytest"
)

// TestUnreadPipe: `fleet run -P ... 2>&1 | reader` whose reader does not
// read. Every host prints 6 MB; the hosts must run to their end, the -o
// files get all of it and the run record is written whole while fleet
// still waits for its reader; once the reader reads, fleet exits 0 with
// every status line and a mark for the -P lines it could not keep.
func TestUnreadPipe(t *testing.T) {
	u := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*cmdTimeout)
	defer cancel()
	outdir := t.TempDir()
	const size = 6_000_000
	cmd := u.command(ctx, nil, "run", "-F", testFleet.SSHConfig, "-P", "-o", outdir, "-h", testFleet.HostsFile,
		fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x | fold -w 999; echo`, size*999/1000))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	labels := allLabels(testFleet.Users.NoPass)
	recorded := func() bool {
		b, err := os.ReadFile(filepath.Join(u.stateDir, "runs", "latest", "run.json"))
		var rec runRecord
		return err == nil && json.Unmarshal(b, &rec) == nil && rec.End != nil
	}
	if !eventually(cmdTimeout, recorded) {
		t.Fatal("the run record was not finished while nobody read fleet's output")
	}
	u.latestRun().wantEvery(t, "ok")
	for _, l := range labels {
		if st, err := os.Stat(filepath.Join(outdir, l)); err != nil || st.Size() != size {
			t.Errorf("-o file of %s: %v, %v; want %d bytes", l, st, err, size)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("fleet ended (%v) although its output was not read: it cannot have written it all", err)
	case <-time.After(200 * time.Millisecond):
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&out, pr); close(copied) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fleet: %v", err)
		}
	case <-time.After(cmdTimeout):
		_ = cmd.Process.Kill()
		t.Fatal("fleet did not end once its output was read")
	}
	<-copied
	for _, l := range labels {
		if !regexp.MustCompile(`(?m)^\[\d+\] \d\d:\d\d:\d\d \[SUCCESS\] ` + regexp.QuoteMeta(l) + `$`).Match(out.Bytes()) {
			t.Errorf("no status line for %s", l)
		}
	}
	if !regexp.MustCompile(`fleet: \d+ lines of output not shown here`).Match(out.Bytes()) {
		t.Errorf("no mark for the -P lines not shown (%d bytes read)", out.Len())
	}
}

// TestClosedStdout: `fleet run -o DIR ... >&-`. The hosts' output goes to
// the files; fleet's own lines have nowhere to go and must not stop the
// run (the Go runtime opens /dev/null on a closed descriptor 1, so no file
// or socket fleet opens later can take its place).
func TestClosedStdout(t *testing.T) {
	u := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	outdir := t.TempDir()
	cmd := u.command(ctx, nil, "run", "-F", testFleet.SSHConfig, "-o", outdir, "-h", testFleet.HostsFile, `echo "hi $PSSH_HOST"`)
	// sh closes descriptor 1 and execs fleet ("$0" "$@").
	cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh", "-c", `exec "$0" "$@" >&-`}, cmd.Args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fleet with stdout closed: %v\n%s", err, stderr.String())
	}
	for _, l := range allLabels(testFleet.Users.NoPass) {
		if b, err := os.ReadFile(filepath.Join(outdir, l)); err != nil || !strings.HasPrefix(string(b), "hi ") {
			t.Errorf("-o file of %s: %q, %v", l, b, err)
		}
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("%d hosts: %d ok", numHosts, numHosts)) {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestResizeAtTerminal runs fleet as a person's terminal runs it: the pty
// is its controlling terminal, so a resize makes the kernel send SIGWINCH.
// At 100 columns nothing wraps; after the resize to 60, from the first
// frame drawn for 60 on, nothing wraps either.
func TestResizeAtTerminal(t *testing.T) {
	u := setup(t)
	p := ptytest.Open(t)
	if err := p.SetSize(100, 30); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := u.command(ctx, []string{"TERM=xterm", "NO_COLOR=1"}, "run", "-F", testFleet.SSHConfig, "-p", "2", "-h", testFleet.HostsFile, "sleep 1.5")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.Slave, p.Slave, p.Slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if !eventually(10*time.Second, func() bool { return strings.Contains(p.Seen(), "running 2") }) {
		t.Fatalf("no progress line: %q", p.Seen())
	}
	before := len(p.Seen())
	if err := p.SetSize(60, 30); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fleet: %v\n%q", err, p.Seen())
		}
	case <-time.After(cmdTimeout):
		t.Fatal("fleet still runs")
	}
	out := p.Output()
	if n := ptytest.Wraps(out[:before], 100); n != 0 {
		t.Errorf("%d wraps at 100 columns: %q", n, out[:before])
	}
	after := out[before:]
	start := -1
	for _, loc := range regexp.MustCompile(`\r[^\r\n]+\x1b\[K`).FindAllStringIndex(after, -1) {
		if ptytest.Wraps(after[loc[0]:loc[1]], 60) == 0 {
			start = loc[0]
			break
		}
	}
	if start < 0 {
		t.Fatalf("no frame for 60 columns after the resize: %q", after)
	}
	if n := ptytest.Wraps(after[start:], 60); n != 0 {
		t.Errorf("%d wraps at 60 columns after the resize: %q", n, after[start:])
	}
	for _, l := range allLabels(testFleet.Users.NoPass) {
		if !strings.Contains(out, "[SUCCESS] "+l+"\n") {
			t.Errorf("no result for %s: %q", l, out)
		}
	}
}
