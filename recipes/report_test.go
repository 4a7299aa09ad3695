package recipes

import (
	"context"
	"encoding/json"
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
	r := mustParse(t, dockerish)
	ft := newFake()
	ft.answers["dpkg -s docker-ce"] = exitStatus(1)
	ft.answers["apt-get install -y docker-ce"] = func(_ context.Context, cmd *fleet.Command) error {
		fmt.Fprint(cmd.Stderr, "E: first\nE: Unable to locate package docker-ce\n")
		return exitStatus(100)
	}
	rep, err := Apply(context.Background(), ft, r, ubuntu, Options{})
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
