package fleet

import (
	"fmt"
	"testing"
)

// Each failure has a kind from the vocabulary, read from the classified
// error through any wrapping: the outcome alone does not tell an auth
// failure from a changed host key.
func TestResultKind(t *testing.T) {
	for _, tc := range []struct {
		outcome Outcome
		err     error
		want    string
	}{
		{OK, nil, ""},
		{NotStarted, &Error{Kind: ErrCancelled, Reason: "not started"}, KindNotStarted},
		{Cancelled, &Error{Kind: ErrCancelled, Reason: "interrupted"}, KindCancelled},
		{TimedOut, &Error{Kind: ErrTimeout}, KindTimeout},
		{Unreachable, &Error{Kind: ErrUnreachable, Reason: "connection refused"}, KindUnreachable},
		{Unreachable, &Error{Kind: ErrAuth}, KindAuth},
		{Unreachable, &Error{Kind: ErrHostKey}, KindHostKey},
		{Failed, &Error{Kind: errLogin}, KindLogin},
		{Failed, &Error{Kind: errSudo, Reason: "incorrect sudo password"}, KindSudo},
		{Failed, fmt.Errorf("copy: %w", &Error{Kind: errTransfer, Err: &ExitError{Status: 1}}), KindTransfer},
		{Failed, fmt.Errorf("step x: %w", &ExitError{Status: 100}), KindExit},
		{Failed, fmt.Errorf("no platform matches"), KindError},
	} {
		r := Result{Outcome: tc.outcome, Err: tc.err}
		if got := r.Kind(); got != tc.want {
			t.Errorf("Kind of %v %v = %q, want %q", tc.outcome, tc.err, got, tc.want)
		}
	}
}
