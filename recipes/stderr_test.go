package recipes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
)

// A step whose command prints 100 lines to stderr and fails: the summary
// shows the last line, the step's typed error keeps all 100 (for the
// record's stderr_tail), with secrets taken out as from the log.
func TestApplyKeepsAFailedStepsWholeStderr(t *testing.T) {
	r := mustParse(t, dockerish)
	ft := newFake()
	ft.answers["dpkg -s docker-ce"] = exitStatus(1)
	var want strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&want, "E: complaint %d\n", i)
	}
	ft.answers["apt-get install -y docker-ce"] = func(_ context.Context, cmd *fleet.Command) error {
		_, _ = cmd.Stderr.Write([]byte(want.String()))
		return exitStatus(100)
	}
	rep, err := Apply(context.Background(), ft, r, ubuntu, Options{})
	var ee *fleet.ExitError
	if !errors.As(err, &ee) || ee.Status != 100 {
		t.Fatalf("err = %v", err)
	}
	if got := fleet.StderrOf(err); got != want.String() {
		t.Errorf("kept stderr: %d lines, want 100", strings.Count(got, "\n"))
	}
	if got := rep.Summary(); !strings.HasSuffix(got, "exited with error code 100: E: complaint 100") {
		t.Errorf("summary = %q, want the last line", got)
	}
}
