package ui

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// cleanCases are hostile and ordinary host output, and what a terminal
// gets of each in Replace mode and in Color mode.
var cleanCases = []struct {
	name, in, replace, color string
}{
	{"plain", "hello world\n", "hello world\n", "hello world\n"},
	{"tab and newline", "a\tb\nc\n", "a\tb\nc\n", "a\tb\nc\n"},
	{"osc 52 bel", "x\x1b]52;c;ZXZpbA==\ay", "x^[]52;c;ZXZpbA==^Gy", "x^[]52;c;ZXZpbA==^Gy"},
	{"osc 52 st", "\x1b]52;c;ZXZpbA==\x1b\\", "^[]52;c;ZXZpbA==^[\\", "^[]52;c;ZXZpbA==^[\\"},
	{"osc 0 title", "\x1b]0;pwned\a", "^[]0;pwned^G", "^[]0;pwned^G"},
	{"csi 2J", "\x1b[2Jcleared", "^[[2Jcleared", "^[[2Jcleared"},
	{"csi 21t", "\x1b[21t", "^[[21t", "^[[21t"},
	{"csi with private marker", "\x1b[?1049h", "^[[?1049h", "^[[?1049h"},
	{"dcs", "\x1bPq#0;2;0;0;0\x1b\\", "^[Pq#0;2;0;0;0^[\\", "^[Pq#0;2;0;0;0^[\\"},
	{"apc pm sos", "\x1b_a\x1b\\\x1b^b\x1b\\\x1bXc\x1b\\", "^[_a^[\\^[^b^[\\^[Xc^[\\", "^[_a^[\\^[^b^[\\^[Xc^[\\"},
	{"c1 csi as utf-8", "\u009b2J", "^[[2J", "^[[2J"},
	{"c1 osc and st as utf-8", "\u009d52;c;x\u009c", "^[]52;c;x^[\\", "^[]52;c;x^[\\"},
	{"raw c1 byte", "a\x9b2Jb", "a\uFFFD2Jb", "a\uFFFD2Jb"},
	{"invalid utf-8", "a\xff\xfeb", "a\uFFFD\uFFFDb", "a\uFFFD\uFFFDb"},
	{"utf-8 text", "héllo ✓ 日本 🙂\n", "héllo ✓ 日本 🙂\n", "héllo ✓ 日本 🙂\n"},
	{"literal U+FFFD", "\uFFFD", "\uFFFD", "\uFFFD"},
	{"sgr", "\x1b[1;31mred\x1b[0m \x1b[m", "^[[1;31mred^[[0m ^[[m", "\x1b[1;31mred\x1b[0m \x1b[m"},
	{"sgr truecolor", "\x1b[38:2::1:2:3mx", "^[[38:2::1:2:3mx", "\x1b[38:2::1:2:3mx"},
	{"sgr-like but not", "\x1b[1;31Hx\x1b[31", "^[[1;31Hx^[[31", "^[[1;31Hx^[[31"},
	{"crlf", "a\r\nb\r\n", "a\r\nb\r\n", "a\r\nb\r\n"},
	{"lone cr", "50%\r100%\r", "50%^M100%^M", "50%^M100%^M"},
	{"cr cr lf", "a\r\r\n", "a^M\r\n", "a^M\r\n"},
	{"c0 and del", "\x00\a\b\v\f\x7f", "^@^G^H^K^L^?", "^@^G^H^K^L^?"},
	{"lone esc at end", "x\x1b", "x^[", "x^["},
}

func TestCleanTable(t *testing.T) {
	for _, tc := range cleanCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CleanString(tc.in, Replace); got != tc.replace {
				t.Errorf("replace: %q -> %q, want %q", tc.in, got, tc.replace)
			}
			if got := CleanString(tc.in, Color); got != tc.color {
				t.Errorf("color: %q -> %q, want %q", tc.in, got, tc.color)
			}
			if got := CleanString(tc.in, Raw); got != tc.in {
				t.Errorf("raw changed %q to %q", tc.in, got)
			}
		})
	}
}

