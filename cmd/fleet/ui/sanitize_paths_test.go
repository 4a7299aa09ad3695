package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// Host text that tries to drive the terminal: set the clipboard, the
// window title, clear the screen, ask for the title back, and an 8-bit CSI.
const (
	evilOut    = "ok\x1b]52;c;ZXZpbA==\a\x1b]0;pwned\x1b\\\n"
	evilErr    = "\x1b[2J\x1b[21t\u009b2J\n"
	evilReason = "E: \x1b]52;c;ZXZpbA==\a bad"
	// What the terminal gets instead.
	cleanOut    = "ok^[]52;c;ZXZpbA==^G^[]0;pwned^[\\\n"
	cleanErr    = "^[[2J^[[21t^[[2J\n"
	cleanReason = "E: ^[]52;c;ZXZpbA==^G bad"
)

// evilRun is a run whose hosts print escapes, with a failed step whose
// last stderr line (in the detail, as provision reports it) and whose
// error carry them too, and a host label with one.
func evilRun() []fleet.Result {
	rs := []fleet.Result{
		res(0, "web1", nil, evilOut, evilErr, at(1)),
		res(1, "web2", &fleet.ExitError{Status: 100}, evilOut, evilErr, at(2)),
		res(2, "web3", &fleet.Error{Kind: fleet.ErrUnreachable, Reason: evilReason, Hint: "look"}, "", "", at(3)),
		res(3, "we\x1b[2Jb4", nil, "", "", at(4)),
	}
	rs[1].Detail = `ubuntu 24.04 (apt): 1 changed; failed at "install": exited with error code 100: ` + evilReason
	return rs
}

// containsAll fails for each of wants that got, the text of what, lacks.
func containsAll(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%q", what, want, got)
		}
	}
}

// noEscape fails when s holds a control character other than \t, \n, or
// anything that can act on a terminal.
func noEscape(t *testing.T, where, s string) {
	t.Helper()
	checkSafe(t, []byte(where), []byte(s), false)
}

func TestInlineStatusLinesClean(t *testing.T) {
	rs := evilRun()
	p, out, errb := newTest(Options{Inline: true, Total: len(rs), StdoutEscapes: Replace, StderrEscapes: Replace})
	play(p, rs, nil, time.Second)
	o := out.String()
	noEscape(t, "stdout", o)
	noEscape(t, "stderr", errb.String())
	containsAll(t, "stdout", o,
		"[SUCCESS] web1\n"+cleanOut+"Stderr: "+cleanErr,
		"[FAILURE] web2 Exited with error code 100 (ubuntu 24.04 (apt): 1 changed; failed at \"install\": exited with error code 100: "+cleanReason+")\n",
		"[FAILURE] web3 unreachable: "+cleanReason+"\n",
		"[SUCCESS] we^[[2Jb4\n")
	if !strings.Contains(errb.String(), "fleet: hint: look (web3)") {
		t.Errorf("no hint: %q", errb.String())
	}
	// The results, which the run record is written from, keep the bytes.
	if string(rs[0].Stdout) != evilOut || !strings.Contains(rs[1].Detail, evilReason) {
		t.Error("printing changed the results")
	}
}

func TestTerminalListingClean(t *testing.T) {
	rs := evilRun()
	p, out, errb := newTest(Options{Terminal: true, Inline: true, Total: len(rs), StdoutEscapes: Replace, StderrEscapes: Replace})
	play(p, rs, nil, time.Second)
	o := out.String()
	noEscape(t, "stdout", o)
	containsAll(t, "listing", o, "[SUCCESS] web1\n"+cleanOut+"Stderr: "+cleanErr, "[FAILURE] web3 unreachable: "+cleanReason+"\n")
	// stderr has the bar's own sequences; only the hosts' must not be there.
	if e := errb.String(); strings.Contains(e, "]52") || strings.Contains(e, "pwned") {
		t.Errorf("host text on stderr: %q", e)
	}
}

// TestColorKeepsOnlySGR: with Color, the hosts' colours pass and the rest
// is still replaced; fleet's own colours are there either way.
func TestColorKeepsOnlySGR(t *testing.T) {
	rs := []fleet.Result{res(0, "web1", nil, "\x1b[32mgreen\x1b[0m \x1b]52;c;eA==\a\x1b[2J\n", "", at(1))}
	for _, mode := range []Escapes{Replace, Color} {
		p, out, _ := newTest(Options{Inline: true, Color: true, Total: 1, StdoutEscapes: mode})
		play(p, rs, nil, time.Second)
		o := out.String()
		want := "^[[32mgreen^[[0m ^[]52;c;eA==^G^[[2J\n"
		if mode == Color {
			want = "\x1b[32mgreen\x1b[0m ^[]52;c;eA==^G^[[2J\n"
		}
		if !strings.Contains(o, want) {
			t.Errorf("%v: output %q lacks %q", mode, o, want)
		}
		if !strings.Contains(o, "\x1b[32m\x1b[49m[\x1b[1mSUCCESS") {
			t.Errorf("%v: fleet's own colour is gone: %q", mode, o)
		}
	}
}

