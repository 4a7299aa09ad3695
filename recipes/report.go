package recipes

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// StepStatus is what happened to one step.
type StepStatus int

const (
	// Changed: a run step ran, or a put step wrote.
	Changed StepStatus = iota
	// Unchanged: a put step found the file already right.
	Unchanged
	// Skipped: a guard said the work is done (unless succeeded, creates
	// exists), or when_changed named no changed step.
	Skipped
	// Failed: the step failed; the host's later steps did not run.
	Failed
	// WouldRun: in a dry run, the step would run or write.
	WouldRun
)

// String returns changed, unchanged, skipped, failed or would-run.
func (s StepStatus) String() string {
	switch s {
	case Changed:
		return "changed"
	case Unchanged:
		return "unchanged"
	case Skipped:
		return "skipped"
	case Failed:
		return "failed"
	case WouldRun:
		return "would-run"
	}
	return fmt.Sprintf("StepStatus(%d)", int(s))
}

// StepResult is what happened to one step on one host.
type StepResult struct {
	Name   string
	Status StepStatus
	// Reason says why a step was skipped ("unless: dpkg -s docker-ce
	// succeeded", "creates: /x exists", "no change in: daemon.json"), why
	// it failed, or what a put would change ("content differs").
	Reason string
	Err    error // the error of a failed step
	// Diff is, with Options.Diff, the unified diff of the file a put step
	// would write or wrote, secret values masked (see fileDiff).
	Diff     string
	Duration time.Duration
	put      bool // a put step: "would write" rather than "would run"
	note     bool // a note step: Reason is its message
}

// Report is one host's outcome.
type Report struct {
	Facts    *Facts
	Platform string // the chosen platform's name; "" when none was
	Steps    []StepResult

	unsupported bool // no platform of the recipe matched the host
}

// Count returns how many steps ended with status s.
func (r *Report) Count(s StepStatus) int {
	n := 0
	for _, st := range r.Steps {
		if st.Status == s {
			n++
		}
	}
	return n
}

// Summary is one line about the host:
//
//	ubuntu 16.04 (apt): 3 changed, 8 unchanged
//	ubuntu 16.04 (apt): 1 changed, 2 unchanged; failed at "install docker": exited with error code 100
//
// Unchanged counts the skipped steps too: both mean "already done". A dry
// run's summary counts the steps that would run.
func (r *Report) Summary() string {
	s := r.Brief()
	if r.unsupported {
		return s
	}
	for _, st := range r.Steps {
		if st.Status == Failed {
			s += fmt.Sprintf("; failed at %q: %s", st.Name, st.Reason)
			break
		}
	}
	return s
}

// Brief is the summary without the failed step: what a caller shows when
// the host's error names that step already.
func (r *Report) Brief() string {
	var b strings.Builder
	if r.Facts != nil && r.Facts.ID != "" {
		b.WriteString(strings.TrimSpace(r.Facts.ID + " " + r.Facts.VersionID))
	} else {
		b.WriteString("unknown system")
	}
	if r.Platform != "" {
		fmt.Fprintf(&b, " (%s)", r.Platform)
	}
	if r.unsupported {
		b.WriteString(": not supported by this recipe")
		return b.String()
	}
	if n := r.Count(WouldRun); n > 0 {
		fmt.Fprintf(&b, ": %d would run, %d unchanged", n, r.Count(Unchanged)+r.Count(Skipped))
	} else {
		fmt.Fprintf(&b, ": %d changed, %d unchanged", r.Count(Changed), r.Count(Unchanged)+r.Count(Skipped))
	}
	for _, st := range r.Steps {
		if st.note {
			fmt.Fprintf(&b, "; %s", st.Reason)
		}
	}
	return b.String()
}

// NothingToDo reports whether a dry run found every step done: none would
// run and none failed.
func (r *Report) NothingToDo() bool {
	return len(r.Steps) > 0 && r.Count(WouldRun) == 0 && r.Count(Failed) == 0
}

