package ui

import (
	"fmt"
	"io"
	"sync"
	"unicode/utf8"
)

// Escapes says what fleet does with the control characters in text that
// came from a host (its output, a failure reason, a log) when it prints
// that text. A host must not be able to drive the terminal of the person
// running fleet: OSC 52 sets their clipboard, OSC 0 the window title,
// CSI 2J clears the screen, CSI 21t makes some terminals type the window
// title back as if it were input.
type Escapes int

// The modes. Raw is the zero value, so an Options or a writer nobody
// configured prints bytes as they came, as before.
const (
	// Raw prints the bytes as they came, as pssh does. It is what fleet
	// does when a stream is not a terminal (a pipe, a file), and always
	// for -o/-e files and the run record.
	Raw Escapes = iota
	// Replace shows every control character except tab and newline in a
	// visible, harmless form (see AppendClean).
	Replace
	// Color is Replace, except that SGR sequences (ESC [ digits ; : m,
	// colours and bold) pass, as less -R lets them.
	Color
)

// String is the mode's --escapes name.
func (e Escapes) String() string {
	switch e {
	case Replace:
		return "replace"
	case Color:
		return "color"
	}
	return "raw"
}

// ParseEscapes reads an --escapes value: replace, color or raw.
func ParseEscapes(s string) (Escapes, error) {
	switch s {
	case "replace", "":
		return Replace, nil
	case "color", "colour":
		return Color, nil
	case "raw":
		return Raw, nil
	}
	return Raw, fmt.Errorf("%q is not replace, color or raw", s)
}

// OnTerminal is the mode to use for a stream: mode when it is a terminal,
// Raw when it is not (a pipe or a file keeps the hosts' bytes for grep, jq
// and scripts written for pssh).
func OnTerminal(terminal bool, mode Escapes) Escapes {
	if !terminal {
		return Raw
	}
	return mode
}

// maxSGR bounds how long an SGR sequence may be for Color to keep it; a
// longer ESC [ ... is shown replaced. It also bounds what a CleanWriter
// holds back between writes.
const maxSGR = 64

// AppendClean appends src to dst with mode applied and returns dst.
//
// Replace and Color show each control character in caret notation, as
// cat -v, less and vim do: ESC as ^[, BEL as ^G, a lone CR as ^M, DEL as
// ^?. A C1 control (U+0080-U+009F) is by definition (ECMA-48) the same as
// ESC and a character: U+009B, the 8-bit CSI, shows as ^[[ like the 7-bit
// one. Only the control characters are replaced; the printable rest of an
// escape sequence stays, so OSC 52 shows as ^[]52;c;ZXZpbA==^G. That shows
// what the host tried, keeps the text around it, and needs no parser that
// an unterminated sequence could send swallowing the rest of the output.
//
// Caret notation is ASCII, two columns wide and tells the characters
// apart; U+FFFD would not say which control it was, and \x1b reads as
// text that the host could have printed itself just as well as ^[.
//
// Tab, newline and CR LF pass (a pty's line ends, -x -tt). Bytes that are
// not valid UTF-8 become U+FFFD each, so no raw byte 0x80-0x9F ever
// reaches the terminal, where an 8-bit terminal would take it for a C1
// control. Raw appends src unchanged.
func AppendClean(dst, src []byte, mode Escapes) []byte {
	out, _ := appendClean(dst, src, mode, true)
	return out
}

// CleanString is AppendClean for a string.
func CleanString(s string, mode Escapes) string {
	if mode == Raw || isPlain(s) {
		return s
	}
	return string(AppendClean(nil, []byte(s), mode))
}

// isPlain reports whether s has nothing AppendClean would change.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n') || c >= 0x7f {
			return false
		}
	}
	return true
}

