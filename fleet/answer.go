package fleet

import "strings"

// answer holds a protocol command's output (a probe's, a script's stderr),
// bounded: a host that prints more than a protocol answer can be costs
// fleet at most its last maxAnswer bytes, which hold the answer (parsed
// from the end) and the last words of a failure.
type answer struct {
	b   []byte
	cut bool // older bytes were dropped
}

// maxAnswer bounds an answer; StderrKeep is what an error keeps anyway.
const maxAnswer = StderrKeep

// Write keeps the last maxAnswer bytes; it never fails.
func (a *answer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= maxAnswer {
		a.b, a.cut = append(a.b[:0], p[len(p)-maxAnswer:]...), true
		return n, nil
	}
	if over := len(a.b) + len(p) - maxAnswer; over > 0 {
		a.b, a.cut = append(a.b[:0], a.b[over:]...), true
	}
	a.b = append(a.b, p...)
	return n, nil
}

// String is what was kept, from the start of a line when older bytes were
// dropped.
func (a *answer) String() string {
	s := string(a.b)
	if a.cut {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}
