package lightcopy

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCopySmall(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16+3) // 100 KiB and a bit: many 4 KiB reads
	for name, r := range map[string]func() io.Reader{
		"empty":      func() io.Reader { return strings.NewReader("") },
		"one byte":   func() io.Reader { return strings.NewReader("x") },
		"big":        func() io.Reader { return bytes.NewReader(big) },
		"byte-wise":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(big[:9000])) },
		"data+EOF":   func() io.Reader { return iotest.DataErrReader(bytes.NewReader(big[:5000])) },
		"half reads": func() io.Reader { return iotest.HalfReader(bytes.NewReader(big)) },
	} {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			_, _ = io.Copy(&want, r())
			var got bytes.Buffer
			n, err := Copy(&got, r())
			if err != nil || n != int64(want.Len()) || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("Copy = %d, %v; copied %d bytes, want %d", n, err, got.Len(), want.Len())
			}
		})
	}
	boom := errors.New("boom")
	if _, err := Copy(io.Discard, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	if _, err := Copy(errWriter{boom}, strings.NewReader("abc")); !errors.Is(err, boom) {
		t.Errorf("write error: %v", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// TestCopySmallIdleCostsNoBuffer: a stream that brings nothing (most
// commands' stdout or stderr) must not cost the 32 KiB io.Copy takes.
func TestCopySmallIdleCostsNoBuffer(t *testing.T) {
	const runs = 200
	best := ^uint64(0)
	for range 3 { // the least of three, so that another goroutine's allocations do not count
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			_, _ = Copy(io.Discard, strings.NewReader(""))
		}
		runtime.ReadMemStats(&after)
		best = min(best, (after.TotalAlloc-before.TotalAlloc)/runs)
	}
	if best > 2*StartSize {
		t.Errorf("Copy of an empty stream allocates %d bytes", best)
	}
}
