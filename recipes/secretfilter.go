package recipes

import (
	"io"
	"strings"
)

// secretFilter passes a step's output on with the values of secret
// variables replaced by <secret>. It holds back the last few bytes of what
// it was given, fewer than the longest secret, so that a secret split
// between two writes is still found; flush writes them at the step's end.
type secretFilter struct {
	w    io.Writer
	rep  *strings.Replacer
	hold int
	buf  []byte
}

func newSecretFilter(w io.Writer, secrets []string) *secretFilter {
	f := &secretFilter{w: w, rep: secretReplacer(secrets)}
	for _, s := range secrets {
		f.hold = max(f.hold, len(s)-1)
	}
	return f
}

// secretReplacer replaces each of values (but "") with the mask, the
// longest first.
func secretReplacer(values []string) *strings.Replacer {
	var pairs []string
	for _, v := range longestFirst(values) {
		pairs = append(pairs, v, secretMask)
	}
	return strings.NewReplacer(pairs...)
}

func (f *secretFilter) Write(p []byte) (int, error) {
	f.buf = append(f.buf, p...)
	clean := f.rep.Replace(string(f.buf))
	// Every match that starts before the held tail ends inside what was
	// seen, so it has been replaced.
	n := len(clean) - f.hold
	if n <= 0 {
		f.buf = []byte(clean)
		return len(p), nil
	}
	f.buf = append(f.buf[:0], clean[n:]...)
	if _, err := io.WriteString(f.w, clean[:n]); err != nil {
		return len(p), err
	}
	return len(p), nil
}

// flush writes what is held back.
func (f *secretFilter) flush() {
	if len(f.buf) > 0 {
		_, _ = io.WriteString(f.w, f.rep.Replace(string(f.buf)))
		f.buf = f.buf[:0]
	}
}
