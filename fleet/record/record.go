// Package record is fleet's run record: the folder each run of a host
// command leaves under the state dir (runs/ID: run.json, a log per host,
// pssh host files "failed" and "succeeded"), how it is written while the
// run goes, and how fleet runs, fleet logs and fleet rerun read it back.
// It knows nothing of SSH: it is handed the engine's results.
package record

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/inventory"
)

// Record is the on-disk record of one run: run.json, one log per host
// written as output arrives, and pssh host files "failed" and "succeeded".
// Folders are 0700 and files 0600: output may be sensitive.
type Record struct {
	Dir string
	// MaxLog bounds each host's log: past this many bytes of output it
	// keeps no more (see HostLog). 0: no bound. Set it before HostLog.
	MaxLog int64
	state  string // the state dir
	info   Info
	mu     sync.Mutex
	logs   []*HostLog // by host index, as handed out
	// wrap, when set, stands between the record and its files: a test's
	// writer that fails as a full disk does.
	wrap func(*os.File) io.Writer

	// One background writer creates the logs of hosts that printed
	// nothing, off the hosts' critical path; Finish waits for it.
	bgOnce sync.Once
	bg     chan func() error
	bgDone chan struct{}
	bgErr  error
}

// background queues fn for the background writer.
func (r *Record) background(fn func() error) {
	r.bgOnce.Do(func() {
		r.bg = make(chan func() error, 1024)
		r.bgDone = make(chan struct{})
		go func() {
			defer close(r.bgDone)
			for fn := range r.bg {
				if err := fn(); err != nil && r.bgErr == nil {
					r.bgErr = err
				}
			}
		}()
	})
	r.bg <- fn
}

// drain waits for the background writer to finish.
func (r *Record) drain() error {
	r.bgOnce.Do(func() {}) // no writer started: nothing to wait for
	if r.bg == nil {
		return nil
	}
	close(r.bg)
	<-r.bgDone
	return r.bgErr
}

// writer is what the record writes a file through.
func (r *Record) writer(f *os.File) io.Writer {
	if r.wrap != nil {
		return r.wrap(f)
	}
	return f
}

// StateDir is where fleet keeps its state: $FLEET_STATE_DIR, else
// $XDG_STATE_HOME/fleet, else ~/.local/state/fleet.
func StateDir() (string, error) {
	if d := os.Getenv("FLEET_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "fleet"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state dir: %w (set FLEET_STATE_DIR)", err)
	}
	return filepath.Join(home, ".local", "state", "fleet"), nil
}

