package ui

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestLineWriterPrefixesEveryLine(t *testing.T) {
	p, out, errb := newTest(Options{Print: true})
	w := p.LineWriter(0, "a", false)
	e := p.LineWriter(0, "a", true)

	steps := []struct {
		w       interface{ Write([]byte) (int, error) }
		write   string
		flush   bool
		wantOut string // all of Stdout so far
	}{
		// pssh would print "a: one\ntwo\n": the second line unlabelled.
		{w, "one\ntwo\nth", false, "a: one\na: two\n"},
		{w, "r", false, "a: one\na: two\n"}, // still partial: held
		{w, "ee\n\n", false, "a: one\na: two\na: three\na: \n"},
		{w, "last", true, "a: one\na: two\na: three\na: \na: last\n"},
	}
	for i, s := range steps {
		n, err := s.w.Write([]byte(s.write))
		if n != len(s.write) || err != nil {
			t.Fatalf("step %d: Write = %d, %v", i, n, err)
		}
		if s.flush {
			w.Flush()
			w.Flush() // nothing left: prints nothing
		}
		if got := out.String(); got != s.wantOut {
			t.Errorf("step %d: stdout = %q, want %q", i, got, s.wantOut)
		}
	}
	_, _ = e.Write([]byte("oops\npart"))
	e.Flush()
	if got, want := errb.String(), "a: oops\na: part\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	p.Finish(nil, 0)
}

func TestLineWriterLongLines(t *testing.T) {
	long := strings.Repeat("x", maxLine)
	tests := []struct {
		name   string
		writes []string
		want   []int // lengths of the printed lines, without prefix
	}{
		{"exactly max", []string{long + "\n"}, []int{maxLine}},
		{"exactly max in pieces", []string{long[:100], long[100:], "\n"}, []int{maxLine}},
		{"one over", []string{long + "y\n"}, []int{maxLine, 1}},
		{"two and a half", []string{long + long + long[:10] + "\nz\n"}, []int{maxLine, maxLine, 10, 1}},
		{"huge partial held in pieces", []string{long + long[:5]}, []int{maxLine}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, out, _ := newTest(Options{Print: true})
			w := p.LineWriter(1, "h", false)
			for _, s := range tt.writes {
				_, _ = w.Write([]byte(s))
			}
			var got []int
			for _, line := range strings.SplitAfter(out.String(), "\n") {
				if line == "" {
					continue
				}
				if !strings.HasPrefix(line, "h: ") || !strings.HasSuffix(line, "\n") {
					t.Fatalf("line %.20q... lacks prefix or newline", line)
				}
				got = append(got, len(line)-len("h: \n"))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("line lengths %v, want %v", got, tt.want)
			}
			p.Finish(nil, 0)
		})
	}
}

// TestLineWriterInterleaving writes many hosts' lines from as many
// goroutines, in random chunks that cut lines anywhere; every printed line
// must be whole and in its host's order. Run it with -race.
func TestLineWriterInterleaving(t *testing.T) {
	const hosts, lines = 8, 300
	for _, terminal := range []bool{false, true} {
		p, out, errb := newTest(Options{Print: true, Terminal: terminal, Total: hosts})
		var wg sync.WaitGroup
		for h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				label := "host" + strconv.Itoa(h)
				w := p.LineWriter(h, label, h%2 == 1)
				var stream bytes.Buffer
				for i := range lines {
					fmt.Fprintf(&stream, "%s line %d %s\n", label, i, strings.Repeat("=", i%37))
				}
				rng := rand.New(rand.NewPCG(uint64(h), 1))
				b := stream.Bytes()
				for len(b) > 0 {
					n := min(len(b), 1+rng.IntN(40))
					_, _ = w.Write(b[:n])
					b = b[n:]
				}
				w.Flush()
			}()
		}
		wg.Wait()
		p.Finish(nil, 0)

		next := make(map[string]int)
		for _, buf := range []*syncBuf{out, errb} {
			// The bar's \r frames are on the same stream as stderr lines on a
			// terminal; they are cleared before each print, so a line is
			// whatever follows the last \r.
			// Stdout lines redraw the bar on stderr too (both are the same
			// terminal in real life), so stderr has long runs without \n.
			sc := bufio.NewScanner(strings.NewReader(buf.String()))
			sc.Buffer(nil, 64<<20)
			for sc.Scan() {
				line := sc.Text()
				if i := strings.LastIndexByte(line, '\r'); i >= 0 {
					line = strings.TrimPrefix(line[i+1:], "\x1b[K")
				}
				if strings.Contains(line, "hosts:") || line == "" {
					continue // the summary
				}
				label, rest, ok := strings.Cut(line, ": ")
				if !ok {
					t.Fatalf("line without prefix: %q", line)
				}
				want := fmt.Sprintf("%s line %d %s", label, next[label], strings.Repeat("=", next[label]%37))
				if rest != want {
					t.Fatalf("terminal=%v: got %q, want %q", terminal, line, label+": "+want)
				}
				next[label]++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
		}
		for h := range hosts {
			if n := next["host"+strconv.Itoa(h)]; n != lines {
				t.Errorf("terminal=%v: host%d printed %d lines, want %d", terminal, h, n, lines)
			}
		}
	}
}

func TestLineWriterAboveBar(t *testing.T) {
	p, out, errb := newTest(Options{Print: true, Terminal: true, Total: 3})
	if !eventually(func() bool { return strings.Contains(errb.String(), "run  ok 0") }) {
		t.Fatalf("no first frame: %q", errb.String())
	}
	w := p.LineWriter(0, "a", false)
	_, _ = w.Write([]byte("hello\n"))
	e := p.LineWriter(0, "a", true)
	_, _ = e.Write([]byte("warn\n"))
	p.Finish(nil, 0)
	if got := out.String(); got != "a: hello\n" {
		t.Errorf("stdout = %q", got)
	}
	// On stderr the bar is erased ("\r\x1b[K") right before the line and
	// drawn again right after it.
	s := errb.String()
	i := strings.Index(s, "a: warn\n")
	if i < 0 {
		t.Fatalf("stderr lacks the line: %q", s)
	}
	if !strings.HasSuffix(s[:i], "\r\x1b[K") {
		t.Errorf("bar not cleared before the line: %q", s[:i])
	}
	if after := s[i+len("a: warn\n"):]; !strings.HasPrefix(strings.TrimLeft(after, "\r "), "run  ok 0  failed 0  running 0") {
		t.Errorf("bar not drawn again after the line: %q", after)
	}
}

func TestNoticeGoesToStderr(t *testing.T) {
	var out, errb bytes.Buffer
	p := New(Options{Stdout: &out, Stderr: &errb, Total: 1})
	p.Notice("fleet: interrupted")
	p.Finish(nil, 0)
	if out.Len() != 0 || !strings.HasPrefix(errb.String(), "fleet: interrupted\n") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
}
