package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

// writeChunks writes data to c in pieces of the given size, as an SSH
// channel would hand it over.
func writeChunks(c *capture, data []byte, chunk int) {
	for len(data) > 0 {
		k := min(chunk, len(data))
		c.Write(data[:k])
		data = data[k:]
	}
}

func testMark(cut int64, starved bool) string {
	return fmt.Sprintf("[cut %d starved=%v]", cut, starved)
}

func TestCaptureKeepsHeadAndTail(t *testing.T) {
	var data []byte
	for i := 0; len(data) < 1<<20; i++ {
		data = fmt.Appendf(data, "line %d\n", i)
	}
	for _, chunk := range []int{1, 7, 4096, 1 << 20} {
		for _, limit := range []int64{64 << 10, 100_001} {
			c := newCapture(limit, newOutputBudget(0), true)
			writeChunks(c, data, chunk)
			head, tail := limit-limit/2, limit/2
			cut := int64(len(data)) - limit
			want := string(data[:head]) + "\n" + testMark(cut, false) + "\n" + string(data[int64(len(data))-tail:])
			if data[head-1] == '\n' {
				want = string(data[:head]) + testMark(cut, false) + "\n" + string(data[int64(len(data))-tail:])
			}
			if got := string(c.bytes(testMark)); got != want || c.cut() != cut {
				t.Errorf("chunk %d limit %d: kept %d bytes, cut %d; want %d, %d\n%.80q...", chunk, limit, len(got), c.cut(), len(want), cut, got)
			}
			if *c.sha256() != sha256.Sum256(data) {
				t.Errorf("chunk %d limit %d: the hash is not the whole stream's", chunk, limit)
			}
		}
	}
}

// Output within the limit is kept whole, with no mark, whether it ends in
// the head or runs into the tail.
func TestCaptureKeepsSmallOutputWhole(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 40_000, 64 << 10} {
		data := bytes.Repeat([]byte("abcdefg\n"), n/8)
		c := newCapture(64<<10, newOutputBudget(0), false)
		writeChunks(c, data, 1000)
		if got := c.bytes(testMark); !bytes.Equal(got, data) || c.cut() != 0 || c.sha256() != nil {
			t.Errorf("%d bytes: kept %d, cut %d", len(data), len(got), c.cut())
		}
	}
}

// Hosts share the total: once it is used up, a host keeps its floor, its
// mark says the total was the cause, and memory taken never passes the
// total and the floors.
func TestCaptureSharesTheTotal(t *testing.T) {
	const limit, total, hosts = 1 << 20, 3 << 20, 10
	budget := newOutputBudget(total)
	data := bytes.Repeat([]byte("0123456789abcdef"), 2<<20/16) // 2 MiB: past the limit
	var held int64
	for i := 0; i < hosts; i++ {
		c := newCapture(limit, budget, false)
		writeChunks(c, data, 32<<10)
		held += int64(cap(c.head) + len(c.tail))
		got := c.bytes(testMark)
		switch {
		case i < 3: // three hosts' full limits fit in the total
			if c.starved || c.cut() != int64(len(data))-limit {
				t.Errorf("host %d: starved %v, cut %d", i, c.starved, c.cut())
			}
		case i >= 4: // the total is used up: the floor only
			if !c.starved || len(c.head) != captureFloor || !strings.Contains(string(got), "starved=true") {
				t.Errorf("host %d: starved %v, head %d, kept %q...", i, c.starved, len(c.head), got[:min(len(got), 40)])
			}
		}
	}
	if held > total+hosts*captureFloor {
		t.Errorf("captures hold %d bytes, past the total %d and floors %d", held, total, hosts*captureFloor)
	}
	if left := budget.left.Load(); left < 0 {
		t.Errorf("budget went below zero: %d", left)
	}
}

func TestCutMark(t *testing.T) {
	b := newOutputBudget(256 << 20)
	for _, tc := range []struct {
		log     string
		logCut  bool
		starved bool
		want    string
	}{
		{"/s/runs/x/hosts/a.log", false, false, "[fleet: 47.7M of stdout cut here (--max-output 1M); all of it is in /s/runs/x/hosts/a.log]"},
		{"/s/runs/x/hosts/a.log", true, false, "[fleet: 47.7M of stdout cut here (--max-output 1M); /s/runs/x/hosts/a.log has more of it, up to --max-log]"},
		{"", false, true, "[fleet: 47.7M of stdout cut here (--max-output 1M; all hosts' --max-output-total 256M was used up); no run record has the rest]"},
	} {
		if got := cutMark("stdout", 1<<20, b, tc.log, tc.logCut)(50_000_000, tc.starved); got != tc.want {
			t.Errorf("mark\n got %s\nwant %s", got, tc.want)
		}
	}
}

// Many hosts with small outputs are charged what they hold, about: 100
// hosts keeping 10,000 bytes each fit a 2 MiB total, whole.
func TestCaptureChargesWhatItHolds(t *testing.T) {
	budget := newOutputBudget(2 << 20)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for i := 0; i < 100; i++ {
		c := newCapture(1<<20, budget, false)
		writeChunks(c, data, 512)
		if got := c.bytes(testMark); !bytes.Equal(got, data) || c.starved {
			t.Fatalf("host %d: kept %d of %d bytes, starved %v; %d left of the total", i, len(got), len(data), c.starved, budget.left.Load())
		}
	}
}

// --max-output 0 keeps everything, within the total; with the total 0 too,
// everything, as fleet did before there were bounds.
func TestCaptureWithoutLimit(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	c := newCapture(0, newOutputBudget(0), false)
	writeChunks(c, data, 32<<10)
	if got := c.bytes(testMark); !bytes.Equal(got, data) || c.cut() != 0 {
		t.Errorf("no limit: kept %d of %d bytes", len(got), len(data))
	}
	c = newCapture(0, newOutputBudget(1<<20), false)
	writeChunks(c, data, 32<<10)
	if got := c.bytes(testMark); len(got) > 1<<20+captureFloor+200 || c.cut() < int64(len(data))-1<<20-captureFloor || !c.starved {
		t.Errorf("no per-host limit, total 1 MiB: kept %d bytes, cut %d, starved %v", len(got), c.cut(), c.starved)
	}
}
