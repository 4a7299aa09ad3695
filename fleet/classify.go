package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// This file is the one place where fleet reads error text: every rule that
// maps a raw error (net, x/crypto/ssh, pkg/sftp) onto the vocabulary is
// here, typed where the library gives a type, and by its words only where
// it gives none (x/crypto's auth failure and disconnect message, SFTP
// status messages, sudo's complaints). An error no rule knows is not
// guessed at: on a live connection it is the task's failure, kept as it is.

// Classify maps a raw error from dialling or running a command onto the
// vocabulary. Errors already classified, and nil, are returned unchanged.
// ctx is the host's context: when it is done, its cause decides between a
// timeout and a cancellation, whatever the raw error says; a caller with
// no deadline of its own passes context.Background().
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
	if ctx.Err() != nil {
		return contextError(ctx, err)
	}
	var sshExit *ssh.ExitError
	if errors.As(err, &sshExit) {
		return exitError(sshExit)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: ErrTimeout, Reason: "connection timed out", Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: ErrCancelled, Reason: "interrupted", Err: err}
	}
	if c := classifySSH(err); c != nil {
		return c
	}
	if c := classifyNet(err); c != nil {
		return c
	}
	// Not a known network or protocol error: the work itself failed on a
	// reachable host (a recipe that does not support the host, a local
	// file error, a protocol error on a live connection), kept as it is.
	return err
}

// classifyDial classifies an error from dialling: whatever it is, the host
// was not reached, so an error no rule knows is unreachable with its own
// words.
func classifyDial(ctx context.Context, err error) error {
	err = Classify(ctx, err)
	if OutcomeOf(err) == Failed {
		var ee *ExitError
		if errors.As(err, &ee) { // a ProxyCommand's exit, for one
			return &Error{Kind: ErrUnreachable, Reason: err.Error(), Err: err}
		}
		return &Error{Kind: ErrUnreachable, Reason: strings.TrimPrefix(err.Error(), "ssh: "), Err: err}
	}
	return err
}

// handshakeFailed is how x/crypto prefixes every handshake error.
const handshakeFailed = "ssh: handshake failed: "

// classifySSH knows x/crypto/ssh's errors, or returns nil.
func classifySSH(err error) error {
	msg := err.Error()
	var missing *ssh.ExitMissingError
	var neg *ssh.AlgorithmNegotiationError
	var open *ssh.OpenChannelError
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &missing):
		return &Error{Kind: ErrUnreachable, Reason: "connection lost before the command reported its exit status", Err: err}
	case errors.As(err, &neg):
		return negotiationError(neg, err)
	case errors.As(err, &keyErr), errors.As(err, &revoked):
		// The host-key callback classifies these itself; one that reaches
		// here came from elsewhere and is still a host-key refusal.
		return &Error{Kind: ErrHostKey, Reason: strings.TrimPrefix(err.Error(), "knownhosts: "), Err: err}
	case strings.Contains(msg, "ssh: unable to authenticate"):
		return authError(msg, err)
	case strings.Contains(msg, "ssh: subsystem request failed"):
		// Up and logged in, but its sshd serves no SFTP (Subsystem
		// commented out): the copy, not the host, failed.
		return &Error{Kind: errTransfer, Reason: "the host's sshd refused the sftp subsystem", Hint: "enable Subsystem sftp in its sshd_config", Err: err}
	case strings.Contains(msg, "ssh: disconnect, reason "):
		return disconnectError(msg, err)
	case errors.As(err, &open):
		return channelError(open, err)
	case strings.HasPrefix(msg, handshakeFailed) && classifyNet(errors.Unwrap(err)) == nil:
		// Whatever broke the key exchange (a version line that is not
		// SSH, a packet too large, a bad signature): no session could be
		// had. Network causes are told by classifyNet in their own words.
		return &Error{Kind: ErrUnreachable, Reason: "SSH handshake failed: " + strings.TrimPrefix(strings.TrimPrefix(msg, handshakeFailed), "ssh: "), Err: err}
	}
	return nil
}

// authError says which credentials were refused.
func authError(msg string, err error) error {
	return &Error{Kind: ErrAuth, Reason: authReason(msg), Hint: "check the user name (-l) and the key (--identity) or use -A for a password", Err: err}
}

// The SSH_MSG_DISCONNECT reason codes of RFC 4253 section 11.1 that fleet
// tells apart.
const (
	disconnectHostNotAllowed   = 1
	disconnectHostKeyNotVerif  = 9
	disconnectTooManyConns     = 12
	disconnectAuthCancelled    = 13
	disconnectNoMoreAuth       = 14
	disconnectIllegalUserName  = 15
	disconnectPrefix           = "ssh: disconnect, reason "
	tooManyAuthFailuresMessage = "too many authentication failures"
)

// disconnectError reads x/crypto's "ssh: disconnect, reason N: message"
// (the message type is unexported): the host hung up on purpose, and the
// code and its words say why.
func disconnectError(msg string, err error) error {
	rest := msg[strings.Index(msg, disconnectPrefix)+len(disconnectPrefix):]
	code, words, _ := strings.Cut(rest, ": ")
	n, _ := strconv.Atoi(code)
	words = strings.TrimSpace(words)
	switch {
	case strings.Contains(strings.ToLower(words), tooManyAuthFailuresMessage),
		n == disconnectNoMoreAuth, n == disconnectAuthCancelled, n == disconnectIllegalUserName:
		// sshd says "Too many authentication failures" with code 2
		// (protocol error): the words, not the code, tell it.
		return authError(msg, err)
	case n == disconnectHostKeyNotVerif:
		return &Error{Kind: ErrHostKey, Reason: "the host disconnected: " + words, Err: err}
	case n == disconnectHostNotAllowed, n == disconnectTooManyConns:
		return &Error{Kind: ErrUnreachable, Reason: "the host refused the connection: " + words,
			Hint: "sshd's MaxStartups or MaxSessions, a firewall or AllowUsers/DenyUsers; try a smaller -p", Err: err}
	}
	return &Error{Kind: ErrUnreachable, Reason: "disconnected by the host: " + words, Err: err}
}