// TestCleanWriterSplit writes every case in two pieces, cut at every
// offset, and in single bytes: a sequence, a character or a CR LF split
// between writes must come out as if it came in one.
func TestCleanWriterSplit(t *testing.T) {
	written := func(mode Escapes, pieces ...string) string {
		var out bytes.Buffer
		w := NewCleanWriter(&out, mode)
		for _, p := range pieces {
			if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, tc := range cleanCases {
		var bytewise []string
		for i := range len(tc.in) {
			bytewise = append(bytewise, tc.in[i:i+1])
		}
		for mode, want := range map[Escapes]string{Replace: tc.replace, Color: tc.color} {
			for cut := 0; cut <= len(tc.in); cut++ {
				if got := written(mode, tc.in[:cut], tc.in[cut:]); got != want {
					t.Errorf("%s %v cut at %d: %q, want %q", tc.name, mode, cut, got, want)
				}
			}
			if got := written(mode, bytewise...); got != want {
				t.Errorf("%s %v byte by byte: %q, want %q", tc.name, mode, got, want)
			}
		}
	}
}

// TestCleanWriterHoldsLittle: what the writer holds back between writes is
// bounded, so an ESC [ followed by endless digits cannot make it buffer.
func TestCleanWriterHoldsLittle(t *testing.T) {
	var out bytes.Buffer
	w := NewCleanWriter(&out, Color)
	_, _ = w.Write([]byte("\x1b["))
	for i := 0; i < 1000; i++ {
		_, _ = w.Write([]byte("1"))
		if len(w.rest) > maxSGR {
			t.Fatalf("holding %d bytes", len(w.rest))
		}
	}
	if !strings.HasPrefix(out.String(), "^[[111") {
		t.Errorf("a long ESC [ was not shown replaced: %.20q", out.String())
	}
}

func TestCleanWriterRawPassesThrough(t *testing.T) {
	var out bytes.Buffer
	w := NewCleanWriter(&out, Raw)
	in := "\x1b]52;c;ZXZpbA==\a\r\x9b"
	_, _ = w.Write([]byte(in))
	_ = w.Flush()
	if out.String() != in {
		t.Errorf("raw: %q", out.String())
	}
}

func TestParseEscapes(t *testing.T) {
	for in, want := range map[string]Escapes{"replace": Replace, "color": Color, "colour": Color, "raw": Raw} {
		if got, err := ParseEscapes(in); err != nil || got != want {
			t.Errorf("ParseEscapes(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseEscapes("strip"); err == nil {
		t.Error("ParseEscapes(strip) did not fail")
	}
	if OnTerminal(false, Color) != Raw || OnTerminal(true, Color) != Color {
		t.Error("OnTerminal")
	}
}

// checkSafe fails when out holds anything that can drive a terminal:
// a C0 control other than tab, newline and the CR of CR LF, DEL, a raw
// byte that is not valid UTF-8, a C1 control, or (keepSGR) an ESC that
// does not start an SGR sequence.
func checkSafe(t *testing.T, in, out []byte, keepSGR bool) {
	t.Helper()
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRune(out[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			t.Fatalf("%q -> %q: invalid UTF-8 at %d", in, out, i)
		case r >= 0x80 && r <= 0x9f, r == 0x7f:
			t.Fatalf("%q -> %q: control %U at %d", in, out, r, i)
		case r == '\r' && (i+1 >= len(out) || out[i+1] != '\n'):
			t.Fatalf("%q -> %q: lone CR at %d", in, out, i)
		case r == 0x1b:
			if !keepSGR || sgrLen(out[i:]) <= 0 {
				t.Fatalf("%q -> %q: ESC that is no SGR at %d", in, out, i)
			}
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r':
			t.Fatalf("%q -> %q: control %U at %d", in, out, r, i)
		}
		i += size
	}
}

// FuzzClean: whatever a host prints, and however it is cut into writes,
// nothing that can drive the terminal comes out, and text without control
// characters comes out unchanged.
func FuzzClean(f *testing.F) {
	for _, tc := range cleanCases {
		f.Add([]byte(tc.in), uint8(len(tc.in)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		for _, mode := range []Escapes{Replace, Color} {
			whole := AppendClean(nil, in, mode)
			checkSafe(t, in, whole, mode == Color)
			c := min(int(cut), len(in))
			var out bytes.Buffer
			w := NewCleanWriter(&out, mode)
			_, _ = w.Write(in[:c])
			_, _ = w.Write(in[c:])
			_ = w.Flush()
			if !bytes.Equal(out.Bytes(), whole) {
				t.Fatalf("%v: %q in two writes cut at %d: %q, in one: %q", mode, in, c, out.Bytes(), whole)
			}
			if utf8.Valid(in) && isPlain(strings.Map(func(r rune) rune {
				if r >= 0x80 && r > 0x9f {
					return 'x'
				}
				return r
			}, string(in))) && !bytes.Equal(whole, in) {
				t.Fatalf("%v changed plain text %q to %q", mode, in, whole)
			}
		}
	})
}
