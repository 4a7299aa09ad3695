package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
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

// Classify maps a raw error from dialling or running a command onto the
// vocabulary. Errors already classified, and nil, are returned unchanged.
// ctx is the host's context: when it is done, its cause decides between a
// timeout and a cancellation, whatever the raw error says.
func Classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	var ee *ExitError
	if errors.As(err, &fe) || errors.As(err, &ee) {
		// x/crypto wraps what the host-key callback returned in "ssh:
		// handshake failed: ", which says nothing the classified error
		// does not and hides its kind at the front of the message.
		if fe != nil && err.Error() == handshakeFailed+fe.Error() {
			return fe
		}
		return err
	}
	if ctx != nil && ctx.Err() != nil {
		return contextError(ctx, err)
	}
	var sshExit *ssh.ExitError
	if errors.As(err, &sshExit) {
		return exitError(sshExit)
	}
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) {
		return &Error{Kind: ErrUnreachable, Reason: "connection lost before the command reported its exit status", Err: err}
	}
	var neg *ssh.AlgorithmNegotiationError
	if errors.As(err, &neg) {
		return negotiationError(neg, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return &Error{Kind: ErrTimeout, Reason: "connection timed out", Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: ErrCancelled, Reason: "interrupted", Err: err}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &Error{Kind: ErrTimeout, Reason: "connection timed out", Err: err}
	}
	return classifyNet(err)
}

// handshakeFailed is how x/crypto prefixes every handshake error.
const handshakeFailed = "ssh: handshake failed: "

// classifyNet handles what is left: dial errors, handshake and auth errors.
func classifyNet(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Kind: ErrUnreachable, Reason: "connection refused", Hint: "is sshd running on that port?", Err: err}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &Error{Kind: ErrUnreachable, Reason: "no route to host", Err: err}
	case isDNSError(err):
		return &Error{Kind: ErrUnreachable, Reason: "host name not found", Hint: "check the name in the host list or ssh_config's HostName", Err: err}
	case strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "no supported methods remain"),
		strings.Contains(strings.ToLower(msg), "too many authentication failures"):
		return &Error{Kind: ErrAuth, Reason: authReason(msg), Hint: "check the user name (-l) and the key (--identity) or use -A for a password", Err: err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Kind: ErrUnreachable, Reason: "connection closed by the host", Err: err}
	case errors.Is(err, sftp.ErrSSHFxConnectionLost):
		// The connection died under an SFTP request ("write FILE:
		// connection lost"): the host, not the transfer, failed.
		return &Error{Kind: ErrUnreachable, Reason: msg, Err: err}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, net.ErrClosed) || strings.HasPrefix(msg, "ssh: ") {
		return &Error{Kind: ErrUnreachable, Reason: strings.TrimPrefix(msg, "ssh: "), Err: err}
	}
	// Not a network error: the work itself failed on a reachable host
	// (a recipe that does not support the host, a local file error).
	return err
}

// classifyDial classifies an error from dialling: whatever it is, the host
// was not reached.
func classifyDial(err error) error {
	err = classifyNet(err)
	var fe *Error
	if !errors.As(err, &fe) {
		return &Error{Kind: ErrUnreachable, Reason: err.Error(), Err: err}
	}
	return err
}

func isDNSError(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// authReason turns x/crypto's "attempted methods [none publickey]" into a
// shorter sentence.
func authReason(msg string) string {
	if i := strings.Index(msg, "attempted methods ["); i >= 0 {
		rest := msg[i+len("attempted methods ["):]
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			methods := strings.Fields(rest[:j])
			var tried []string
			for _, m := range methods {
				if m != "none" {
					tried = append(tried, m)
				}
			}
			if len(tried) == 0 {
				return "no credentials to offer (no agent, no key, no password)"
			}
			return "refused " + strings.Join(tried, ", ")
		}
	}
	return "no credential was accepted"
}

func exitError(e *ssh.ExitError) *ExitError {
	sig := e.Signal()
	status := e.ExitStatus()
	if sig != "" && status == 0 {
		status = 128 + signalNumber(sig)
	}
	return &ExitError{Status: status, Signal: sig}
}

// signalNumber knows the signals a remote command is commonly killed by.
func signalNumber(name string) int {
	switch name {
	case "HUP":
		return 1
	case "INT":
		return 2
	case "QUIT":
		return 3
	case "KILL":
		return 9
	case "SEGV":
		return 11
	case "PIPE":
		return 13
	case "TERM":
		return 15
	}
	return 0
}

// contextError classifies err once the host's context is done.
func contextError(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrTimeout) || errors.Is(cause, context.DeadlineExceeded) {
		return &Error{Kind: ErrTimeout, Reason: timeoutReason(cause), Err: err}
	}
	return &Error{Kind: ErrCancelled, Reason: "interrupted", Err: err}
}

func timeoutReason(cause error) string {
	var fe *Error
	if errors.As(cause, &fe) && fe.Reason != "" {
		return fe.Reason
	}
	return "deadline passed"
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
	var ours []string
	for _, a := range neg.SupportedAlgorithms {
		// x/crypto's protocol markers, not algorithms anyone chose.
		if a != "ext-info-c" && a != "kex-strict-c-v00@openssh.com" {
			ours = append(ours, a)
		}
	}
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
