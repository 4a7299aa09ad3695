package ui

import (
	"fmt"
	"os/signal"
	"strings"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// Finish stops the drawing goroutine after it has printed every queued
// event, removes the bar and prints the end of the run: on a terminal the
// per-host listing (OK hosts first, failures last with their reasons and
// hints; only the failures when -i printed every block already); the
// gathered output with Gather; and always the summary line on Stderr.
// It returns once all of it is written, or Abort was called. Only the
// first call prints.
func (p *Printer) Finish(results []fleet.Result, elapsed time.Duration) {
	p.finish.Do(func() {
		p.qmu.Lock()
		p.closed = true
		p.qmu.Unlock()
		close(p.stop)
		<-p.done
		if p.winch != nil {
			signal.Stop(p.winch)
		}

		var text []byte
		if p.opts.Terminal {
			text = p.appendListing(text, results, p.streamsBlocks())
		}
		if p.opts.Gather {
			text = appendGather(text, results, p.style.esc)
		}
		var end []byte
		if !p.opts.Terminal {
			// The status lines keep pssh's format, so the next steps come
			// here, once per hint, with the hosts it concerns.
			end = appendHints(end, results, p.opts.StderrEscapes)
		}
		end = append(end, summaryLine(results, elapsed, p.opts.ShowChanged)+"\n"...)
		p.mu.Lock()
		for _, line := range p.after {
			end = append(end, line+"\n"...)
		}
		p.mu.Unlock()

		p.textLane().waitRoom(len(text))
		p.mu.Lock()
		if p.bar != nil && p.frame != "" {
			p.errl.put([]byte(eraseLine))
		}
		p.bar = nil
		for _, l := range []*lane{p.out, p.errl} {
			if n := l.takeDropped(); n > 0 {
				l.put(droppedMark(n))
			}
		}
		p.writeLocked(p.textLane(), text)
		p.writeLocked(p.errl, end)
		p.mu.Unlock()
		p.out.close()
		p.errl.close()
	})
}

// After adds a line of the caller's that Finish prints after the summary
// line, on Stderr (where the record is, what was cut): written through the
// Printer's lane like the rest, so that it never waits for a reader that
// does not read, past Abort's grace. Lines added after Finish began are
// dropped.
func (p *Printer) After(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.after = append(p.after, line)
}

// appendHints appends one "fleet: hint: ..." line per distinct hint, with
// the folded list of the hosts it applies to.
func appendHints(b []byte, results []fleet.Result, esc Escapes) []byte {
	var order []string
	hosts := map[string][]string{}
	for i := range results {
		h := fleet.Hint(results[i].Err)
		if h == "" {
			continue
		}
		if _, ok := hosts[h]; !ok {
			order = append(order, h)
		}
		hosts[h] = append(hosts[h], CleanString(hostLabel(results[i].Host), esc))
	}
	for _, h := range order {
		b = fmt.Appendf(b, "fleet: hint: %s (%s)\n", h, Fold(hosts[h]))
	}
	return b
}

// summaryLine is "12 hosts: 10 ok, 1 failed, 1 unreachable (2.3s)": zero
// counts are left out, except ok, so the line always says how many worked.
func summaryLine(results []fleet.Result, elapsed time.Duration, showChanged bool) string {
	s := fleet.Summarize(results)
	var b strings.Builder
	noun := "hosts"
	if len(results) == 1 {
		noun = "host"
	}
	fmt.Fprintf(&b, "%d %s: %d ok", len(results), noun, s[fleet.OK])
	if showChanged {
		// A host that failed after changing something counts too: its
		// earlier steps did change it.
		changed := 0
		for i := range results {
			if results[i].Changed {
				changed++
			}
		}
		fmt.Fprintf(&b, ", %d changed", changed)
	}
	for o := fleet.Failed; o <= fleet.NotStarted; o++ {
		if s[o] > 0 {
			fmt.Fprintf(&b, ", %d %s", s[o], summaryName(o))
		}
	}
	fmt.Fprintf(&b, " (%s)", formatElapsed(elapsed))
	return b.String()
}

// summaryName is the summary's word for an outcome: Outcome.String is made
// for machines ("timeout", "not-started"), this for people.
func summaryName(o fleet.Outcome) string {
	switch o {
	case fleet.TimedOut:
		return "timed out"
	case fleet.NotStarted:
		return "not started"
	}
	return o.String()
}

// formatElapsed rounds to what a person reads: milliseconds under a second,
// tenths of a second above.
func formatElapsed(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