// New creates the record of a run that starts now under stateDir/runs,
// writes its first run.json and points "latest" at it. When it cannot, it
// leaves nothing behind and says which file failed (a *WriteError when the
// disk is full).
func New(stateDir string, info Info, hosts []inventory.Host) (*Record, error) {
	runs := filepath.Join(stateDir, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if info.Start.IsZero() {
		info.Start = time.Now()
	}
	info.Version = Version
	info.ID = newRunID(info.Start)
	info.PID = os.Getpid()
	dir := filepath.Join(runs, info.ID)
	if err := os.MkdirAll(filepath.Join(dir, "hosts"), 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, writeError(stateDir, err, "")
	}
	info.Hosts = make([]Host, len(hosts))
	for i, h := range hosts {
		info.Hosts[i] = Host{Host: h.Label, Target: h.String(), User: h.User, Name: h.Name, Port: cmp.Or(h.Port, 22),
			Outcome: fleet.NotStarted, Kind: fleet.KindNotStarted, ExitCode: -1, Log: filepath.Join("hosts", logName(h.Label))}
	}
	r := &Record{Dir: dir, state: stateDir, info: info}
	if err := r.writeInfo(); err != nil {
		os.RemoveAll(dir)
		return nil, writeError(stateDir, err, "")
	}
	// latest is a relative symlink replaced atomically, so a reader never
	// sees it missing.
	pointLatest(runs, info.ID)
	return r, nil
}

// pointLatest makes runs/latest name the run id ("": removes it).
func pointLatest(runs, id string) {
	latest := filepath.Join(runs, "latest")
	if id == "" {
		os.Remove(latest)
		return
	}
	tmp := filepath.Join(runs, ".latest-"+id)
	if err := os.Symlink(id, tmp); err == nil {
		if err := os.Rename(tmp, latest); err != nil {
			os.Remove(tmp)
		}
	}
}

// ID is the run's id.
func (r *Record) ID() string { return r.info.ID }

// newRunID sorts by time and is unique across processes.
func newRunID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// logName makes a label a safe file name.
func logName(label string) string {
	s := strings.NewReplacer("/", "_", "\x00", "_").Replace(label)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s + ".log"
}

// HostLog returns the log of the host at index i; its file is created when
// output arrives. Write the host's stdout and stderr through its Stdout and
// Stderr; End it when the host ends.
func (r *Record) HostLog(i int) *HostLog {
	l := newHostLog(r, filepath.Join(r.Dir, r.info.Hosts[i].Log), r.MaxLog)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logs == nil {
		r.logs = make([]*HostLog, len(r.info.Hosts))
	}
	r.logs[i] = l
	return l
}

// Finish writes the results, the end time and the exit status to run.json
// and the failed and succeeded host files. It may be called once.
//
// A record that could not be written whole (a full disk, most often) is
// not left as a run that reads as killed: its folder is renamed
// runs/.incomplete-ID, which fleet runs does not list, "latest" goes back
// to the newest whole run, and the error (a *WriteError) says which file
// failed and how much room the state dir's filesystem has. The run's own
// outcome is the caller's to report, unchanged.
func (r *Record) Finish(results []fleet.Result, status int) error {
	bgErr := r.drain()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.info.End, r.info.Status = new(time.Now()), &status
	errs := []error{bgErr}
	var failed, succeeded strings.Builder
	for _, res := range results {
		h := &r.info.Hosts[res.Index]
		logPath := h.Log
		// The host as reached (user and port resolved), so that the failed
		// file reaches the same accounts when it is used as a host list.
		*h = HostOf(&res)
		h.Log = logPath
		if r.logs != nil && r.logs[res.Index] != nil {
			h.LogCut = r.logs[res.Index].Cut()
			errs = append(errs, r.logs[res.Index].Err())
		}
		if res.Outcome == fleet.OK {
			fmt.Fprintln(&succeeded, h.Target)
		} else {
			fmt.Fprintln(&failed, h.Target)
		}
	}
	errs = append(errs,
		r.writeFile(filepath.Join(r.Dir, "failed"), []byte(failed.String())),
		r.writeFile(filepath.Join(r.Dir, "succeeded"), []byte(succeeded.String())))
	if err := errors.Join(errs...); err != nil {
		return r.abandon(err)
	}
	// The logs are closed by now (each host's, as it ended). run.json
	// itself is left out of the count: it is small next to them.
	r.info.Bytes = dirSize(r.Dir)
	if err := r.writeInfo(); err != nil {
		return r.abandon(err)
	}
	return nil
}

// incompletePrefix names the folder a record that could not be written
// whole is moved to.
const incompletePrefix = ".incomplete-"

// abandon moves a record that failed to be written out of the list of runs
// and points latest back at the newest whole run.
func (r *Record) abandon(err error) error {
	runs := filepath.Dir(r.Dir)
	moved := filepath.Join(runs, incompletePrefix+r.info.ID)
	if rerr := os.Rename(r.Dir, moved); rerr != nil {
		moved = r.Dir
	}
	if target, _ := os.Readlink(filepath.Join(runs, "latest")); target == r.info.ID {
		newest := ""
		if list, _ := List(r.state); len(list) > 0 {
			newest = filepath.Base(list[0].Dir)
		}
		pointLatest(runs, newest)
	}
	return writeError(r.state, err, moved)
}

func (r *Record) writeInfo() error {
	b, err := json.MarshalIndent(r.info, "", "  ")
	if err != nil {
		return err
	}
	return r.writeFile(filepath.Join(r.Dir, "run.json"), append(b, '\n'))
}

// writeFile replaces name atomically: readers see the old or the new file,
// never half of one. Its error names name, not the temporary file.
func (r *Record) writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return pathError("create", name, err)
	}
	_, werr := r.writer(tmp).Write(data)
	op, err := "write", errors.Join(werr, tmp.Close())
	if err == nil {
		op, err = "chmod", os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		op, err = "rename", os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return pathError(op, name, err)
	}
	return nil
}
