package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// handshake wraps err as x/crypto's NewClientConn does.
func handshake(err error) error { return fmt.Errorf("ssh: handshake failed: %w", err) }

// TestClassifyCases lists each rule of the classifier and its outcome. An
// error no rule knows stays as it is (the task's failure, its words kept)
// and becomes unreachable only when dialling.
func TestClassifyCases(t *testing.T) {
	neg := &ssh.AlgorithmNegotiationError{What: "client to server cipher",
		SupportedAlgorithms: []string{"aes128-ctr"}, RequestedAlgorithms: []string{"3des-cbc"}}
	tests := []struct {
		name   string
		err    error
		kind   error // nil: returned unchanged
		reason string
	}{
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, ErrUnreachable, "connection refused"},
		{"no route", &net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, ErrUnreachable, "no route to host"},
		{"refused wrapped", fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), ErrUnreachable, "connection refused"},
		{"dns", &net.DNSError{Err: "no such host", Name: "nohost"}, ErrUnreachable, "host name not found"},
		{"other net op", &net.OpError{Op: "read", Err: errors.New("weird")}, ErrUnreachable, "read: weird"},
		{"deadline", os.ErrDeadlineExceeded, ErrTimeout, "timed out"},
		{"ctx deadline", context.DeadlineExceeded, ErrTimeout, "timed out"},
		{"ctx cancel", context.Canceled, ErrCancelled, "interrupted"},
		{"auth", handshake(errors.New("ssh: unable to authenticate, attempted methods [none publickey password], no supported methods remain")), ErrAuth, "refused publickey, password"},
		{"auth publickey", handshake(errors.New("ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain")), ErrAuth, "refused publickey"},
		{"auth nothing", handshake(errors.New("ssh: unable to authenticate, attempted methods [none], no supported methods remain")), ErrAuth, "no credentials to offer"},
		{"too many auth", handshake(errors.New("ssh: disconnect, reason 2: Too many authentication failures")), ErrAuth, "MaxAuthTries"},
		{"no more auth", errors.New("ssh: disconnect, reason 14: no more"), ErrAuth, ""},
		{"illegal user", errors.New("ssh: disconnect, reason 15: Illegal user"), ErrAuth, ""},
		{"too many conns", errors.New("ssh: disconnect, reason 12: Too many connections"), ErrUnreachable, "the host refused the connection: Too many connections"},
		{"not allowed", errors.New("ssh: disconnect, reason 1: go away"), ErrUnreachable, "the host refused the connection: go away"},
		{"host key disc", errors.New("ssh: disconnect, reason 9: bad key"), ErrHostKey, "bad key"},
		{"other disc", errors.New("ssh: disconnect, reason 11: shutting down"), ErrUnreachable, "disconnected by the host: shutting down"},
		{"negotiation", handshake(neg), ErrUnreachable, "no matching cipher found: fleet offered aes128-ctr; the host offers 3des-cbc"},
		{"handshake eof", handshake(io.EOF), ErrUnreachable, "connection closed by the host"},
		{"handshake reset", handshake(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), ErrUnreachable, "connection closed by the host"},
		{"not ssh", handshake(errors.New("ssh: overflow reading version string")), ErrUnreachable, "SSH handshake failed: overflow reading version string"},
		{"channel", &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "open failed"}, ErrUnreachable, "refused to open a channel: open failed"},
		{"exit missing", &ssh.ExitMissingError{}, ErrUnreachable, "before the command reported its exit status"},
		{"known hosts", &knownhosts.KeyError{}, ErrHostKey, ""},
		{"sftp lost", fmt.Errorf("write /tmp/x: %w", sftp.ErrSSHFxConnectionLost), ErrUnreachable, "write /tmp/x: connection lost"},
		{"sftp subsystem", fmt.Errorf("sftp: %w", errors.New("ssh: subsystem request failed")), errTransfer, "refused the sftp subsystem"},
		{"closed", fmt.Errorf("session: %w", net.ErrClosed), ErrUnreachable, "connection closed"},
		{"pipe", syscall.EPIPE, ErrUnreachable, "closed by the host"},
		// Not network errors: on a live connection they are the task's.
		{"unknown ssh", errors.New("ssh: unexpected message type 3 (expected 91)"), nil, ""},
		{"pty refused", errors.New("ssh: pty-req failed"), nil, ""},
		{"local", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(context.Background(), tt.err)
			if tt.kind == nil {
				if got != tt.err || OutcomeOf(got) != Failed {
					t.Errorf("Classify(%v) = %v (%v), want it unchanged, failed", tt.err, got, OutcomeOf(got))
				}
				d := classifyDial(context.Background(), tt.err)
				if !errors.Is(d, ErrUnreachable) || !errors.Is(d, tt.err) || !strings.Contains(d.Error(), strings.TrimPrefix(tt.err.Error(), "ssh: ")) {
					t.Errorf("classifyDial(%v) = %v, want unreachable with its words", tt.err, d)
				}
				return
			}
			var fe *Error
			if !errors.As(got, &fe) || fe.Kind != tt.kind || !strings.Contains(got.Error(), tt.reason) {
				t.Errorf("Classify(%v) = %v, want %v containing %q", tt.err, got, tt.kind, tt.reason)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("Classify(%v) lost the underlying error", tt.err)
			}
			if strings.Count(got.Error(), "ssh: ") > 0 && tt.name != "other net op" {
				t.Errorf("Classify(%v) = %q still reads like x/crypto", tt.err, got)
			}
		})
	}
}

