package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Refusal is why fleet will not reach a host of an Ansible inventory: a
// variable that asks for another way of reaching it (ansible_connection=local,
// ansible_password, ansible_become, ...), which fleet can neither honour
// nor ignore, since ignoring it would reach the host otherwise than Ansible
// does. It concerns the hosts the variable applies to, and only when they
// are selected: see [CheckRefused].
type Refusal struct {
	Where string // "file:line" of the variable
	Key   string // the variable, as written: ansible_connection
	// Group is the group whose [group:vars] gave the variable, "" when
	// the host's own line did.
	Group string
	// WholeGroup says that the variable refuses every host of Group (no
	// host undoes it), so that excluding the group leaves out just them.
	WholeGroup bool
	// Reason says what is refused and what to use instead, without the
	// value where it could be a secret: "ansible_password is not read
	// from an inventory: use -A (--askpass) or --password-file, ...".
	Reason string
}

// Error returns "file:line: reason".
func (r *Refusal) Error() string { return r.Where + ": " + r.Reason }

// RefusedError is what CheckRefused returns: hosts that a selection kept
// and that fleet refuses to reach (see [Host.Refused]).
type RefusedError struct {
	Hosts []Host // the refused hosts, in list order
}

// CheckRefused returns a *RefusedError naming the hosts with a Refused
// reason, nil when there are none. Callers check it after selecting, so
// that an inventory line such as "localhost ansible_connection=local" stops
// nothing unless that host is selected.
func CheckRefused(hosts []Host) error {
	refused := slices.DeleteFunc(slices.Clone(hosts), func(h Host) bool { return h.Refused == nil })
	if len(refused) == 0 {
		return nil
	}
	return &RefusedError{Hosts: refused}
}

// Limits of RefusedError's message: a refusal of a [group:vars] line may
// concern thousands of hosts.
const (
	maxRefusalLines = 8 // distinct refusals shown
	maxRefusalNames = 5 // hosts named on one line
	maxExcludeTerms = 8 // terms in Exclude's answer
)

// refusalLine is one refusal and the hosts it concerns.
type refusalLine struct {
	r     *Refusal
	names []string
}

// lines folds the hosts by refusal, in order of first appearance.
func (e *RefusedError) lines() []*refusalLine {
	var out []*refusalLine
	byKey := map[string]*refusalLine{}
	for _, h := range e.Hosts {
		k := h.Refused.Where + "\x00" + h.Refused.Reason
		l := byKey[k]
		if l == nil {
			l = &refusalLine{r: h.Refused}
			byKey[k] = l
			out = append(out, l)
		}
		l.names = append(l.names, labelBase(h))
	}
	return out
}

// Error names every refused host with the line of its refusal, folded: one
// line a refusal, at most a few hosts named on it.
func (e *RefusedError) Error() string {
	lines := e.lines()
	text := func(l *refusalLine) string {
		names := l.names
		more := ""
		if len(names) > maxRefusalNames {
			more = " and " + strconv.Itoa(len(names)-maxRefusalNames+1) + " more"
			names = names[:maxRefusalNames-1]
		}
		return fmt.Sprintf("%s: %s%s: %s", l.r.Where, strings.Join(names, ", "), more, l.r.Reason)
	}
	if len(lines) == 1 {
		return text(lines[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the selected hosts are set up in their inventory to be reached in ways fleet cannot:", len(e.Hosts))
	for i, l := range lines {
		if i == maxRefusalLines-1 && len(lines) > maxRefusalLines {
			fmt.Fprintf(&b, "\n  and %d more such lines", len(lines)-i)
			break
		}
		b.WriteString("\n  " + text(l))
	}
	return b.String()
}

// Exclude returns the terms of an --exclude that leaves the refused hosts
// out: their names, or the group whose [group:vars] refused more than a
// few of them and every other host of it. It returns nil when that would
// take more than a handful of terms.
func (e *RefusedError) Exclude() []string {
	var terms []string
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			terms = append(terms, t)
		}
	}
	for _, l := range e.lines() {
		if l.r.WholeGroup && l.r.Group != "all" && len(l.names) > maxRefusalNames {
			add(l.r.Group)
			continue
		}
		for _, n := range l.names {
			add(n)
		}
	}
	if len(terms) > maxExcludeTerms {
		return nil
	}
	return terms
}