// channelError is a channel the host refused to open: a session past
// sshd's MaxSessions, or a jump host's forwarding (AllowTcpForwarding no,
// target down). The connection is up; the work could not start on it.
func channelError(open *ssh.OpenChannelError, err error) error {
	reason := fmt.Sprintf("the host refused to open a channel: %s", open.Message)
	if open.Message == "" {
		reason = "the host refused to open a channel: " + open.Reason.String()
	}
	return &Error{Kind: ErrUnreachable, Reason: reason, Err: err}
}

// classifyNet knows the network's errors, or returns nil.
func classifyNet(err error) error {
	if err == nil {
		return nil
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Kind: ErrUnreachable, Reason: "connection refused", Hint: "is sshd running on that port?", Err: err}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &Error{Kind: ErrUnreachable, Reason: "no route to host", Err: err}
	case errors.As(err, &dnsErr):
		return &Error{Kind: ErrUnreachable, Reason: "host name not found", Hint: "check the name in the host list or ssh_config's HostName", Err: err}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &Error{Kind: ErrTimeout, Reason: "connection timed out", Err: err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Kind: ErrUnreachable, Reason: "connection closed by the host", Err: err}
	case errors.Is(err, sftp.ErrSSHFxConnectionLost):
		// The connection died under an SFTP request ("write FILE:
		// connection lost"): the host, not the transfer, failed.
		return &Error{Kind: ErrUnreachable, Reason: err.Error(), Err: err}
	case errors.Is(err, net.ErrClosed):
		return &Error{Kind: ErrUnreachable, Reason: "connection closed", Err: err}
	case errors.As(err, &opErr):
		return &Error{Kind: ErrUnreachable, Reason: err.Error(), Err: err}
	}
	return nil
}

// authReason turns x/crypto's "attempted methods [none publickey]" into a
// shorter sentence.
func authReason(msg string) string {
	if i := strings.Index(msg, "attempted methods ["); i >= 0 {
		rest := msg[i+len("attempted methods ["):]
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			tried := slices.DeleteFunc(strings.Fields(rest[:j]), func(m string) bool { return m == "none" })
			if len(tried) == 0 {
				return "no credentials to offer (no agent, no key, no password)"
			}
			return "refused " + strings.Join(tried, ", ")
		}
	}
	if strings.Contains(strings.ToLower(msg), tooManyAuthFailuresMessage) {
		return "too many authentication failures (sshd's MaxAuthTries: offer fewer keys, e.g. IdentitiesOnly)"
	}
	return "no credential was accepted"
}

// sftpNoSpace reports a write refused for want of space: ENOSPC or EDQUOT
// where the errno travels, else an SFTP failure whose message says so
// (pkg/sftp's server words it "no space left on device"; OpenSSH's
// sftp-server sends a bare SSH_FX_FAILURE, see sftpWriteError).
func sftpNoSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var st *sftp.StatusError
	return errors.As(err, &st) && st.FxCode() == sftp.ErrSSHFxFailure && strings.Contains(strings.ToLower(err.Error()), "space")
}

// sftpWriteError names a failed write of the remote file tmp. OpenSSH's
// sftp-server answers a failed write(2) with a bare SSH_FX_FAILURE,
// whatever errno said, so a failure without words gets the usual cause.
func sftpWriteError(tmp string, err error) error {
	var st *sftp.StatusError
	if errors.As(err, &st) && st.FxCode() == sftp.ErrSSHFxFailure && !sftpNoSpace(err) {
		return &Error{Kind: errTransfer, Reason: "write " + tmp + ": the host failed the write without saying why (a full disk or a quota, most often)",
			Hint: "check the free space there, e.g. fleet run -h HOSTS df -h " + path.Dir(tmp), Err: err}
	}
	return sftpError("write "+tmp, err)
}

// sftpError classifies SFTP status errors into the user's words.
func sftpError(what string, err error) error {
	if err == nil {
		return nil
	}
	var st *sftp.StatusError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Kind: errTransfer, Reason: what + ": no such file or folder", Err: err}
	case errors.Is(err, fs.ErrPermission):
		return &Error{Kind: errTransfer, Reason: what + ": permission denied", Hint: "use --sudo to write where only root may", Err: err}
	case sftpNoSpace(err):
		return &Error{Kind: errTransfer, Reason: what + ": no space left on device", Err: err}
	case errors.As(err, &st):
		return &Error{Kind: errTransfer, Reason: what + ": " + err.Error(), Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// sudoRefusal reads a line sudo wrote before the command started: sudo -n
// saying that it needs a password is the host refusing the command, in
// the vocabulary's words; any other line is nil (the command's stderr).
func sudoRefusal(line string) error {
	if strings.HasPrefix(line, "sudo: ") && strings.Contains(line, "password is required") {
		return &Error{Kind: errSudo, Reason: "sudo needs a password", Hint: "use -S/--sudo-password to give it, or allow this user passwordless sudo"}
	}
	return nil
}

// remoteError names what failed with the command's own words.
func remoteError(ctx context.Context, what string, err error, stderr string) error {
	msg := strings.TrimSpace(stderr)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	var ee *ExitError
	if errors.As(Classify(ctx, err), &ee) && msg != "" {
		return &Error{Kind: errTransfer, Reason: what + ": " + msg, Err: err, Stderr: KeepStderr([]byte(stderr))}
	}
	return fmt.Errorf("%s: %w", what, err)
}
