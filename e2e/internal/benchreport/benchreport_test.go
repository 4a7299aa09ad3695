package benchreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	if got := Median([]int64{5, 1, 3}); got != 3 {
		t.Errorf("Median odd = %d", got)
	}
	if got := Median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Errorf("Median even = %d, want (2+3)/2", got)
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(p, []byte("first line\nsecond\n  line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Tail(p, 14); got != "second line" { // the last 14 bytes, blanks made one space {
		t.Errorf("Tail = %q", got)
	}
	if got := Tail(filepath.Join(t.TempDir(), "none"), 10); !strings.HasPrefix(got, "(open ") {
		t.Errorf("Tail of a missing file = %q", got)
	}
}

// TestWriteKeepingHistory: a new file gets an empty History section, a
// rewritten one keeps the old one's.
func TestWriteKeepingHistory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "docs", "r.md")
	if err := WriteKeepingHistory(p, "# one\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "# one\n## History\n\n" + HistoryStart + "\n" + HistoryEnd + "\n"; string(b) != want {
		t.Errorf("new report:\n%s\nwant:\n%s", b, want)
	}
	notes := HistoryStart + "\nbefore: 1 MiB\n" + HistoryEnd
	if err := os.WriteFile(p, []byte("# old\n## History\n\n"+notes+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeepingHistory(p, "# two\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "# two\n## History\n\n"+notes+"\n" {
		t.Errorf("rewritten report:\n%s", b)
	}
}

func TestFileSum(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := FileSum(p); got != "ba7816bf8f01" { // sha256("abc")
		t.Errorf("FileSum = %q", got)
	}
	if got := FileSum(p + ".none"); got != "?" {
		t.Errorf("FileSum of a missing file = %q", got)
	}
}
