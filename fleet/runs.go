package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// RunRecord is a recorded run as read back from its folder.
type RunRecord struct {
	Dir  string
	Info RunInfo
}

// LoadRun reads the run.json of a run folder. A record that cannot be read
// is an error that names the file; a record cut short (a run killed while
// writing it) cannot happen, since run.json is replaced atomically.
func LoadRun(dir string) (*RunRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	r := &RunRecord{Dir: dir}
	if err := json.Unmarshal(b, &r.Info); err != nil {
		return nil, fmt.Errorf("run record %s: %w", filepath.Join(dir, "run.json"), err)
	}
	if r.Info.End == nil {
		r.outcomesFromLogs()
	}
	return r, nil
}

// outcomesFromLogs fills in, for a run still going or killed outright, the
// outcome of each host that has ended: run.json gets outcomes only when the
// run ends, but a host's log ends with a note naming its outcome as soon as
// the host is done ("--- | end ok exit=0 (12ms)").
func (r *RunRecord) outcomesFromLogs() {
	for i := range r.Info.Hosts {
		h := &r.Info.Hosts[i]
		note := lastEndNote(r.LogPath(i))
		word, rest, _ := strings.Cut(note, " ")
		var o Outcome
		if note == "" || o.UnmarshalText([]byte(strings.TrimSuffix(word, ":"))) != nil {
			continue
		}
		h.Outcome = o
		if code, ok := strings.CutPrefix(rest, "exit="); ok {
			fmt.Sscan(code, &h.ExitCode)
		}
		h.Ended = true
	}
}

// lastEndNote returns the text after "--- | end " of a log's last end note,
// reading only the log's tail.
func lastEndNote(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 4096
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		f.Seek(st.Size()-tail, 0)
	}
	b := make([]byte, tail)
	n, _ := io.ReadFull(f, b)
	note := ""
	for _, line := range strings.Split(string(b[:n]), "\n") {
		if _, after, ok := strings.Cut(line, " "); ok {
			if text, ok := strings.CutPrefix(after, EndNotePrefix); ok {
				note = text
			}
		}
	}
	return note
}

// EndNotePrefix starts the note a host's log ends with, after its timestamp:
// "--- | end <outcome>[ exit=N][: reason] (duration)".
const EndNotePrefix = "--- | end "

// Live reports whether the run is still going: no end written and its
// process alive. A run with no end whose process is gone was killed
// outright.
func (r *RunRecord) Live() bool {
	if r.Info.End != nil || r.Info.PID <= 0 {
		return false
	}
	err := syscall.Kill(r.Info.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// State is "live", "killed" (no end written, process gone) or "done".
func (r *RunRecord) State() string {
	switch {
	case r.Info.End != nil:
		return "done"
	case r.Live():
		return "live"
	}
	return "killed"
}

// ListRuns returns the recorded runs, newest first. Folders that are not
// readable records are skipped and reported in the second result.
func ListRuns(stateDir string) ([]*RunRecord, []error) {
	runs := filepath.Join(stateDir, "runs")
	ents, err := os.ReadDir(runs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []*RunRecord
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := LoadRun(filepath.Join(runs, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Info, out[j].Info
		if !a.Start.Equal(b.Start) {
			return a.Start.After(b.Start)
		}
		return a.ID > b.ID
	})
	return out, errs
}

// FindRun resolves a RUN argument: an id, a unique prefix of one, "latest"
// (or ""), or -N for N runs before the latest.
func FindRun(stateDir, ref string) (*RunRecord, error) {
	runs, _ := ListRuns(stateDir)
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
	var found []*RunRecord
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

// PruneRuns removes old records so that at most keep remain (0: no count
// bound) and the records together take at most maxBytes (0: no size
// bound). Runs are kept newest first while both bounds hold; the first run
// that breaks one goes, and every older run with it, so what is left is an
// unbroken stretch of history. The newest run (latest: the one starting
// now, when fleet prunes) and live runs are never removed, though their
// size counts.
func PruneRuns(stateDir string, keep int, maxBytes int64) error {
	if keep <= 0 && maxBytes <= 0 {
		return nil
	}
	runs, _ := ListRuns(stateDir)
	var errs []error
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
func (r *RunRecord) size() int64 {
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
func (r *RunRecord) LogPath(i int) string { return filepath.Join(r.Dir, r.Info.Hosts[i].Log) }

// HostIndex finds a host of the run by label, by [user@]host[:port] as
// reached, or by a name that only one host has.
func (r *RunRecord) HostIndex(name string) (int, error) {
	var byName []int
	for i, h := range r.Info.Hosts {
		if h.Label == name || h.Host == name {
			return i, nil
		}
		if strings.Contains(h.Label, name) {
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
