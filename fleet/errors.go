package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The error vocabulary. Every error a host ends with is one of these (tested
// with errors.Is) or an [*ExitError]; [Classify] is the one place that maps
// raw network and SSH errors onto them.
var (
	// ErrUnreachable: no SSH session could be had with the host (refused,
	// no route, name not found, handshake failed, connection lost).
	ErrUnreachable = errors.New("unreachable")
	// ErrAuth: the host answered but refused every credential offered.
	ErrAuth = errors.New("authentication failed")
	// ErrHostKey: the host key is unknown (with StrictHostKeyChecking=yes) or
	// differs from the one recorded. Never retried.
	ErrHostKey = errors.New("host key verification failed")
	// ErrTimeout: the connect timeout or the command timeout passed.
	ErrTimeout = errors.New("timed out")
	// ErrCancelled: the run was interrupted (Ctrl-C, SIGTERM) or stopped
	// before this host finished.
	ErrCancelled = errors.New("cancelled")
)

// ExitError reports a remote command that ran and exited non-zero or was
// killed by a signal.
type ExitError struct {
	Status int    // exit status; 128+n when killed by signal n, as a shell reports it
	Signal string // signal name without "SIG" when killed by one ("TERM"), else ""
	// Stderr is what the command wrote to stderr, its last StderrKeep
	// bytes, when the caller kept it (a recipe's step, a put's install
	// script): the reason shows its last line, the record keeps it all.
	// "" when it was not kept (fleet run streams stderr to the host's log).
	Stderr string
}

// StderrKeep bounds the stderr a failed command's error keeps: its last
// 64 KiB, which holds a compiler's or a package manager's whole complaint
// and stays small beside the host's log (bounded by --max-log), which has
// all of it.
const StderrKeep = 64 << 10

// KeepStderr returns the part of a command's stderr an error keeps: all of
// it up to StderrKeep bytes, else its last StderrKeep bytes from the start
// of a line.
func KeepStderr(b []byte) string {
	if len(b) > StderrKeep {
		b = b[len(b)-StderrKeep:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// StderrOf returns the stderr kept with err (see ExitError.Stderr), or "".
func StderrOf(err error) string {
	var fe *Error
	for e := err; e != nil; {
		var ee *ExitError
		if errors.As(e, &ee) && ee.Stderr != "" {
			return ee.Stderr
		}
		if !errors.As(e, &fe) {
			return ""
		}
		if fe.Stderr != "" {
			return fe.Stderr
		}
		e = fe.Err
	}
	return ""
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("killed by signal %s", e.Signal)
	}
	return fmt.Sprintf("exited with error code %d", e.Status)
}

// Error is a classified failure: Kind is one of the vocabulary's sentinels,
// Reason a short human explanation, Hint what to do next (may be empty), and
// Err the underlying error, kept for errors.As.
type Error struct {
	Kind   error
	Reason string
	Hint   string
	Err    error
	// Stderr is the failing command's stderr (see ExitError.Stderr) when
	// the error is a remote command's and the reason shows its last line.
	Stderr string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Reason
}

// Is reports whether target is e's kind, so errors.Is(err, ErrAuth) works.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Hint returns the next step to suggest for err, or "" when there is none.
func Hint(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Hint
	}
	return ""
}

func exitError(e *ssh.ExitError) *ExitError {
	sig := e.Signal()
	status := e.ExitStatus()
	if sig != "" && status == 0 {
		status = 128 + signalNumbers[sig]
	}
	return &ExitError{Status: status, Signal: sig}
}

// signalNumbers knows the signals a remote command is commonly killed by.
var signalNumbers = map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "SEGV": 11, "PIPE": 13, "TERM": 15}

// contextError classifies err once the host's context is done.
func contextError(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrTimeout) && !errors.Is(cause, context.DeadlineExceeded) {
		return &Error{Kind: ErrCancelled, Reason: "interrupted", Err: err}
	}
	reason := "deadline passed"
	var fe *Error
	if errors.As(cause, &fe) && fe.Reason != "" {
		reason = fe.Reason // the timeout's own words ("still running after 5s (-t)")
	}
	return &Error{Kind: ErrTimeout, Reason: reason, Err: err}
}

// errTransfer marks a copy that failed on a reachable host (no such file,
// permission denied, disk full, checksum mismatch): pssh's exit status 5.
var errTransfer = errors.New("transfer failed")

// negotiationError says what ssh says when the host and fleet share no
// algorithm ("no matching cipher found. Their offer: ..."), with both
// lists and the ssh_config key that sets fleet's.
func negotiationError(neg *ssh.AlgorithmNegotiationError, err error) error {
	what, key := neg.What, ""
	switch {
	case what == "key exchange":
		what, key = "key exchange method", "KexAlgorithms"
	case what == "host key":
		what, key = "host key type", "HostKeyAlgorithms"
	case strings.HasSuffix(what, "cipher"):
		what, key = "cipher", "Ciphers"
	case strings.HasSuffix(what, "MAC"):
		what, key = "MAC", "MACs"
	}
	ours := slices.DeleteFunc(slices.Clone(neg.SupportedAlgorithms), func(a string) bool {
		return a == "ext-info-c" || a == "kex-strict-c-v00@openssh.com" // x/crypto's protocol markers, not algorithms anyone chose
	})
	e := &Error{Kind: ErrUnreachable, Err: err,
		Reason: fmt.Sprintf("no matching %s found: fleet offered %s; the host offers %s",
			what, strings.Join(ours, ","), strings.Join(neg.RequestedAlgorithms, ","))}
	switch key {
	case "":
	case "HostKeyAlgorithms":
		e.Hint = "fleet asks for the key types known_hosts has for the host, narrowed by ssh_config's HostKeyAlgorithms (or -O HostKeyAlgorithms=...)"
	default:
		e.Hint = "ssh_config's " + key + " (or -O " + key + "=...) and the host's sshd have none in common"
	}
	return e
}
