package record

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// fullDisk fails every write to the files whose names contain one of
// names ("" for all) as a full disk does.
func fullDisk(names ...string) func(*os.File) io.Writer {
	return func(f *os.File) io.Writer {
		for _, n := range names {
			if strings.Contains(filepath.Base(f.Name()), n) {
				return enospc{}
			}
		}
		return f
	}
}

type enospc struct{}

func (enospc) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// A record that cannot be written whole at its end (the disk filled during
// the run) is not left as the latest run, reading "killed": Finish says
// which file failed and how much room there is, the partial record is
// moved out of the list, and latest names the run before it.
func TestRecordOnAFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name, fails, want string
	}{
		{"run.json", "run.json", "run.json"},
		{"a host's log", ".log", filepath.Join("hosts", "a.log")},
		{"every file", "", "a.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			before := newRuns(t, state, 1)[0]
			rec, hosts := newRecord(t, state, "a", Info{Command: "run"})
			rec.wrap = fullDisk(tc.fails)
			l := rec.HostLog(0)
			l.Stdout().Write([]byte("output\n"))
			res := fleet.Result{Index: 0, Host: hosts[0], Outcome: fleet.OK}
			l.End(&res)
			err := rec.Finish([]fleet.Result{res}, 0)
			var we *WriteError
			if !errors.As(err, &we) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Finish = %v, want a *WriteError of ENOSPC", err)
			}
			if !strings.HasSuffix(we.Path, tc.want) || !strings.HasPrefix(we.Path, rec.Dir) {
				t.Errorf("the error names %s, want the record's %s", we.Path, tc.want)
			}
			moved := filepath.Join(state, "runs", ".incomplete-"+rec.ID())
			if we.Moved != moved || we.Size == 0 {
				t.Errorf("moved to %q, statfs size %d", we.Moved, we.Size)
			}
			for _, s := range []string{"no space left on device", " free of ", "the partial record is in " + moved} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if _, err := os.Stat(moved); err != nil {
				t.Errorf("partial record: %v", err)
			}
			runs, errs := List(state)
			if len(runs) != 1 || runs[0].Info.ID != before || len(errs) != 0 {
				t.Errorf("runs listed: %d (%v), want only %s", len(runs), errs, before)
			}
			if latest, err := Find(state, "latest"); err != nil || latest.Info.ID != before {
				t.Errorf("latest is %v (%v), want %s", latest, err, before)
			}
			if target, _ := os.Readlink(filepath.Join(state, "runs", "latest")); target != before {
				t.Errorf("runs/latest -> %q, want %s", target, before)
			}
		})
	}
}

// With no whole run before it, latest goes rather than name a partial
// record.
func TestRecordOnAFullDiskFirstRun(t *testing.T) {
	state := t.TempDir()
	rec, hosts := newRecord(t, state, "a", Info{Command: "run"})
	rec.wrap = fullDisk("")
	if err := rec.Finish([]fleet.Result{{Index: 0, Host: hosts[0], Outcome: fleet.OK}}, 0); err == nil {
		t.Fatal("Finish on a full disk succeeded")
	}
	if _, err := os.Lstat(filepath.Join(state, "runs", "latest")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("latest is left: %v", err)
	}
	if _, err := Find(state, "latest"); err == nil {
		t.Error("a partial record is found as latest")
	}
}

// An incomplete record is kept an hour for its owner, then pruned.
func TestPruneIncomplete(t *testing.T) {
	state := t.TempDir()
	old := filepath.Join(state, "runs", ".incomplete-old")
	fresh := filepath.Join(state, "runs", ".incomplete-fresh")
	for _, d := range []string{old, fresh} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * incompleteAge)
	os.Chtimes(old, long, long)
	if err := Prune(state, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old incomplete record kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh incomplete record pruned: %v", err)
	}
}