// Plan is a dry run's report, one line a step:
//
//	would run   install docker
//	would write daemon.json (content differs)
//	ok          daemon.json (unchanged)
//	skip        add key (creates: /etc/apt/keyrings/docker.gpg exists)
//	fail        set cgroup driver (...)
//
// With Options.Diff, a put step's line is followed by its diff. It holds
// no host names and no timings, so that hosts in the same state have equal
// plans and can be shown once.
func (r *Report) Plan() string {
	var b strings.Builder
	for _, st := range r.Steps {
		var word, note string
		switch st.Status {
		case WouldRun, Changed:
			word = "would run"
			if st.put {
				word = "would write"
			}
			if st.Status == Changed {
				word = "changed"
			}
			note = st.Reason
		case Unchanged:
			word, note = "ok", "unchanged"
			if st.note || st.Reason != "" {
				note = st.Reason
			}
		case Skipped:
			word, note = "skip", st.Reason
		case Failed:
			word, note = "fail", st.Reason
		default:
			word = st.Status.String()
		}
		fmt.Fprintf(&b, "%-11s %s", word, st.Name)
		if note = strings.Join(strings.Fields(note), " "); note != "" { // a guard may span lines
			fmt.Fprintf(&b, " (%s)", note)
		}
		b.WriteByte('\n')
		b.WriteString(st.Diff)
	}
	return b.String()
}

// Diffs lists the diffs of the steps that have one (Options.Diff), each
// under a line naming its step, for a run that changed files:
//
//	changed     motd
//	--- /etc/motd
//	+++ /etc/motd
//	@@ -1 +1 @@
//	...
//
// Like Plan, it holds no host names or timings.
func (r *Report) Diffs() string {
	var b strings.Builder
	for _, st := range r.Steps {
		if st.Diff != "" {
			fmt.Fprintf(&b, "%-11s %s\n%s", st.Status, st.Name, st.Diff)
		}
	}
	return b.String()
}

// MarshalText writes the status as String does, so that a status reads
// "changed" in JSON.
func (s StepStatus) MarshalText() ([]byte, error) {
	if s < Changed || s > WouldRun {
		return nil, fmt.Errorf("recipes: no such step status %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads what MarshalText wrote.
func (s *StepStatus) UnmarshalText(b []byte) error {
	for st := Changed; st <= WouldRun; st++ {
		if st.String() == string(b) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("recipes: unknown step outcome %q (changed, unchanged, skipped, failed or would-run)", b)
}

// Records lists the report's steps as the run record keeps them: every
// step that was reached, in order, with its outcome. Steps after a failed
// one did not run and are not listed. Secret values are out of every
// field, as in the host's log.
func (r *Report) Records() []fleet.Step {
	out := make([]fleet.Step, 0, len(r.Steps))
	for _, st := range r.Steps {
		rec := fleet.Step{Name: st.Name, Outcome: st.Status.String(), Reason: st.Reason, Diff: st.Diff, MS: st.Duration.Milliseconds()}
		var ee *fleet.ExitError
		if errors.As(st.Err, &ee) {
			rec.Stderr = ee.Stderr
		}
		out = append(out, rec)
	}
	return out
}

// Totals counts a host's steps by outcome, all of them: a host that failed
// at its fifth step still counts the changes of the four before it.
type Totals struct {
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	WouldRun  int `json:"would_run,omitempty"`
}

// Totals counts the report's steps by outcome.
func (r *Report) Totals() Totals {
	return Totals{Changed: r.Count(Changed), Unchanged: r.Count(Unchanged), Skipped: r.Count(Skipped),
		Failed: r.Count(Failed), WouldRun: r.Count(WouldRun)}
}

// Changed says whether the run changed something on the host, failed or
// not: what the host's "changed" in the record and the totals should say.
func (r *Report) Changed() bool { return r.Count(Changed) > 0 }