// The run's context decides over the error: its timeout's cause and an
// interrupt. nil, a host-key error under the handshake's wrapping and an
// exit status come back as they are.
func TestClassifyContextAndPassThrough(t *testing.T) {
	live := context.Background()
	timedOut, cancel := context.WithTimeoutCause(live, time.Nanosecond, &Error{Kind: ErrTimeout, Reason: "still running after 1ns (-t)"})
	defer cancel()
	<-timedOut.Done()
	interrupted, stop := context.WithCancel(live)
	stop()
	for _, tt := range []struct {
		ctx    context.Context
		kind   error
		reason string
	}{
		{timedOut, ErrTimeout, "still running after 1ns"},
		{interrupted, ErrCancelled, "interrupted"},
	} {
		if got := Classify(tt.ctx, errors.New("anything")); !errors.Is(got, tt.kind) || !strings.Contains(got.Error(), tt.reason) {
			t.Errorf("Classify = %v, want %v containing %q", got, tt.kind, tt.reason)
		}
	}
	if Classify(live, nil) != nil {
		t.Error("nil is not classified as nil")
	}
	hk := &Error{Kind: ErrHostKey, Reason: "host key of h:22 has CHANGED"}
	if got := Classify(live, handshake(hk)); got != error(hk) {
		t.Errorf("a host-key error wrapped by the handshake: Classify = %q, want %q", got, hk)
	}
	ee := &ExitError{Status: 3}
	if Classify(live, ee) != error(ee) {
		t.Error("an ExitError is classified again")
	}
}

func TestSudoRefusal(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"sudo: a password is required", true},
		{"sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper", false},
		{"sudo: sorry, you must have a tty to run sudo", false},
		{"make: a password is required", false}, // not sudo's
		{"Sorry, try again.", false},
	}
	for _, tt := range tests {
		err := sudoRefusal(tt.line)
		if got := err != nil; got != tt.want {
			t.Errorf("sudoRefusal(%q) = %v, want refusal %v", tt.line, err, tt.want)
		}
		if err != nil && (!errors.Is(err, errSudo) || Hint(err) == "") {
			t.Errorf("sudoRefusal(%q) = %v, want errSudo with a hint", tt.line, err)
		}
	}
}

func TestSFTPErrorCases(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{fs.ErrPermission, "put /etc/x: permission denied"},
		{&fs.PathError{Op: "open", Path: "/etc/x", Err: fs.ErrNotExist}, "put /etc/x: no such file or folder"},
		{syscall.ENOSPC, "put /etc/x: no space left on device"},
		{&sftp.StatusError{Code: uint32(sftp.ErrSSHFxFailure)}, "put /etc/x: sftp: "},
	}
	for _, tt := range tests {
		got := sftpError("put /etc/x", tt.err)
		if !errors.Is(got, errTransfer) || !strings.Contains(got.Error(), tt.reason) {
			t.Errorf("sftpError(%v) = %v, want a transfer failure with %q", tt.err, got, tt.reason)
		}
	}
	if got := sftpWriteError("/tmp/.x", &sftp.StatusError{Code: uint32(sftp.ErrSSHFxFailure)}); !strings.Contains(got.Error(), "without saying why") {
		t.Errorf("bare SSH_FX_FAILURE on write: %v", got)
	}
}
