package record

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// TestHostLogReadFrom: io.Copy into a host's log (what the SSH session does
// with a command's output) goes through ReadFrom and writes whole lines.
func TestHostLogReadFrom(t *testing.T) {
	rec, _ := newRecord(t, t.TempDir(), "h", Info{Command: "run"})
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
	got := sshtest.Lines(t, filepath.Join(rec.Dir, "hosts", "h.log"))
	if len(got) != 1001 || !strings.HasSuffix(got[0], " out | a line of output") || !strings.HasSuffix(got[1000], " out | no newline") {
		t.Fatalf("log has %d lines: first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}
