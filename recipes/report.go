package recipes

import (
	"fmt"
	"strings"
	"time"
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
	Reason   string
	Err      error // the error of a failed step
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
	for _, st := range r.Steps {
		if st.Status == Failed {
			fmt.Fprintf(&b, "; failed at %q: %s", st.Name, st.Reason)
			break
		}
	}
	return b.String()
}

// Plan is a dry run's report, one line a step:
//
//	would run   install docker
//	would write daemon.json (content differs)
//	ok          daemon.json (unchanged)
//	skip        add key (creates: /etc/apt/keyrings/docker.gpg exists)
//	fail        set cgroup driver (...)
//
// It holds no host names and no timings, so that hosts in the same state
// have equal plans and can be shown once.
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
	}
	return b.String()
}
