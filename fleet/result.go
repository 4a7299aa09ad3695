package fleet

import (
	"crypto/sha256"
	"errors"
	"slices"
	"time"

	"github.com/fleet-sh/fleet/inventory"
)

// Outcome is how one host's work ended.
type Outcome int

// The outcomes, from best to worst as a summary orders them.
const (
	// OK: the work ran and succeeded.
	OK Outcome = iota
	// Failed: the host was reached but the work failed there (a command exited non-zero).
	Failed
	// Unreachable: no usable SSH session (refused, auth, host key, connection lost).
	Unreachable
	// TimedOut: a timeout passed; the remote command was killed.
	TimedOut
	// Cancelled: interrupted while running; the remote command was killed.
	Cancelled
	// NotStarted: the run stopped before this host was started.
	NotStarted
)

var outcomeNames = [...]string{"ok", "failed", "unreachable", "timeout", "cancelled", "not-started"}

// String returns the outcome's lower-case name, as run records and --json write it.
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an outcome's name.
func (o *Outcome) UnmarshalText(b []byte) error {
	i := slices.Index(outcomeNames[:], string(b))
	if i < 0 {
		return errors.New("unknown outcome " + string(b))
	}
	*o = Outcome(i)
	return nil
}

// OutcomeOf maps a classified error to an outcome: nil is OK.
func OutcomeOf(err error) Outcome {
	var ee *ExitError
	switch {
	case err == nil:
		return OK
	case errors.As(err, &ee):
		return Failed
	case errors.Is(err, ErrTimeout):
		return TimedOut
	case errors.Is(err, ErrCancelled):
		return Cancelled
	case errors.Is(err, ErrUnreachable), errors.Is(err, ErrAuth), errors.Is(err, ErrHostKey):
		return Unreachable
	}
	return Failed
}

// Result is what happened on one host. Run returns one per host, at the
// host's index in the input.
type Result struct {
	Host     inventory.Host
	Index    int
	Outcome  Outcome
	Err      error // nil when Outcome is OK; classified (see Classify)
	ExitCode int   // the remote command's exit status; -1 when it did not report one
	Changed  bool  // the work changed something on the host (copy, provision)
	// Detail is a one-line summary of the work, shown after the host's
	// status ("ubuntu 16.04 (apt): 3 changed, 8 unchanged").
	Detail string
	// Steps are the steps of the work that the host reached, in order
	// (provision's recipe steps), for the record and --json.
	Steps []Step
	// Stdout and Stderr are the output kept in memory for -i, --gather and
	// --json: all of it, or, past --max-output, its head and tail around a
	// mark saying what was cut. The host's log has the rest.
	Stdout []byte
	Stderr []byte
	// StdoutCut and StderrCut count the bytes of each stream that are not
	// in Stdout and Stderr.
	StdoutCut, StderrCut int64
	// StdoutSum and StderrSum, when set, are the SHA-256 of the whole
	// streams, so that --gather folds hosts whose outputs are identical
	// even when only part of them was kept.
	StdoutSum, StderrSum *[sha256.Size]byte
	Start                time.Time // zero when not started
	End                  time.Time
}

// Duration is how long the host's work took.
func (r *Result) Duration() time.Duration {
	if r.Start.IsZero() || r.End.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// Reason is a one-line explanation of a result that is not OK, for
// summaries; "" when OK.
func (r *Result) Reason() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

// Summary counts results by outcome.
type Summary [NotStarted + 1]int

// Summarize counts the outcomes of results.
func Summarize(results []Result) Summary {
	var s Summary
	for i := range results {
		s[results[i].Outcome]++
	}
	return s
}

// The failure kinds Kind names, machine-readable for run.json and --json:
// the error vocabulary of errors.go, one word each.
const (
	KindNotStarted  = "not-started" // the run stopped before the host started
	KindCancelled   = "cancelled"   // interrupted while running
	KindTimeout     = "timeout"     // the connect or the command timeout passed
	KindUnreachable = "unreachable" // no SSH session: refused, no route, handshake, connection lost
	KindAuth        = "auth"        // the host refused every credential offered
	KindHostKey     = "host-key"    // the host key is unknown or changed
	KindLogin       = "login"       // logged in, but the account's shell refuses commands
	KindExit        = "exit"        // a remote command exited non-zero or was killed
	KindSudo        = "sudo"        // sudo refused to run the command (no or wrong password)
	KindTransfer    = "transfer"    // a copy failed on a reachable host (no such file, permission, disk full)
	KindError       = "error"       // any other failure of the work (a recipe that does not support the host, a local error)
)

// Kind names the kind of the result's failure, one of the Kind constants,
// or "" when the host succeeded. It reads the classified error, so two
// results with the same outcome (unreachable) can differ in kind (auth,
// host-key).
func (r *Result) Kind() string {
	var ee *ExitError
	switch {
	case r.Outcome == OK:
		return ""
	case r.Outcome == NotStarted:
		return KindNotStarted
	case errors.Is(r.Err, ErrTimeout):
		return KindTimeout
	case r.Outcome == Cancelled || errors.Is(r.Err, ErrCancelled):
		return KindCancelled
	case errors.Is(r.Err, ErrHostKey):
		return KindHostKey
	case errors.Is(r.Err, ErrAuth):
		return KindAuth
	case errors.Is(r.Err, ErrUnreachable):
		return KindUnreachable
	case errors.Is(r.Err, errLogin):
		return KindLogin
	case errors.Is(r.Err, errSudo):
		return KindSudo
	case errors.Is(r.Err, errTransfer):
		return KindTransfer
	case errors.As(r.Err, &ee):
		return KindExit
	}
	return KindError
}

// Step is one step of a host's work as the run record keeps it:
//
//	{"name": "install docker", "outcome": "skipped", "reason": "unless: dpkg -s docker-ce succeeded", "ms": 41}
//	{"name": "restart docker", "outcome": "failed", "reason": "exited with error code 1: ...", "stderr": "...", "ms": 120}
type Step struct {
	Name string `json:"name"`
	// Outcome is changed, unchanged, skipped, failed, or (dry run)
	// would-run.
	Outcome string `json:"outcome"`
	// Reason says why a step was skipped or failed, what a put would
	// change, or a note's message.
	Reason string `json:"reason,omitempty"`
	// Stderr is a failed command's whole stderr (its last StderrKeep
	// bytes).
	Stderr string `json:"stderr,omitempty"`
	// Diff is, with provision --diff, the unified diff of the file a put
	// step would write or wrote (secret values masked), or a line saying
	// why there is none ("binary or large file: ...").
	Diff string `json:"diff,omitempty"`
	// MS is how long the step took, guards included, in milliseconds.
	MS int64 `json:"ms"`
}
