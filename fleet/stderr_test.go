package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// A remote script that prints 100 lines to stderr and fails (a put's
// install script, the staging folder's): the reason shows the last line,
// the typed error and run.json's stderr_tail keep all 100.
func TestFailedScriptKeepsItsWholeStderr(t *testing.T) {
	c, _ := connect(t, sshtest.Config{})
	ctx := testContext(t, 10*time.Second)
	err := c.script(ctx, "install /etc/x", `i=1; while [ $i -le 100 ]; do echo "complaint $i" >&2; i=$((i+1)); done; exit 3`, PutOptions{})
	if err == nil {
		t.Fatal("the failing script succeeded")
	}
	if got, want := err.Error(), "transfer failed: install /etc/x: complaint 100"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	var want strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&want, "complaint %d\n", i)
	}
	if got := StderrOf(err); got != want.String() {
		t.Errorf("kept stderr has %d lines, want the 100:\n%s", strings.Count(got, "\n"), got)
	}

}

func TestKeepStderrKeepsTheLastWholeLines(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 3*StderrKeep; i++ {
		fmt.Fprintf(&b, "line %d of a long complaint\n", i)
	}
	got := KeepStderr([]byte(b.String()))
	if len(got) > StderrKeep || len(got) < StderrKeep-100 {
		t.Errorf("kept %d bytes, want just under %d", len(got), StderrKeep)
	}
	if !strings.HasPrefix(got, "line ") || !strings.HasSuffix(b.String(), got) {
		t.Errorf("kept %q... is not the tail from a line's start", got[:40])
	}
	if KeepStderr([]byte("short\n")) != "short\n" {
		t.Error("a short stderr is not kept whole")
	}
}
