package record

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Run is a recorded run as read back from its folder.
type Run struct {
	Dir  string
	Info Info
}

// Load reads the run.json of a run folder. A record that cannot be read
// is an error that names the file; a record cut short (a run killed while
// writing it) cannot happen, since run.json is replaced atomically.
func Load(dir string) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	r := &Run{Dir: dir}
	if err := json.Unmarshal(b, &r.Info); err != nil {
		return nil, fmt.Errorf("run record %s: %w", filepath.Join(dir, "run.json"), err)
	}
	if r.Info.End == nil {
		r.outcomesFromLogs()
	}
	return r, nil
}

// Live reports whether the run is still going: no end written and its
// process alive. A run with no end whose process is gone was killed
// outright.
func (r *Run) Live() bool {
	if r.Info.End != nil || r.Info.PID <= 0 {
		return false
	}
	err := syscall.Kill(r.Info.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// State is "live", "killed" (no end written, process gone) or "done".
func (r *Run) State() string {
	switch {
	case r.Info.End != nil:
		return "done"
	case r.Live():
		return "live"
	}
	return "killed"
}

// List returns the recorded runs, newest first. Folders that are not
// readable records are skipped and reported in the second result.
func List(stateDir string) ([]*Run, []error) {
	runs := filepath.Join(stateDir, "runs")
	ents, err := os.ReadDir(runs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []*Run
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := Load(filepath.Join(runs, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Run) int {
		return cmp.Or(b.Info.Start.Compare(a.Info.Start), strings.Compare(b.Info.ID, a.Info.ID))
	})
	return out, errs
}

// Find resolves a RUN argument: an id, a unique prefix of one, "latest"
// (or ""), or -N for N runs before the latest.
func Find(stateDir, ref string) (*Run, error) {
	runs, _ := List(stateDir)
	if len(runs) == 0 {
		return nil, fmt.Errorf("no run recorded in %s", filepath.Join(stateDir, "runs"))
	}
	switch {
	case ref == "" || ref == "latest":
		return runs[0], nil
	case strings.HasPrefix(ref, "-"):
		n, err := strconv.Atoi(ref[1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("run %q: want an id, a prefix of one, latest, or -N", ref)
		}
		if n >= len(runs) {
			return nil, fmt.Errorf("run %s: only %d runs are recorded", ref, len(runs))
		}
		return runs[n], nil
	}
	var found []*Run
	for _, r := range runs {
		if r.Info.ID == ref {
			return r, nil
		}
		if strings.HasPrefix(r.Info.ID, ref) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no run %q (fleet runs lists them)", ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("run %q is ambiguous: %d runs start with it", ref, len(found))
}

// Prune removes old records so that at most keep remain (0: no count
// bound) and the records together take at most maxBytes (0: no size
// bound). Runs are kept newest first while both bounds hold; the first run
// that breaks one goes, and every older run with it, so what is left is an
// unbroken stretch of history. The newest run (latest: the one starting
// now, when fleet prunes) and live runs are never removed, though their
// size counts.
func Prune(stateDir string, keep int, maxBytes int64) error {
	errs := []error{pruneIncomplete(stateDir)}
	if keep <= 0 && maxBytes <= 0 {
		return errors.Join(errs...)
	}
	runs, _ := List(stateDir)
	var total int64
	full := false
	for i, r := range runs {
		if maxBytes > 0 {
			total += r.size()
		}
		if (keep > 0 && i >= keep) || (maxBytes > 0 && total > maxBytes) {
			full = true
		}
		if !full || i == 0 || r.Live() {
			continue
		}
		if err := os.RemoveAll(r.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// size is how many bytes the record's files take: as run.json says for a
// finished run (Finish counts them once), else counted now.
func (r *Run) size() int64 {
	if r.Info.End != nil && r.Info.Bytes > 0 {
		return r.Info.Bytes
	}
	return dirSize(r.Dir)
}

// dirSize adds up the sizes of the files under dir; what cannot be read
// counts as nothing.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// LogPath is the log file of host i.
func (r *Run) LogPath(i int) string { return filepath.Join(r.Dir, r.Info.Hosts[i].Log) }

// HostIndex finds a host of the run by its label (Host), by its target
// ([user@]host[:port] as reached), or by a part of a label that only one
// host has.
func (r *Run) HostIndex(name string) (int, error) {
	var byName []int
	for i, h := range r.Info.Hosts {
		if h.Host == name || h.Target == name {
			return i, nil
		}
		if strings.Contains(h.Host, name) {
			byName = append(byName, i)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return -1, fmt.Errorf("run %s has no host %q (fleet logs --run %s lists them)", r.Info.ID, name, r.Info.ID)
	}
	return -1, fmt.Errorf("%q names %d hosts of run %s; give the whole label", name, len(byName), r.Info.ID)
}

// incompleteAge is how long a record that could not be written whole is
// kept (runs/.incomplete-ID), for its owner to look at what it holds.
const incompleteAge = time.Hour

// pruneIncomplete removes the incomplete records older than incompleteAge.
func pruneIncomplete(stateDir string) error {
	runs := filepath.Join(stateDir, "runs")
	ents, err := os.ReadDir(runs)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), incompletePrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > incompleteAge {
			errs = append(errs, os.RemoveAll(filepath.Join(runs, e.Name())))
		}
	}
	return errors.Join(errs...)
}
