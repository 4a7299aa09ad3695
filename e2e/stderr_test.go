package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProvisionKeepsAFailedStepsStderr: a step that prints 100 lines to
// stderr and fails shows the last line on its status line, and run.json's
// stderr_tail keeps all 100.
func TestProvisionKeepsAFailedStepsStderr(t *testing.T) {
	u := setup(t)
	np := testFleet.Users.NoPass
	recipe := writeFile(t, filepath.Join(t.TempDir(), "loud.yaml"), `name: loud
sudo: false
steps:
  - name: build
    run: |
      i=1; while [ $i -le 100 ]; do echo "E: complaint $i" >&2; i=$((i+1)); done; exit 2
`, 0o644)
	host := label(np, testFleet.Hosts[0])
	r := u.startSub("provision", "", "-F", testFleet.SSHConfig, "-H", host, "--recipe", recipe).wait(cmdTimeout + 5*time.Second)
	if r.status != 5 || !strings.Contains(r.stdout, "E: complaint 100") || strings.Contains(r.stdout, "E: complaint 99") {
		t.Fatalf("want exit 5 and the last line only on the status line\n%s", r)
	}
	var info struct {
		Hosts []struct {
			Error      string
			StderrTail string `json:"stderr_tail"`
		}
	}
	if err := json.Unmarshal([]byte(readString(t, filepath.Join(u.stateDir, "runs", "latest", "run.json"))), &info); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&want, "E: complaint %d\n", i)
	}
	if len(info.Hosts) != 1 || info.Hosts[0].StderrTail != want.String() {
		t.Errorf("run.json's stderr_tail is not the step's whole stderr: %+v", info.Hosts)
	}
}