// TestPrintLinesClean: -P lines are cleaned per stream, an escape split
// between two writes of the host is still caught, and CR LF stays a line
// end while a lone CR is shown.
func TestPrintLinesClean(t *testing.T) {
	p, out, errb := newTest(Options{Print: true, StdoutEscapes: Replace, StderrEscapes: Color})
	wo := p.LineWriter(0, "web1", false)
	we := p.LineWriter(0, "web1", true)
	_, _ = wo.Write([]byte("a\x1b]52;c;"))
	_, _ = wo.Write([]byte("ZXZpbA==\a\r\nb\xe2\x9c"))
	_, _ = wo.Write([]byte("\x93 50%\r100%\n\x9b2J"))
	wo.Flush()
	_, _ = we.Write([]byte("\x1b[31mred\x1b[0m\x1b[2J\n"))
	we.Flush()
	p.Finish(nil, 0)
	if want := "web1: a^[]52;c;ZXZpbA==^G\r\nweb1: b✓ 50%^M100%\nweb1: \uFFFD2J\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if want := "web1: \x1b[31mred\x1b[0m^[[2J\n"; !strings.HasPrefix(errb.String(), want) {
		t.Errorf("stderr %q, want it to start with %q", errb.String(), want)
	}
}

// TestRawModeKeepsBytes: a printer not told to clean (a pipe, a file)
// prints what the hosts sent, as pssh does.
func TestRawModeKeepsBytes(t *testing.T) {
	rs := evilRun()
	p, out, _ := newTest(Options{Inline: true, Print: true, Total: len(rs)})
	w := p.LineWriter(0, "web1", false)
	_, _ = w.Write([]byte(evilOut))
	w.Flush()
	play(p, rs, nil, time.Second)
	o := out.String()
	containsAll(t, "raw output", o, "web1: "+evilOut, "[SUCCESS] web1\n"+evilOut+"Stderr: "+evilErr, evilReason)
}

func TestGatherClean(t *testing.T) {
	rs := evilRun()
	p, out, _ := newTest(Options{Gather: true, Total: len(rs), StdoutEscapes: Replace})
	play(p, rs, nil, time.Second)
	o := out.String()
	noEscape(t, "gather", o)
	containsAll(t, "gather", o,
		"web1 (exit 0)\n"+gatherRule+cleanOut+"Stderr:\n"+cleanErr,
		"web3 (unreachable: "+cleanReason+")\n",
		"we^[[2Jb4 (exit 0)\n")
}

// TestJSONEscapesControls: --json output carries no raw control at all
// (encoding/json leaves DEL and C1 as they are; appendJSON escapes them)
// and still decodes to the hosts' exact text.
func TestJSONEscapesControls(t *testing.T) {
	text := "a\x1b]52;c;x\a\x7f\u009b2J\u0085é\n"
	rs := []fleet.Result{res(0, "web1", nil, text, text, at(1))}
	p, out, _ := newTest(Options{JSON: true, Total: 1})
	play(p, rs, nil, time.Second)
	line := bytes.TrimSuffix([]byte(out.String()), []byte("\n"))
	noEscape(t, "json", string(line))
	var j JSONResult
	if err := json.Unmarshal(line, &j); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if *j.Stdout != text || *j.Stderr != text {
		t.Errorf("decoded %q, %q, want %q", *j.Stdout, *j.Stderr, text)
	}
	if !bytes.Contains(line, []byte(`\u009b2J\u0085é`)) || !bytes.Contains(line, []byte(`\u007f`)) {
		t.Errorf("not escaped as expected: %s", line)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("%d lines, want 1", n)
	}
}

func TestJSONWriter(t *testing.T) {
	var b bytes.Buffer
	in := map[string]string{"error": "x\x7f\u009b2J\u0085é"}
	if err := json.NewEncoder(JSONWriter(&b)).Encode(in); err != nil {
		t.Fatal(err)
	}
	noEscape(t, "json", strings.TrimSuffix(b.String(), "\n"))
	var out map[string]string
	if err := json.Unmarshal(b.Bytes(), &out); err != nil || out["error"] != in["error"] {
		t.Errorf("%s decodes to %q, %v", b.Bytes(), out, err)
	}
}
