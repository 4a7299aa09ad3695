package main

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"math"
	"sync/atomic"
)

// Output kept in memory for -i, --inline-stdout, --gather and --json is
// bounded twice: each stream of each host keeps at most --max-output bytes
// (its head and its tail, around a mark saying how much was cut and where
// the rest is), and all hosts together at most --max-output-total. Every
// result is held until the run ends (the terminal listing and --gather print
// then), so without the second bound memory would grow with the host count.
// The whole output still streams to the host's log in the run record, and
// to the -o/-e files.
const (
	defaultMaxOutput   = 1 << 20
	defaultOutputTotal = 256 << 20
	// captureFloor is what each stream of each host may keep even when the
	// total is used up, so that every host shows how its output began:
	// 5,000 hosts' two streams take 40 MiB of it.
	captureFloor = 4 << 10
)

// outputBudget is the memory all hosts' kept output may still take.
type outputBudget struct {
	total int64 // as given, for the mark
	left  atomic.Int64
}

// newOutputBudget makes a budget of n bytes; 0 means no bound.
func newOutputBudget(n int64) *outputBudget {
	b := &outputBudget{total: n}
	if n <= 0 {
		n = math.MaxInt64
	}
	b.left.Store(n)
	return b
}

// take takes up to n bytes of the budget and returns how many it got.
func (b *outputBudget) take(n int64) int64 {
	for {
		left := b.left.Load()
		got := min(n, left)
		if got <= 0 {
			return 0
		}
		if b.left.CompareAndSwap(left, left-got) {
			return got
		}
	}
}

// capture keeps one stream of one host within its limit: the first half of
// the limit as it comes, then the last half in a ring, so that what a long
// output ends with (the error, the summary) is kept too. It hashes the
// whole stream when --gather needs to compare hosts.
type capture struct {
	limit    int64 // --max-output
	budget   *outputBudget
	allowed  int64 // bytes this capture may hold: the floor and what it took
	starved  bool  // the budget gave less than the limit asked for
	head     []byte
	headMax  int64
	headDone bool
	tail     []byte // a ring, made once the head is full
	tailN    int64  // bytes ever written into the ring
	total    int64  // bytes of the stream
	sum      hash.Hash
}

// newCapture keeps at most limit bytes (0: no limit) within budget, and
// hashes the whole stream when hashed.
func newCapture(limit int64, budget *outputBudget, hashed bool) *capture {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	c := &capture{limit: limit, budget: budget, headMax: limit - limit/2, allowed: min(limit, captureFloor)}
	if hashed {
		c.sum = sha256.New()
	}
	return c
}

// reserve raises the allowance to n bytes, as far as the limit and the
// budget let it, and returns the allowance. The head grows by doubling, so
// a stream takes from the budget a few dozen times at most.
func (c *capture) reserve(n int64) int64 {
	n = min(n, c.limit)
	if n > c.allowed {
		c.allowed += c.budget.take(n - c.allowed)
		if c.allowed < n {
			c.starved = true
		}
	}
	return c.allowed
}

// Write keeps what fits and counts the rest; it never fails, since a
// remote command must not fail for printing much.
func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	if c.sum != nil {
		c.sum.Write(p)
	}
	c.total += int64(n)
	if !c.headDone {
		k := min(int64(len(p)), c.headMax-int64(len(c.head)))
		if need := int64(len(c.head)) + k; need > int64(cap(c.head)) {
			// Grow by doubling, as append would, but within the limit and
			// the allowance: a cap the allowance does not cover would be
			// memory the budget does not count.
			newCap := min(max(2*int64(cap(c.head)), need, 512), c.headMax)
			newCap = min(newCap, c.reserve(newCap))
			k = min(k, newCap-int64(len(c.head)))
			h := make([]byte, len(c.head), newCap)
			copy(h, c.head)
			c.head = h
		}
		c.head = append(c.head, p[:k]...)
		p = p[k:]
		if len(p) == 0 {
			return n, nil
		}
		c.headDone = true
		size := min(c.limit-c.headMax, c.reserve(c.limit)-int64(cap(c.head)))
		if size > 0 {
			c.tail = make([]byte, size)
		}
	}
	c.writeTail(p)
	return n, nil
}

func (c *capture) writeTail(p []byte) {
	size := int64(len(c.tail))
	if size == 0 {
		return
	}
	if int64(len(p)) > size {
		c.tailN += int64(len(p)) - size
		p = p[int64(len(p))-size:]
	}
	for len(p) > 0 {
		k := copy(c.tail[c.tailN%size:], p)
		c.tailN += int64(k)
		p = p[k:]
	}
}

// cut is how many bytes of the stream are not kept.
func (c *capture) cut() int64 {
	return c.total - int64(len(c.head)) - min(c.tailN, int64(len(c.tail)))
}

// bytes is the kept output: all of it, or the head, the mark and the tail.
func (c *capture) bytes(mark func(cut int64, starved bool) string) []byte {
	cut := c.cut()
	if c.tailN == 0 && cut == 0 {
		return c.head
	}
	size := int64(len(c.tail))
	out := make([]byte, 0, int64(len(c.head))+min(c.tailN, size)+200)
	out = append(out, c.head...)
	if cut > 0 {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, mark(cut, c.starved)...)
		out = append(out, '\n')
	}
	if c.tailN <= size {
		return append(out, c.tail[:c.tailN]...)
	}
	pos := c.tailN % size
	out = append(out, c.tail[pos:]...)
	return append(out, c.tail[:pos]...)
}

// sha256 is the whole stream's hash, or nil when not hashed.
func (c *capture) sha256() *[sha256.Size]byte {
	if c.sum == nil {
		return nil
	}
	var s [sha256.Size]byte
	c.sum.Sum(s[:0])
	return &s
}

// cutMark says what a capture left out of stream and where to find it:
// logPath is the host's log ("" without a run record), logCut whether that
// log was cut too (--max-log).
func cutMark(stream string, limit int64, budget *outputBudget, logPath string, logCut bool) func(int64, bool) string {
	return func(cut int64, starved bool) string {
		var why string
		if limit > 0 {
			why = "--max-output " + formatSize(limit)
		}
		if starved {
			if why != "" {
				why += "; "
			}
			why += fmt.Sprintf("all hosts' --max-output-total %s was used up", formatSize(budget.total))
		}
		s := fmt.Sprintf("[fleet: %s of %s cut here (%s)", formatSize(cut), stream, why)
		switch {
		case logPath == "":
			s += "; no run record has the rest"
		case logCut:
			s += "; " + logPath + " has more of it, up to --max-log"
		default:
			s += "; all of it is in " + logPath
		}
		return s + "]"
	}
}
