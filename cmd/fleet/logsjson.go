package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// logLine is one line of a host's log as fleet logs --json prints it:
//
//	{"host":"web1","time":"2026-11-27T13:48:36.123Z","stream":"stdout","text":"hello"}
//
// stream is stdout, stderr, or fleet for fleet's own notes (start, each
// recipe step, the end), and "" (time too) for a line not in the log's
// format. Text that is not UTF-8 has each bad run of bytes
// replaced by U+FFFD, as in run --json; the log file keeps the bytes.
type logLine struct {
	Host   string `json:"host"`
	Time   string `json:"time"`
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// logStreams maps the log's tags to the streams --json names.
var logStreams = map[string]string{"out": "stdout", "err": "stderr", "---": "fleet"}

// parseLogLine reads "TIME TAG | TEXT" (record.HostLog's format). A line
// that is not in it is kept whole as text.
func parseLogLine(host, line string) logLine {
	l := logLine{Host: host, Text: line}
	if t, rest, ok := strings.Cut(line, " "); ok {
		tag, text, ok := strings.Cut(rest, " | ")
		if stream := logStreams[tag]; ok && stream != "" {
			l.Time, l.Stream, l.Text = t, stream, text
		}
	}
	l.Text = strings.ToValidUTF8(l.Text, "\uFFFD")
	return l
}

// jsonLogWriter turns the log lines written to it into JSON lines, one
// object a line, for a host; Close writes a last line that had no newline.
type jsonLogWriter struct {
	host    string
	enc     *json.Encoder
	partial []byte
}

func newJSONLogWriter(w io.Writer, host string) *jsonLogWriter {
	return &jsonLogWriter{host: host, enc: newJSONEncoder(w)}
}

func (j *jsonLogWriter) Write(p []byte) (int, error) {
	j.partial = append(j.partial, p...)
	for {
		i := bytes.IndexByte(j.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := j.enc.Encode(parseLogLine(j.host, string(j.partial[:i]))); err != nil {
			return 0, err
		}
		j.partial = j.partial[i+1:]
	}
}

// Close writes what is left of a line cut short.
func (j *jsonLogWriter) Close() error {
	if len(j.partial) == 0 {
		return nil
	}
	defer func() { j.partial = nil }()
	return j.enc.Encode(parseLogLine(j.host, string(j.partial)))
}