// appendClean does the work of AppendClean and CleanWriter. When final is
// false, a construct that the next bytes could complete (a CR that may be
// half of CR LF, an incomplete UTF-8 character, an ESC [ that may become
// an SGR) is not decided: it is returned as rest, to be put before the
// next write. When final is true everything is decided and rest is empty.
func appendClean(dst, src []byte, mode Escapes, final bool) (out, rest []byte) {
	if mode == Raw {
		return append(dst, src...), nil
	}
	i := 0
	for i < len(src) {
		// The common case: a run of printable ASCII, tabs and newlines.
		j := i
		for j < len(src) && (src[j] >= 0x20 && src[j] < 0x7f || src[j] == '\t' || src[j] == '\n') {
			j++
		}
		dst = append(dst, src[i:j]...)
		if i = j; i == len(src) {
			break
		}
		c := src[i]
		switch {
		case c == '\r':
			if i+1 == len(src) && !final {
				return dst, src[i:]
			}
			if i+1 < len(src) && src[i+1] == '\n' {
				dst = append(dst, '\r', '\n')
				i += 2
				continue
			}
			dst = append(dst, '^', 'M')
			i++
		case c == 0x1b && mode == Color:
			n := sgrLen(src[i:])
			if n < 0 && !final {
				return dst, src[i:]
			}
			if n > 0 {
				dst = append(dst, src[i:i+n]...)
				i += n
				continue
			}
			dst = append(dst, '^', '[')
			i++
		case c < 0x20:
			dst = append(dst, '^', c+0x40)
			i++
		case c == 0x7f:
			dst = append(dst, '^', '?')
			i++
		default: // c >= 0x80
			if !final && !utf8.FullRune(src[i:]) {
				return dst, src[i:]
			}
			r, size := utf8.DecodeRune(src[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, "\uFFFD"...)
			case r >= 0x80 && r <= 0x9f:
				dst = append(dst, '^', '[', byte(r-0x40))
			default:
				dst = append(dst, src[i:i+size]...)
			}
			i += size
		}
	}
	return dst, nil
}

// sgrLen is the length of the SGR sequence b starts with (b[0] is ESC):
// > 0 a complete one, 0 none, < 0 b ends before it could tell.
func sgrLen(b []byte) int {
	if len(b) < 2 {
		return -1
	}
	if b[1] != '[' {
		return 0
	}
	for j := 2; j < len(b) && j < maxSGR; j++ {
		switch c := b[j]; {
		case c >= '0' && c <= '9' || c == ';' || c == ':':
		case c == 'm':
			return j + 1
		default:
			return 0
		}
	}
	if len(b) >= maxSGR {
		return 0
	}
	return -1
}

// CleanWriter applies a mode to a stream written in pieces. It keeps state
// across writes, so a CR LF, a UTF-8 character or an SGR sequence split
// between two writes is handled as if it came in one. Flush decides what
// is held back at the end of the stream. It is safe for concurrent use.
type CleanWriter struct {
	w    io.Writer
	mode Escapes

	mu   sync.Mutex
	rest []byte // undecided bytes of the last write, at most maxSGR
	buf  []byte
}

// NewCleanWriter returns a writer that writes to w with mode applied.
func NewCleanWriter(w io.Writer, mode Escapes) *CleanWriter {
	return &CleanWriter{w: w, mode: mode}
}

// Write cleans p and writes it, holding back at most a few bytes that the
// next write may complete. It reports len(p) written unless w fails.
func (c *CleanWriter) Write(p []byte) (int, error) {
	if c.mode == Raw {
		return c.w.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	src := p
	if len(c.rest) > 0 {
		src = append(c.rest, p...)
	}
	out, rest := appendClean(c.buf[:0], src, c.mode, false)
	c.rest = append(c.rest[:0:0], rest...)
	c.buf = out
	if len(out) > 0 {
		if _, err := c.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what the writer held back, decided as the end of the
// stream: a trailing CR as ^M, an incomplete character as U+FFFD.
func (c *CleanWriter) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rest) == 0 {
		return nil
	}
	out, _ := appendClean(nil, c.rest, c.mode, true)
	c.rest = nil
	_, err := c.w.Write(out)
	return err
}
