package recipes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
)

// TestReportRecords: a host that ran apt-get update, then failed to
// install, has every step it reached in its records, with outcomes in
// words, the failed step's whole stderr, and totals that count the change
// before the failure.
func TestReportRecords(t *testing.T) {
	_, rep, err := applyFailedInstall(t, "E: first\nE: Unable to locate package docker-ce\n")
	if err == nil {
		t.Fatal("want the install to fail")
	}
	recs := rep.Records()
	b, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, m := range back {
		outcomes = append(outcomes, fmt.Sprint(m["name"], "=", m["outcome"]))
	}
	if got := strings.Join(outcomes, " "); got != "update=changed install=failed" {
		t.Errorf("records: %s\n%s", got, b)
	}
	last := recs[len(recs)-1]
	if last.Stderr != "E: first\nE: Unable to locate package docker-ce\n" || !strings.Contains(last.Reason, "exited with error code 100") {
		t.Errorf("failed step record: %+v", last)
	}
	if tot := rep.Totals(); tot.Changed != 1 || tot.Failed != 1 || !rep.Changed() {
		t.Errorf("totals %+v, changed %v: want the change before the failure counted", tot, rep.Changed())
	}
	var st StepStatus
	if err := st.UnmarshalText([]byte("skipped")); err != nil || st != Skipped {
		t.Errorf("UnmarshalText(skipped) = %v, %v", st, err)
	}
	if err := st.UnmarshalText([]byte("done")); err == nil {
		t.Error("UnmarshalText(done): no error")
	}
}

// A step whose command prints 100 lines to stderr and fails: the summary
// shows the last line, the step's typed error keeps all 100 (for the
// record's stderr_tail), with secrets taken out as from the log.
func TestApplyKeepsAFailedStepsWholeStderr(t *testing.T) {
	var want strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&want, "E: complaint %d\n", i)
	}
	_, rep, err := applyFailedInstall(t, want.String())
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
