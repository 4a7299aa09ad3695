package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONLogWriter: log lines become one object a line, whatever the
// writes' boundaries; a last line without a newline is kept at Close; a
// line not in the log's format is kept whole; bytes that are not UTF-8
// become U+FFFD, and an escape is escaped.
func TestJSONLogWriter(t *testing.T) {
	var out bytes.Buffer
	w := newJSONLogWriter(&out, "web1")
	log := "2026-11-27T13:48:36.123Z out | hello\n2026-11-27T13:48:36.125Z err | bad \xff\x1b[2J\nnot a log line\nbare\xfe\n" +
		"2026-11-27T13:48:36.130Z --- | end ok exit=0 (12ms)"
	for i := 0; i < len(log); i += 7 {
		if _, err := w.Write([]byte(log[i:min(i+7, len(log))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []logLine{
		{"web1", "2026-11-27T13:48:36.123Z", "stdout", "hello"},
		{"web1", "2026-11-27T13:48:36.125Z", "stderr", "bad \uFFFD\x1b[2J"},
		{"web1", "", "", "not a log line"},
		{"web1", "", "", "bare\uFFFD"},
		{"web1", "2026-11-27T13:48:36.130Z", "fleet", "end ok exit=0 (12ms)"},
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		var got logLine
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if got != want[i] {
			t.Errorf("line %d = %+v, want %+v", i+1, got, want[i])
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("an escape went out raw: %q", out.String())
	}
}
