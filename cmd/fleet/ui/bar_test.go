package ui

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// TestBarLineFits: at every width from 10 to 200 columns the progress line
// takes at most cols-1 cells (so the terminal never wraps it), with and
// without names, for small and large runs; wide enough, it has the bar.
func TestBarLineFits(t *testing.T) {
	for _, total := range []int{3, 30, 5000} {
		b := newBarLine(total)
		b.add(total / 3)
		for _, c := range []barCounts{
			{verb: "run", ok: total / 3, failed: 0, running: 7, ended: total / 3, total: total},
			{verb: "copy", ok: 12345, failed: 678, running: 4, ended: total - 4, total: total, sent: 1 << 30, totalBytes: 3 << 30,
				waiting: []string{"h017", "root@h203.example.com:2222", "h3", "h4"}},
		} {
			for cols := 10; cols <= 200; cols++ {
				line := b.line(cols, c)
				if w := cellWidth(line); w > cols-1 {
					t.Fatalf("total %d, %d columns: line is %d cells: %q", total, cols, w, line)
				}
				if strings.ContainsAny(line, "\r\n") {
					t.Fatalf("%d columns: line has a line break: %q", cols, line)
				}
				if cols >= 100 && !strings.Contains(line, "[") {
					t.Errorf("total %d, %d columns: no bar: %q", total, cols, line)
				}
			}
		}
	}
}

// TestBarLineNames: when no host waits to start and few run, the line
// names them, oldest first, as many as fit, and counts the rest.
func TestBarLineNames(t *testing.T) {
	b := newBarLine(30)
	b.add(25)
	c := barCounts{verb: "run", ok: 25, running: 5, ended: 25, total: 30,
		waiting: []string{"h017", "h203", "h204", "h205", "h206"}}
	if line := b.line(200, c); !strings.Contains(line, "waiting: h017, h203, h204, h205, h206 ") {
		t.Errorf("200 columns: %q", line)
	}
	line := b.line(80, c)
	if !strings.Contains(line, "waiting: h017, h203") || !strings.Contains(line, " +") || !strings.Contains(line, "[") {
		t.Errorf("80 columns: want the first names, a +N and the bar: %q", line)
	}
	if line := b.line(40, c); line != "run ok 25 failed 0 25/30 running 5" {
		t.Errorf("40 columns: %q", line)
	}
	if line := b.line(30, c); line != "run ok 25 failed 0 25/30" {
		t.Errorf("30 columns: %q", line)
	}
}

// TestPrinterNamesWaitingHosts: the Printer names the running hosts once
// every host has started and few remain; before that it counts them.
func TestPrinterNamesWaitingHosts(t *testing.T) {
	p, _, errb := newTest(Options{Terminal: true, Total: 20, Width: func() int { return 160 }})
	rs := make([]fleet.Result, 20)
	for i := range rs {
		rs[i] = res(i, fmt.Sprintf("h%03d", i), nil, "", "", at(i))
	}
	send(p, fleet.HostStarted, rs[:19])
	for i := 2; i < 19; i++ {
		send(p, fleet.HostDone, rs, i)
	}
	if !eventually(func() bool { return strings.Contains(errb.String(), "running 2") }) {
		t.Fatalf("one host has not started: the line should count: %q", errb.String())
	}
	if strings.Contains(errb.String(), "waiting:") {
		t.Errorf("names while a host waits to start: %q", errb.String())
	}
	send(p, fleet.HostStarted, rs, 19)
	if !eventually(func() bool { return strings.Contains(errb.String(), "waiting: h000, h001, h019 ") }) {
		t.Fatalf("no names: %q", errb.String())
	}
	play(p, rs, nil, time.Second)
}

// TestBarFollowsWidth: every frame fits the width the terminal has when
// it is drawn, before and after a resize, and no frame leaves a row: each
// starts with \r and ends with erase-to-end-of-line, with no newline.
func TestBarFollowsWidth(t *testing.T) {
	var cols atomic.Int32
	cols.Store(160)
	p, _, errb := newTest(Options{Terminal: true, Total: 30, Verb: "copy", Width: func() int { return int(cols.Load()) }})
	if !eventually(func() bool { return strings.Contains(errb.String(), "copy") }) {
		t.Fatal("no frame")
	}
	for _, w := range []int{100, 60, 80} {
		cols.Store(int32(w))
		want := w
		if !eventually(func() bool { return lastFrameFits(errb.String(), want) }) {
			t.Fatalf("after a resize to %d: %q", w, errb.String())
		}
	}
	p.Finish(nil, time.Second)
	for _, f := range strings.Split(errb.String(), "\r") {
		if f == "" || strings.HasPrefix(f, "\x1b[K") {
			continue // an erase
		}
		if !strings.HasSuffix(f, "\x1b[K") && !strings.HasSuffix(f, "(1s)\n") {
			t.Errorf("frame %q does not end with an erase", f)
		}
		if strings.Contains(strings.TrimSuffix(f, "\n"), "\n") {
			t.Errorf("frame %q holds a newline", f)
		}
		if w := cellWidth(strings.TrimSuffix(f, "\x1b[K")); w > 159 {
			t.Errorf("frame %q is %d cells", f, w)
		}
	}
}

// lastFrameFits: the last frame drawn is at most cols-1 cells and, for
// the widths tested, at least cols-20: it uses the width it has.
func lastFrameFits(s string, cols int) bool {
	i := strings.LastIndex(s, "\r")
	if i < 0 {
		return false
	}
	w := cellWidth(strings.TrimSuffix(s[i+1:], "\x1b[K"))
	return w <= cols-1 && w >= cols-20
}
