package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
)

func TestClassify(t *testing.T) {
	live := context.Background()
	timedOut, cancel := context.WithTimeoutCause(live, time.Nanosecond, &Error{Kind: ErrTimeout, Reason: "still running after 1ns (-t)"})
	defer cancel()
	<-timedOut.Done()
	interrupted, stop := context.WithCancel(live)
	stop()
	tests := []struct {
		ctx    context.Context
		err    error
		kind   error
		reason string
	}{
		{live, fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), ErrUnreachable, "connection refused"},
		{live, &net.DNSError{Err: "no such host", Name: "nohost"}, ErrUnreachable, "host name not found"},
		{live, errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"), ErrAuth, "refused publickey"},
		{live, errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none], no supported methods remain"), ErrAuth, "no credentials"},
		{live, errors.New(`ssh: handshake failed: ssh: disconnect, reason 2: Too many authentication failures`), ErrAuth, ""},
		{live, fmt.Errorf("ssh: handshake failed: %w", io.EOF), ErrUnreachable, "closed by the host"},
		{live, fmt.Errorf("write /tmp/x: %w", sftp.ErrSSHFxConnectionLost), ErrUnreachable, "write /tmp/x: connection lost"},
		{timedOut, errors.New("anything"), ErrTimeout, "still running after 1ns"},
		{interrupted, errors.New("anything"), ErrCancelled, "interrupted"},
		{live, context.DeadlineExceeded, ErrTimeout, ""},
	}
	for _, tt := range tests {
		got := Classify(tt.ctx, tt.err)
		if !errors.Is(got, tt.kind) || !strings.Contains(got.Error(), tt.reason) {
			t.Errorf("Classify(%v) = %v, want %v containing %q", tt.err, got, tt.kind, tt.reason)
		}
		if !errors.Is(got, tt.err) && tt.ctx == live {
			t.Errorf("Classify(%v) lost the underlying error", tt.err)
		}
	}
	if Classify(live, nil) != nil {
		t.Error("nil is not classified as nil")
	}
	hk := &Error{Kind: ErrHostKey, Reason: "host key of h:22 has CHANGED"}
	if got := Classify(live, fmt.Errorf("ssh: handshake failed: %w", hk)); got != error(hk) {
		t.Errorf("a host-key error wrapped by the handshake: Classify = %q, want %q", got, hk)
	}
	ee := &ExitError{Status: 3}
	if Classify(live, ee) != error(ee) {
		t.Error("an ExitError is classified again")
	}
}
