package main

import (
	"context"
	"testing"
	"time"
)

// scp reads ~ and ~/x as the login user's home, where SFTP starts.
func TestRemotePath(t *testing.T) {
	for in, want := range map[string]string{"~": ".", "~/": "./", "~/x": "x", "~//x/y": "x/y", "/etc/x": "/etc/x", "x~": "x~"} {
		got, err := remotePath(in)
		if err != nil || got != want {
			t.Errorf("remotePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := remotePath("~root/x"); err == nil {
		t.Error("~root/x accepted")
	}
}

// The limit holds a transfer to its rate, but a file reported whole at once
// (already in place, nothing sent) does not wait.
func TestBandwidth(t *testing.T) {
	if newBandwidth(context.Background(), 0) != nil {
		t.Fatal("no limit made a limiter")
	}
	bw := newBandwidth(context.Background(), 64<<10) // 64 KiB/s, 16 KiB burst
	var seen int64
	start := time.Now()
	p := bw.progress(1<<20, func(n int64) { seen += n })
	p(1 << 20) // whole: unchanged file
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("an unchanged file waited %v", d)
	}
	p = bw.progress(48<<10, func(n int64) { seen += n })
	start = time.Now()
	for range 3 {
		p(16 << 10)
	}
	// 48 KiB at 64 KiB/s with 16 KiB at once: at least 0.5 s.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("48 KiB at 64 KiB/s took %v", d)
	}
	if seen != 1<<20+48<<10 {
		t.Errorf("progress saw %d bytes", seen)
	}
}
