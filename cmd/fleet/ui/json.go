package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

// JSONResult is the object --json prints for each host, one a line, as the
// host finishes: the run record's host schema (record.Host, the same as
// run.json's hosts), with the host's output in stdout and stderr. "host" is
// the host's label, "target" where fleet connected, "port" the port
// dialled and "kind" the failure's kind (see record.Host).
//
// Stdout and Stderr are strings, not base64: output is almost always text,
// and jq users want to read it. Bytes that are not valid UTF-8 are replaced,
// each run of them by one U+FFFD (strings.ToValidUTF8), so binary output
// is lossy here; use the per-host output files for exact bytes. They are
// always present in --json ("" when the host printed nothing).
//
// Start and End are RFC 3339 with nanoseconds, in the local zone; they are
// null for a host that never started.
type JSONResult = record.Host

// NewJSONResult converts a result into the object --json prints.
func NewJSONResult(r *fleet.Result) JSONResult {
	j := record.HostOf(r)
	j.Error = validUTF8(j.Error)
	j.Detail = validUTF8(j.Detail)
	j.Stdout, j.Stderr = new(validUTF8(string(r.Stdout))), new(validUTF8(string(r.Stderr)))
	j.StdoutCut, j.StderrCut = r.StdoutCut, r.StderrCut
	return j
}

// validUTF8 replaces invalid UTF-8 explicitly rather than leaving it to
// encoding/json, so the rule is ours and documented: one U+FFFD per run.
func validUTF8(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// appendJSON appends r's JSON object and a newline.
func appendJSON(b []byte, r *fleet.Result) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Output full of <, > and & (HTML, shell) should read as it is.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(NewJSONResult(r)); err != nil {
		// Cannot happen for these field types; keep the line count right
		// anyway so a consumer counting hosts is not misled.
		return append(b, "{}\n"...)
	}
	return appendEscapedControls(b, buf.Bytes())
}

// JSONWriter returns a writer for a json.Encoder that writes to w with DEL
// and the C1 controls escaped, as --json lines are (appendEscapedControls).
// The Encoder writes each value in one Write, so no character is split.
func JSONWriter(w io.Writer) io.Writer { return jsonWriter{w} }

type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	if _, err := j.w.Write(appendEscapedControls(nil, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendEscapedControls appends the encoded JSON js with DEL and the C1
// controls (U+0080-U+009F) written as \u escapes. encoding/json escapes
// every control below 0x20 (ESC becomes \u001b) but writes these as they
// are, and a terminal may act on a C1 control (U+009B is CSI). The escape
// decodes to the same string, so nothing is lost for jq; and outside
// strings encoded JSON has no such bytes to confuse.
func appendEscapedControls(b, js []byte) []byte {
	for i := 0; i < len(js); i++ {
		switch c := js[i]; {
		case c == 0x7f:
			b = append(b, `\u007f`...)
		case c == 0xc2 && i+1 < len(js) && js[i+1] >= 0x80 && js[i+1] <= 0x9f:
			b = fmt.Appendf(b, `\u%04x`, js[i+1])
			i++
		default:
			b = append(b, c)
		}
	}
	return b
}
