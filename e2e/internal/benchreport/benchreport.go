// Package benchreport holds what the benchmark programs (e2e/cmd/bench and
// e2e/cmd/scale) share in writing their Markdown reports: units, medians,
// verdicts, checksums, a failed run's output in one line, fleet's run
// record, and writing the report file, keeping its History section if it
// has one.
package benchreport

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// Verdict is how a target reads in a report.
func Verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// SHA256 is a file's SHA-256 in hex.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileSum is the first 12 hex digits of a file's SHA-256, to name the
// binary measured; "?" if it cannot be read.
func FileSum(path string) string {
	sum, err := SHA256(path)
	if err != nil {
		return "?"
	}
	return sum[:12]
}

// Tail returns the last n bytes of a file on one line (TailText), for a
// failed run's message; "" for an empty file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return TailText(string(b), n)
}

// TailText returns the last n bytes of s on one line, its whitespace runs
// made single spaces.
func TailText(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return strings.Join(strings.Fields(s), " ")
}

// RecordHost is one host of fleet's run record (run.json).
type RecordHost struct {
	Outcome string `json:"outcome"`
	Changed bool   `json:"changed"`
}

// LatestRun reads the hosts of the latest run fleet recorded in stateDir
// (its FLEET_STATE_DIR).
func LatestRun(stateDir string) ([]RecordHost, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, "runs", "latest", "run.json"))
	if err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	var run struct {
		Hosts []RecordHost `json:"hosts"`
	}
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	return run.Hosts, nil
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
