package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fleet-sh/fleet/inventory"
)

// RunInfo is what run.json says about a run. It never holds a secret: the
// caller gives the command line with passwords already out of it (fleet
// asks for them on the terminal, so they are never in argv).
type RunInfo struct {
	ID      string         `json:"id"`
	Command string         `json:"command"` // run, copy, slurp, provision
	Args    []string       `json:"args"`    // the command line, without the program name
	Options map[string]any `json:"options,omitempty"`
	Start   time.Time      `json:"start"`
	End     *time.Time     `json:"end"` // null while the run is live or if it was killed outright
	Status  *int           `json:"status"`
	RerunOf string         `json:"rerun_of,omitempty"`
	PID     int            `json:"pid"`
	Hosts   []HostInfo     `json:"hosts"`
	// Bytes is the size of the record's files when the run ended, so that
	// pruning by size need not walk every finished record.
	Bytes int64 `json:"bytes,omitempty"`
}

// HostInfo is one host's line in run.json.
type HostInfo struct {
	Label    string     `json:"label"`
	Host     string     `json:"host"` // as written: [user@]host[:port]
	User     string     `json:"user,omitempty"`
	Outcome  Outcome    `json:"outcome"`
	ExitCode int        `json:"exit_code"`
	Changed  bool       `json:"changed,omitempty"`
	Detail   string     `json:"detail,omitempty"`
	Error    string     `json:"error,omitempty"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Log      string     `json:"log"`
	// LogCut counts the bytes of output the log left out, past MaxLog.
	LogCut int64 `json:"log_cut,omitempty"`
	// StderrTail is the failing command's stderr kept with the host's
	// error (a recipe step, a put's install script): its last 64 KiB
	// (StderrKeep), of which Error shows the last line.
	StderrTail string `json:"stderr_tail,omitempty"`
	// Ended is set when reading a run that has not ended (live or killed)
	// for a host whose log says it is done; never written.
	Ended bool `json:"-"`
}

// Record is the on-disk record of one run: run.json, one log per host
// written as output arrives, and pssh host files "failed" and "succeeded".
// Folders are 0700 and files 0600: output may be sensitive.
type Record struct {
	Dir string
	// MaxLog bounds each host's log: past this many bytes of output it
	// keeps no more (see HostLog). 0: no bound. Set it before HostLog.
	MaxLog int64
	info   RunInfo
	mu     sync.Mutex
	logs   []*HostLog // by host index, as handed out

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

// NewRecord creates the record of a run that starts now under
// stateDir/runs, writes its first run.json and points "latest" at it.
func NewRecord(stateDir string, info RunInfo, hosts []inventory.Host) (*Record, error) {
	runs := filepath.Join(stateDir, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if info.Start.IsZero() {
		info.Start = time.Now()
	}
	info.ID = newRunID(info.Start)
	info.PID = os.Getpid()
	dir := filepath.Join(runs, info.ID)
	if err := os.MkdirAll(filepath.Join(dir, "hosts"), 0o700); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	info.Hosts = make([]HostInfo, len(hosts))
	for i, h := range hosts {
		info.Hosts[i] = HostInfo{Label: h.Label, Host: h.String(), User: h.User, Outcome: NotStarted,
			ExitCode: -1, Log: filepath.Join("hosts", logName(h.Label))}
	}
	r := &Record{Dir: dir, info: info}
	if err := r.writeInfo(); err != nil {
		return nil, err
	}
	// latest is a relative symlink replaced atomically, so a reader never
	// sees it missing.
	tmp := filepath.Join(runs, ".latest-"+info.ID)
	if err := os.Symlink(info.ID, tmp); err == nil {
		if err := os.Rename(tmp, filepath.Join(runs, "latest")); err != nil {
			os.Remove(tmp)
		}
	}
	return r, nil
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
// Stderr; Close it when the host ends.
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
func (r *Record) Finish(results []Result, status int) error {
	bgErr := r.drain()
	r.mu.Lock()
	defer r.mu.Unlock()
	end := time.Now()
	r.info.End = &end
	r.info.Status = &status
	var failed, succeeded strings.Builder
	for _, res := range results {
		h := &r.info.Hosts[res.Index]
		h.Outcome, h.ExitCode, h.Changed, h.Detail = res.Outcome, res.ExitCode, res.Changed, res.Detail
		// The host as reached (user and port resolved), so that the failed
		// file reaches the same accounts when it is used as a host list.
		h.Host, h.User = res.Host.String(), res.Host.User
		h.Error, h.StderrTail = res.Reason(), StderrOf(res.Err)
		if r.logs != nil && r.logs[res.Index] != nil {
			h.LogCut = r.logs[res.Index].Cut()
		}
		if !res.Start.IsZero() {
			s, e := res.Start, res.End
			h.Start, h.End = &s, &e
		}
		if res.Outcome == OK {
			fmt.Fprintln(&succeeded, h.Host)
		} else {
			fmt.Fprintln(&failed, h.Host)
		}
	}
	err := errors.Join(bgErr,
		writeFile(filepath.Join(r.Dir, "failed"), []byte(failed.String())),
		writeFile(filepath.Join(r.Dir, "succeeded"), []byte(succeeded.String())))
	// The logs are closed by now (each host's, as it ended). run.json
	// itself is left out of the count: it is small next to them.
	r.info.Bytes = dirSize(r.Dir)
	err = errors.Join(err, r.writeInfo())
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

func (r *Record) writeInfo() error {
	b, err := json.MarshalIndent(r.info, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(r.Dir, "run.json"), append(b, '\n'))
}

// writeFile replaces name atomically: readers see the old or the new file,
// never half of one.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}
