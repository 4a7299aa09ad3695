package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGPIPEFromAnotherPipe: once fleet asks for SIGPIPE, the kernel
// sends it for a write to any pipe whose reader went away, a ProxyCommand
// that exited early among them; that stopped the whole run with 141 (1
// run in 8 with `-O ProxyCommand=true`). Only the loss of fleet's own
// output may stop the run: a SIGPIPE while stdout still has its reader
// changes nothing, one after the reader went away stops the run as
// SIGPIPE (141).
func TestSIGPIPEFromAnotherPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	notices := make(chan string, 4)
	ctx, in := watchInterrupts(context.Background(), func(s string) { notices <- s },
		func(context.Context) {}, w, os.Stderr)
	defer in.stop()

	// Another pipe, broken: the write fails with EPIPE and raises SIGPIPE.
	or, ow, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	or.Close()
	if _, err := ow.Write([]byte("SSH-2.0-fleet\r\n")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to a pipe without a reader: %v, want EPIPE", err)
	}
	ow.Close()
	if err := syscall.Kill(os.Getpid(), syscall.SIGPIPE); err != nil { // as the kernel does, for certain
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		t.Fatalf("a SIGPIPE from another pipe stopped the run (%v)", context.Cause(ctx))
	case <-time.After(300 * time.Millisecond):
	}
	if in.interrupted() || in.status() != 0 {
		t.Fatalf("after another pipe's SIGPIPE: interrupted %v, status %d; want neither", in.interrupted(), in.status())
	}

	// Our own output's reader goes away: the same signal stops the run.
	r.Close()
	if _, err := w.Write([]byte("[1] 12:00:00 [SUCCESS] h1\n")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to the closed output: %v, want EPIPE", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the output lost its reader and SIGPIPE did not stop the run")
	}
	if st := in.status(); st != 128+int(syscall.SIGPIPE) {
		t.Errorf("exit status %d, want %d", st, 128+int(syscall.SIGPIPE))
	}
	select {
	case n := <-notices:
		if !strings.Contains(n, "SIGPIPE") {
			t.Errorf("notice %q, want it to name SIGPIPE", n)
		}
	case <-time.After(5 * time.Second):
		t.Error("no notice of the stop")
	}
	if len(notices) != 0 {
		t.Errorf("%d more notices, want the one SIGPIPE stop", len(notices))
	}
}
