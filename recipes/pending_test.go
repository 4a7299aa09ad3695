package recipes

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
)

// markerHost is a Target that keeps pending markers in memory, lets one
// command fail, and says whether puts change anything.
type markerHost struct {
	markers map[string]bool // marker paths present
	failing string          // a command that exits 1
	putSays bool            // what Put reports
	ran     []string
}

func (h *markerHost) Exec(_ context.Context, c *fleet.Command) error {
	h.ran = append(h.ran, inlineVars(c))
	f := strings.Fields(c.Line)
	switch {
	case strings.HasPrefix(c.Line, "ls -1 -- "): // ls -1 -- DIR ...
		for p := range h.markers {
			if name, ok := strings.CutPrefix(p, f[3]+"/"); ok {
				c.Stdout.Write([]byte(name + "\n"))
			}
		}
	case strings.HasPrefix(c.Line, "mkdir -p -m 0700 -- "): // ... DIR && cd -- DIR && touch -- NAMES
		for _, n := range f[slices.Index(f, "touch")+2:] {
			h.markers[f[5]+"/"+n] = true
		}
	case strings.HasPrefix(c.Line, "rm -f -- "):
		delete(h.markers, f[3])
	case c.Line == h.failing:
		return &fleet.ExitError{Status: 1}
	}
	return nil
}

func (h *markerHost) Put(context.Context, *fleet.LocalFile, string, fleet.PutOptions) (bool, error) {
	return h.putSays, nil
}

func (h *markerHost) Probe(context.Context, string, bool, []byte) (*fleet.RemoteFile, error) {
	return &fleet.RemoteFile{}, nil
}

// A run whose triggered step fails leaves it owed: the next run runs it
// although nothing changes then, and a run after that owes nothing.
func TestRerunResumesAPendingTrigger(t *testing.T) {
	r, err := Parse(strings.NewReader(`name: svc
steps:
  - name: config
    put: /etc/svc.conf
    file: conf
  - name: restart
    run: systemctl restart svc
    when_changed: [config]
files:
  conf:
    content: "x=1\n"
`), "svc.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	h := &markerHost{markers: map[string]bool{}, failing: "systemctl restart svc", putSays: true}
	o := Options{PersistTriggers: true}
	_, err = Apply(context.Background(), h, r, &Facts{}, o)
	var ee *fleet.ExitError
	if !errors.As(err, &ee) || len(h.markers) != 1 {
		t.Fatalf("first run: err %v, markers %v", err, h.markers)
	}
	h.failing, h.putSays = "", false
	rep := mustApply(t, h, r, &Facts{}, o)
	if rep.Steps[0].Status != Unchanged || rep.Steps[1].Status != Changed || len(h.markers) != 0 {
		t.Fatalf("second run: %v then %v, markers left %v", rep.Steps[0].Status, rep.Steps[1].Status, h.markers)
	}
	rep, err = Apply(context.Background(), h, r, &Facts{}, o)
	if err != nil || rep.Steps[1].Status != Skipped {
		t.Fatalf("third run: restart %v, err %v", rep.Steps[1].Status, err)
	}
	// Without PersistTriggers nothing is read or written on the host.
	h.ran = nil
	mustApply(t, h, r, &Facts{}, Options{})
	for _, line := range h.ran {
		if strings.Contains(line, "pending") {
			t.Fatalf("ran %q without PersistTriggers", line)
		}
	}
}
