package fleet

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fleet-sh/fleet/inventory"
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
			n, err := copySmall(&got, r())
			if err != nil || n != int64(want.Len()) || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("copySmall = %d, %v; copied %d bytes, want %d", n, err, got.Len(), want.Len())
			}
		})
	}
	boom := errors.New("boom")
	if _, err := copySmall(io.Discard, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	if _, err := copySmall(errWriter{boom}, strings.NewReader("abc")); !errors.Is(err, boom) {
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
			_, _ = copySmall(io.Discard, strings.NewReader(""))
		}
		runtime.ReadMemStats(&after)
		best = min(best, (after.TotalAlloc-before.TotalAlloc)/runs)
	}
	if best > 2*copyStartSize {
		t.Errorf("copySmall of an empty stream allocates %d bytes", best)
	}
}

// TestHostLogReadFrom: io.Copy into a host's log (what the SSH session does
// with a command's output) goes through ReadFrom and writes whole lines.
func TestHostLogReadFrom(t *testing.T) {
	hosts, _ := inventory.ParseArgs("h", "test")
	inventory.Label(hosts)
	rec, err := NewRecord(t.TempDir(), RunInfo{Command: "run"}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	l := rec.HostLog(0)
	if _, ok := l.Stdout().(io.ReaderFrom); !ok {
		t.Fatal("the log's stdout has no ReadFrom: io.Copy would allocate 32 KiB per command")
	}
	out := strings.Repeat("a line of output\n", 1000) + "no newline"
	if n, err := io.Copy(l.Stdout(), iotest.HalfReader(strings.NewReader(out))); err != nil || n != int64(len(out)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	l.Close()
	if err := rec.Finish(nil, 0); err != nil {
		t.Fatal(err)
	}
	got := lines(t, filepath.Join(rec.Dir, "hosts", "h.log"))
	if len(got) != 1001 || !strings.HasSuffix(got[0], " out | a line of output") || !strings.HasSuffix(got[1000], " out | no newline") {
		t.Fatalf("log has %d lines: first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}
