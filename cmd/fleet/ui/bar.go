package ui

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rivo/uniseg"
	"github.com/schollz/progressbar/v3"
)

// The bar part of the progress line is between minBar and maxBar cells
// wide; narrower than minBar it is left out and the line is text only.
const (
	minBar = 8
	maxBar = 40
	// namedHosts: when no host waits to start and at most this many still
	// run, the line names them instead of counting them.
	namedHosts = 10
)

// barLine renders the progress line, one terminal row at any width:
//
//	run  ok 25  failed 1  waiting: h017, h203 +3   93% [=====>  ] (28/30) [14s]
//
// progressbar draws the part from the percentage on (the bar, the count and
// the elapsed time); fleet's counts come before it and the whole line is
// fitted here. progressbar cannot fit it itself: it learns the terminal's
// width only when it writes to an *os.File (the Printer writes through a
// lane that never blocks), it shrinks only its bar, never the description,
// and its Clear pads with spaces to the widest line it ever drew, which
// wraps, and leaves a stale row on every redraw, once the terminal is
// narrower than that line. So it renders into io.Discard, its String is
// taken, and the Printer draws "\r" + line + erase-to-end-of-line itself.
//
// After a resize to fewer columns, a terminal that re-wraps its old rows
// (tmux, VTE) has already split the last line in two; only its last row is
// redrawn. Moving up to erase the first would erase a line of output on a
// terminal that does not re-wrap (xterm), and fleet cannot tell them apart.
type barLine struct {
	pb *progressbar.ProgressBar
}

func newBarLine(total int) *barLine {
	return &barLine{pb: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(io.Discard),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(maxBar),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(true),
	)}
}

// barCounts is what the line says besides the bar.
type barCounts struct {
	verb                string
	ok, failed, running int
	ended, total        int
	sent, totalBytes    int64    // transfers; totalBytes 0 for none
	waiting             []string // the running hosts' labels, oldest first, when few remain
}

// add counts finished hosts on the bar.
func (b *barLine) add(n int) { _ = b.pb.Add(n) }

// stats renders progressbar's part with a bar w cells wide.
func (b *barLine) stats(w int) string {
	progressbar.OptionSetWidth(w)(b.pb)
	b.pb.Describe("") // renders again, into io.Discard
	return strings.TrimRight(strings.TrimPrefix(b.pb.String(), "\r"), " ")
}

// line is the progress line for a terminal cols wide: at most cols-1
// cells, so that the cursor never reaches the last column and the
// terminal never wraps it.
func (b *barLine) line(cols int, c barCounts) string {
	avail := cols - 1
	over := cellWidth(b.stats(minBar)) - minBar // the percentage, count and time
	fallback := ""
	for _, sep := range []string{"  ", " "} {
		head := c.head(sep)
		// The names may take what leaves the bar its smallest width; the
		// tighter spacing is tried when they do not fit with the wider.
		part := c.runningPart(avail - cellWidth(head) - len(sep) - 1 - over - minBar)
		desc := head + sep + part
		if w := avail - cellWidth(desc) - 1 - over; w >= minBar {
			line := desc + " " + b.stats(min(w, maxBar))
			if len(c.waiting) == 0 || strings.HasPrefix(part, "waiting:") {
				return line
			}
			if fallback == "" {
				fallback = line
			}
		}
	}
	if fallback != "" {
		return fallback
	}
	// Too narrow for a bar: the counts as text, what runs when it fits,
	// and cut to fit.
	head := c.head(" ") + fmt.Sprintf(" %d/%d", c.ended, c.total)
	if part := c.runningPart(avail - cellWidth(head) - 1); cellWidth(head)+1+cellWidth(part) <= avail {
		head += " " + part
	}
	return truncateCells(head, avail)
}

// head is "run  ok 10  failed 1" and, for a transfer, the bytes sent.
func (c barCounts) head(sep string) string {
	s := cmp.Or(c.verb, "run") + sep + "ok " + strconv.Itoa(c.ok) + sep + "failed " + strconv.Itoa(c.failed)
	if c.totalBytes > 0 {
		s += sep + formatBytes(c.sent) + "/" + formatBytes(c.totalBytes)
	}
	return s
}

// runningPart is "waiting: h017, h203 +3" when the hosts are named and as
// many names as fit in room cells fit, else "running 5".
func (c barCounts) runningPart(room int) string {
	for k := len(c.waiting); k > 0; k-- {
		s := "waiting: " + strings.Join(c.waiting[:k], ", ")
		if k < len(c.waiting) {
			s += " +" + strconv.Itoa(len(c.waiting)-k)
		}
		if cellWidth(s) <= room {
			return s
		}
	}
	return "running " + strconv.Itoa(c.running)
}

// cellWidth is how many terminal cells s takes.
func cellWidth(s string) int { return uniseg.StringWidth(s) }

// truncateCells cuts s to at most n cells.
func truncateCells(s string, n int) string {
	if cellWidth(s) <= n {
		return s
	}
	var b strings.Builder
	w := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		cw := g.Width()
		if w+cw > n {
			break
		}
		w += cw
		b.WriteString(g.Str())
	}
	return b.String()
}

// redraw draws the progress line anew. A tick skips it while Stderr's lane
// still has output to write (that output ends with the line drawn again),
// so frames never pile up behind a terminal that does not read; a resize
// draws at once.
func (p *Printer) redraw(resized bool) {
	counts := p.counts()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil || (!resized && p.errl.busy()) {
		return
	}
	p.frame = p.renderFrame(counts)
	p.errl.put([]byte(p.frame))
}

// width is the terminal's width for the next frame.
func (p *Printer) width() int {
	if p.opts.Width != nil {
		if w := p.opts.Width(); w > 0 {
			return w
		}
	}
	return 80
}

// counts is what the bar says; it runs on the drawing goroutine.
func (p *Printer) counts() barCounts {
	c := barCounts{verb: p.opts.Verb, ok: p.ok, failed: p.failed, running: p.running, ended: p.ended,
		total: p.opts.Total, sent: p.bytes.Load(), totalBytes: p.opts.TotalBytes}
	if p.ended+p.running >= p.opts.Total && p.running <= namedHosts {
		for _, h := range slices.SortedFunc(maps.Values(p.started), func(a, b startedHost) int { return a.seq - b.seq }) {
			c.waiting = append(c.waiting, h.label)
		}
	}
	return c
}

// renderFrame is the progress line for the terminal's width now, with its
// \r and erase-to-end-of-line. Called with mu held.
func (p *Printer) renderFrame(c barCounts) string {
	return "\r" + p.bar.line(p.width(), c) + "\x1b[K"
}

// AddBytes counts bytes sent, for the bar; safe from any goroutine.
func (p *Printer) AddBytes(n int64) { p.bytes.Add(n) }

// formatBytes writes a byte count the way people read it: 512 B, 1.5 MB.
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTP"[exp])
}
