package record

import (
	"cmp"
	"encoding/json"
	"time"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/inventory"
)

// Version is the version of run.json's layout that this package writes.
// Version 1 (no "version" field) named the host's target "host" and its
// label "label"; Load reads it into today's fields.
const Version = 2

// Info is what run.json says about a run. It never holds a secret: the
// caller gives the command line with passwords already out of it (fleet
// asks for them on the terminal, so they are never in argv).
type Info struct {
	Version int            `json:"version"`
	ID      string         `json:"id"`
	Command string         `json:"command"` // run, copy, slurp, provision
	Args    []string       `json:"args"`    // the command line, without the program name
	Options map[string]any `json:"options,omitempty"`
	// Dir is the folder the run was started in, absolute: the relative
	// paths in Args are relative to it, and fleet rerun reads them there.
	Dir string `json:"dir,omitempty"`
	// Inputs are the local files whose content the run sent (copy's
	// sources, a recipe and its files), by absolute path and SHA-256, so
	// that fleet rerun refuses to send other content under the same names.
	Inputs  []Input    `json:"inputs,omitempty"`
	Start   time.Time  `json:"start"`
	End     *time.Time `json:"end"` // null while the run is live or if it was killed outright
	Status  *int       `json:"status"`
	RerunOf string     `json:"rerun_of,omitempty"`
	PID     int        `json:"pid"`
	Hosts   []Host     `json:"hosts"`
	// Bytes is the size of the record's files when the run ended, so that
	// pruning by size need not walk every finished record.
	Bytes int64 `json:"bytes,omitempty"`
}

// Input is a local file a run sent, as it was then.
type Input struct {
	Path   string `json:"path"`   // absolute
	SHA256 string `json:"sha256"` // hex
}

// Host is one host's result, in one schema everywhere: an entry of
// run.json's "hosts", a line of --json, and the hosts of
// `fleet runs show --json`.
//
// "host" is the host's label: the host as the host list wrote it, made
// unique within the run (web1, root@web1:2222, web1.1 for a second web1);
// it names the host in fleet's output, in -o/-e file names and in fleet
// logs. "target" is where fleet connected: [user@]name[:port] with the
// user and port that ssh_config and -l resolved (the port left out when it
// is 22); the record's failed and succeeded files list targets, so that
// they read back as a host list that reaches the same accounts. (fleet
// hosts --json's "address" is another thing, the network address that
// ssh_config's HostName gives, hence "target" here.)
//
// Stdout and Stderr are only in --json (the record has the host's whole
// log instead); Log and LogCut only in the record.
type Host struct {
	Host   string `json:"host"`
	Target string `json:"target"`
	User   string `json:"user"`
	Name   string `json:"name"`
	// Port is the port dialled: 22 unless the host list or ssh_config set
	// another.
	Port int `json:"port"`
	// Groups are the host's groups in a sectioned host file or an Ansible
	// inventory (as fleet hosts --json has them), so that fleet rerun
	// --limit can select by them; absent for a plain host list.
	Groups  []string      `json:"groups,omitempty"`
	Outcome fleet.Outcome `json:"outcome"`
	// Kind is the failure's kind, "" when ok: one of fleet's Kind
	// constants (unreachable, auth, host-key, timeout, cancelled,
	// not-started, exit, sudo, transfer, login, error).
	Kind     string `json:"kind,omitempty"`
	ExitCode int    `json:"exit_code"` // -1 when the command reported none
	Changed  bool   `json:"changed"`
	Error    string `json:"error"`            // "" when ok, else the full reason
	Detail   string `json:"detail,omitempty"` // a summary of the work: provision's distro, platform and step counts
	// Steps are the recipe steps the host reached, with their outcomes
	// (provision only).
	Steps []fleet.Step `json:"steps,omitempty"`
	// StderrTail is the failing command's stderr kept with the host's
	// error (a recipe step, a put's install script): its last 64 KiB
	// (fleet.StderrKeep), of which Error shows the last line.
	StderrTail string  `json:"stderr_tail,omitempty"`
	Stdout     *string `json:"stdout,omitempty"`
	Stderr     *string `json:"stderr,omitempty"`
	// StdoutCut and StderrCut count the bytes past --max-output left out of
	// Stdout and Stderr, where a mark says so; the host's log has them.
	StdoutCut  int64      `json:"stdout_cut,omitempty"`
	StderrCut  int64      `json:"stderr_cut,omitempty"`
	Start      *time.Time `json:"start"` // null for a host that never started
	End        *time.Time `json:"end"`
	DurationMS int64      `json:"duration_ms"`
	// Log is the host's log file, relative to the record's folder.
	Log string `json:"log,omitempty"`
	// LogCut counts the bytes of output the log left out, past MaxLog.
	LogCut int64 `json:"log_cut,omitempty"`
	// Ended is set when reading a run that has not ended (live or killed)
	// for a host whose log says it is done; never written.
	Ended bool `json:"-"`
}

// HostOf is a result in the record's schema, without its output (Stdout,
// Stderr) or log: --json adds the one, the record the other.
func HostOf(r *fleet.Result) Host {
	h := Host{
		Host:       cmp.Or(r.Host.Label, r.Host.String()),
		Target:     r.Host.String(),
		User:       r.Host.User,
		Name:       r.Host.Name,
		Port:       cmp.Or(r.Host.Port, 22),
		Groups:     r.Host.Groups,
		Outcome:    r.Outcome,
		Kind:       r.Kind(),
		ExitCode:   r.ExitCode,
		Changed:    r.Changed,
		Error:      r.Reason(),
		Detail:     r.Detail,
		Steps:      r.Steps,
		StderrTail: fleet.StderrOf(r.Err),
		DurationMS: r.Duration().Milliseconds(),
	}
	if !r.Start.IsZero() {
		h.Start = new(r.Start)
	}
	if !r.End.IsZero() {
		h.End = new(r.End)
	}
	return h
}

// UnmarshalJSON reads a host of either layout: version 1's "label" (the
// label) and "host" (the target) become Host and Target.
func (h *Host) UnmarshalJSON(b []byte) error {
	type plain Host // without this method
	var v struct {
		plain
		Label *string `json:"label"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*h = Host(v.plain)
	if v.Label != nil {
		h.Target, h.Host = h.Host, *v.Label
		// Version 1 kept no name or port of their own.
		if hs, err := inventory.ParseArgs(h.Target, "run.json"); err == nil && len(hs) == 1 {
			h.Name, h.Port = hs[0].Name, cmp.Or(hs[0].Port, 22)
		}
	}
	return nil
}
