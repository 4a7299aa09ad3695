package main

import (
	"fmt"
	"syscall"
)

// Open files at scale. Each host in flight holds its connection's socket and
// its log in the run record, and up to two local files more: -o and -e, or
// the file a copy reads or a slurp writes. At -p 1000 that is up to 4,000
// descriptors, far above the 1024 soft limit most systems start processes
// with. Go already raises the soft limit to the hard one when the program
// starts; what is left to do here is to check that the hard limit allows
// the run and, when it does not, to say so once, clearly, and run fewer
// hosts at a time.
//
// Capping -p rather than failing is what users of a sliding-window tool
// expect: -p is a ceiling, and the run still reaches every host, only more
// slowly. Going ahead at the full -p would be worse than either: pssh does
// that, and past the limit hosts fail one by one with "Too many open files".
// fleet does not raise the hard limit itself even when it could (as root):
// that limit is the administrator's choice, and the message says how to
// change it.

const (
	// fdsPerHost is the most descriptors one host in flight holds.
	fdsPerHost = 4
	// fdReserve is what the run holds besides its hosts: the standard
	// streams, the run record, known_hosts while it is read, the ssh-agent
	// pool (8), the runtime's poller, with room to spare.
	fdReserve = 64
)

// rlimiter reads and sets RLIMIT_NOFILE; tests fake it.
type rlimiter interface {
	get() (soft, hard uint64, err error)
	set(soft, hard uint64) error
}

// nofile is the process's real RLIMIT_NOFILE.
type nofile struct{}

func (nofile) get() (uint64, uint64, error) {
	var l syscall.Rlimit
	err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur, l.Max, err
}

func (nofile) set(soft, hard uint64) error {
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: soft, Max: hard})
}

// fitOpenFiles raises the soft limit toward what par hosts in flight need
// (hosts is how many there are: fewer than par are never in flight) and
// returns the parallelism the limit allows, with a warning to print when
// that is less than par. When the limit cannot even be read, par stands.
func fitOpenFiles(par, hosts int, lim rlimiter) (int, string) {
	inFlight := min(par, hosts)
	need := uint64(fdReserve + fdsPerHost*inFlight)
	soft, hard, err := lim.get()
	if err != nil || soft >= need {
		return par, ""
	}
	if target := min(need, hard); target > soft {
		if lim.set(target, hard) == nil {
			soft = target
		}
	}
	if soft >= need {
		return par, ""
	}
	fit := 1
	if soft > fdReserve+fdsPerHost {
		fit = int((soft - fdReserve) / fdsPerHost)
	}
	return fit, fmt.Sprintf("%d hosts at a time (-p) need up to %d open files, but fleet may open only %d (RLIMIT_NOFILE, hard limit %s); "+
		"running %d hosts at a time instead. To run %d at once, raise the limit: `ulimit -n %d` in the shell "+
		"(above the hard limit only root can, `ulimit -Hn %d` first), or set nofile in /etc/security/limits.conf "+
		"(LimitNOFILE= for a systemd service)",
		inFlight, need, soft, limitText(hard), fit, inFlight, need, need)
}

// limitText writes a limit as ulimit does: a number or "unlimited".
func limitText(v uint64) string {
	if v == ^uint64(0) { // RLIM_INFINITY
		return "unlimited"
	}
	return fmt.Sprint(v)
}
