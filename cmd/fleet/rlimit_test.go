package main

import (
	"errors"
	"strings"
	"testing"
)

// fakeLimit is an RLIMIT_NOFILE that a test sets up; set obeys the kernel's
// rule that an unprivileged process cannot go above the hard limit.
type fakeLimit struct {
	soft, hard uint64
	getErr     error
	setErr     error
	sets       int
}

func (f *fakeLimit) get() (uint64, uint64, error) { return f.soft, f.hard, f.getErr }

func (f *fakeLimit) set(soft, hard uint64) error {
	f.sets++
	if f.setErr != nil {
		return f.setErr
	}
	if soft > hard || hard > f.hard {
		return errors.New("operation not permitted")
	}
	f.soft, f.hard = soft, hard
	return nil
}

func TestFitOpenFiles(t *testing.T) {
	const need1000 = fdReserve + fdsPerHost*1000
	tests := []struct {
		name        string
		par, hosts  int
		lim         fakeLimit
		wantPar     int
		wantSoft    uint64
		wantWarning []string // substrings; none means no warning
	}{
		{name: "enough already", par: 1000, hosts: 5000, lim: fakeLimit{soft: 20000, hard: 20000},
			wantPar: 1000, wantSoft: 20000},
		{name: "soft raised within hard", par: 1000, hosts: 5000, lim: fakeLimit{soft: 1024, hard: 1 << 20},
			wantPar: 1000, wantSoft: need1000},
		{name: "fewer hosts than -p need less", par: 1000, hosts: 100, lim: fakeLimit{soft: 1024, hard: 1024},
			wantPar: 1000, wantSoft: 1024},
		{name: "hard too low: capped", par: 1000, hosts: 5000, lim: fakeLimit{soft: 1024, hard: 1024},
			wantPar: (1024 - fdReserve) / fdsPerHost, wantSoft: 1024,
			wantWarning: []string{"1000 hosts at a time (-p) need up to 4064 open files", "may open only 1024",
				"hard limit 1024", "running 240 hosts at a time instead", "ulimit -n 4064", "ulimit -Hn 4064", "limits.conf"}},
		{name: "soft raised to hard, still short", par: 1000, hosts: 5000, lim: fakeLimit{soft: 256, hard: 2048},
			wantPar: (2048 - fdReserve) / fdsPerHost, wantSoft: 2048,
			wantWarning: []string{"may open only 2048", "running 496 hosts"}},
		{name: "cannot set: the soft limit decides", par: 1000, hosts: 5000,
			lim:     fakeLimit{soft: 512, hard: 1 << 20, setErr: errors.New("denied")},
			wantPar: (512 - fdReserve) / fdsPerHost, wantSoft: 512,
			wantWarning: []string{"may open only 512", "hard limit 1048576"}},
		{name: "tiny limit: one at a time", par: 50, hosts: 50, lim: fakeLimit{soft: 40, hard: 40},
			wantPar: 1, wantSoft: 40, wantWarning: []string{"running 1 hosts at a time"}},
		{name: "unlimited hard", par: 1000, hosts: 5000, lim: fakeLimit{soft: 1024, hard: ^uint64(0)},
			wantPar: 1000, wantSoft: need1000},
		{name: "unreadable limit: -p stands", par: 1000, hosts: 5000, lim: fakeLimit{getErr: errors.New("no")},
			wantPar: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			par, warning := fitOpenFiles(tt.par, tt.hosts, &lim)
			if par != tt.wantPar {
				t.Errorf("parallelism %d, want %d", par, tt.wantPar)
			}
			if lim.soft != tt.wantSoft {
				t.Errorf("soft limit %d, want %d", lim.soft, tt.wantSoft)
			}
			if len(tt.wantWarning) == 0 && warning != "" {
				t.Errorf("unexpected warning %q", warning)
			}
			for _, w := range tt.wantWarning {
				if !strings.Contains(warning, w) {
					t.Errorf("warning %q lacks %q", warning, w)
				}
			}
		})
	}
}

// TestFitOpenFilesReal reads this process's real limit: at -p 1 the run
// fits any limit a test can run under, and the limit is left as it was.
func TestFitOpenFilesReal(t *testing.T) {
	before, _, err := nofile{}.get()
	if err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if par, warning := fitOpenFiles(1, 1, nofile{}); par != 1 || warning != "" {
		t.Errorf("fitOpenFiles(1, 1) = %d, %q", par, warning)
	}
	if after, _, _ := (nofile{}).get(); after != before {
		t.Errorf("soft limit changed from %d to %d", before, after)
	}
}
