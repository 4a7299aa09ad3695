// Package benchreport holds what the benchmark programs (e2e/cmd/bench and
// e2e/cmd/scale) share in writing their Markdown reports: units, medians,
// the binary's checksum, a failed run's output in one line, and writing
// the report file, keeping its History section if it has one.
package benchreport

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MiB converts KiB, the unit of /proc and rusage, to MiB.
func MiB(kib int64) float64 { return float64(kib) / 1024 }

// Median returns the median of xs (the mean of the middle two for an even
// count); xs must not be empty.
func Median[T int64 | time.Duration | float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FileSum is the first 12 hex digits of a file's SHA-256, to name the
// binary measured; "?" if it cannot be read.
func FileSum(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "?"
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Tail returns the last n bytes of a file on one line (its whitespace
// runs made single spaces), for a failed run's message; "" for an empty
// file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// Write writes a report to path, making its folder.
func Write(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// History markers: the text between them in an existing report is kept
// when the report is written again by WriteKeepingHistory, so that
// hand-written notes (the before and after of an optimisation) survive a
// new run.
const (
	HistoryStart = "<!-- history: kept when this file is regenerated -->"
	HistoryEnd   = "<!-- /history -->"
)

// WriteKeepingHistory writes text and a "## History" section to path: the
// one of the file it replaces, or an empty one.
func WriteKeepingHistory(path, text string) error {
	history := HistoryStart + "\n" + HistoryEnd + "\n"
	if old, err := os.ReadFile(path); err == nil {
		s := string(old)
		if i := strings.Index(s, HistoryStart); i >= 0 {
			if j := strings.Index(s[i:], HistoryEnd); j >= 0 {
				history = s[i:i+j+len(HistoryEnd)] + "\n"
			}
		}
	}
	return Write(path, text+"## History\n\n"+history)
}
