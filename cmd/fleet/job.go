package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"time"

	"golang.org/x/term"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
)

// job is what every host command (run, copy, ...) shares: the dialer, the
// run record, the printer, the signals and the exit status.
type job struct {
	env     *environment
	targets *targetOptions
	verb    string
	argv    []string

	capture      bool  // keep each host's output in its Result
	maxOutput    int64 // of each stream of each host kept (0: no limit)
	outputTotal  int64 // of all hosts' kept output (0: no limit)
	budget       *outputBudget
	print        bool // -P
	inline       bool
	inlineStdout bool
	gather       bool
	json         bool
	showChanged  bool           // copy, provision: say changed / unchanged
	totalBytes   int64          // transfers: count bytes on the bar
	maxFail      int            // stop starting hosts after this many failed (0: never)
	options      map[string]any // the command's own options, for run.json (never a secret)
	// inputs are the local files whose content the job sends (copy's
	// sources, a recipe and its files): the record keeps their checksums,
	// and fleet rerun refuses to send them once they have changed.
	inputs []record.Input

	// onDone, when set, is told about each host once it has its result
	// (the -o/-e files).
	onDone func(*fleet.Result)

	printer   *ui.Printer
	screen    ui.Options // how the output meets the terminal (terminal.go)
	record    *record.Record
	stateDir  string // the record's
	keepBytes int64  // FLEET_KEEP_SIZE
	logs      []*record.HostLog
}

// run dials every host and runs task on it, then records and reports.
func (j *job) run(ctx context.Context, task fleet.Task) error {
	hosts := j.targets.hosts
	if j.env.rerun != nil {
		if err := j.env.rerun.checkInputs(j.inputs); err != nil {
			return err
		}
	}
	j.screen = screenOptions(j.env.stdout, j.env.stderr, j.json, j.targets.escapes)
	dialOpts := j.targets.dial
	dialOpts.Warn = &noticeWriter{j: j, w: dialOpts.Warn}
	if toStderr := dialOpts.ExecStderr; toStderr != nil {
		// Above the progress line once the printer draws it (a host
		// resolved late, behind a jump host); before, to stderr.
		dialOpts.ExecStderr = func(line string) {
			if p := j.printer; p != nil {
				p.Notice(ui.CleanString(line, j.screen.StderrEscapes))
				return
			}
			toStderr(line)
		}
	}
	dialer, err := fleet.NewDialer(dialOpts)
	if err != nil {
		return &statusError{status: exitUsage, err: err}
	}
	defer dialer.Close()
	if err := dialer.Prepare(hosts); err != nil {
		return &statusError{status: exitUsage, err: err}
	}
	par, warning := fitOpenFiles(j.targets.par, len(hosts), nofile{})
	if warning != "" {
		fmt.Fprintf(j.env.stderr, "fleet: warning: %s\n", warning)
		j.targets.par = par
	}
	j.logs = make([]*record.HostLog, len(hosts))
	j.budget = newOutputBudget(j.outputTotal)
	j.record = j.newRecord()
	opts := j.screen
	opts.Inline, opts.InlineStdout, opts.Print, opts.JSON, opts.Gather = j.inline, j.inlineStdout, j.print, j.json, j.gather
	opts.Total, opts.Verb, opts.ShowChanged, opts.TotalBytes = len(hosts), j.verb, j.showChanged, j.totalBytes
	j.printer = ui.New(opts)
	ctx, intr := watchInterrupts(ctx, j.printer.Notice, func(ctx context.Context) { dialer.CloseAll(ctx); j.printer.Abort() },
		j.env.stdout, j.env.stderr)
	defer intr.stop()
	start := time.Now()
	results := fleet.Run(ctx, dialer, hosts, fleet.RunOptions{Parallel: j.targets.par, Timeout: j.targets.timeout,
		OnEvent: j.onEvent, MaxFail: j.maxFail, DialNote: j.note}, task)
	for i := range results {
		if results[i].Outcome == fleet.NotStarted {
			// The user and port it would have been reached with, as the
			// others have, for the record's failed file and its port.
			results[i].Host = dialer.Effective(results[i].Host)
		}
	}
	status := exitStatus(results, intr.status())
	j.reportHostKeys(dialer)
	j.end(results, status, time.Since(start))
	if status != exitOK {
		return withStatus(status)
	}
	return nil
}

// end writes the record's end and prints the end of the run. Everything
// it prints goes through the printer, whose lanes never wait for a reader
// that does not read past a second Ctrl-C (Abort): stderr written
// directly here could hold fleet up for ever after the printer let go.
func (j *job) end(results []fleet.Result, status int, elapsed time.Duration) {
	if j.finishRecord(results, status) {
		if line := j.logsCutLine(); line != "" {
			j.printer.After(line)
		}
		if status != exitOK {
			j.printer.After(fmt.Sprintf("fleet: the hosts that did not succeed are in %s/failed; logs in %s/hosts",
				j.record.Dir, j.record.Dir))
		}
	}
	j.printer.Finish(results, elapsed)
}

// finishRecord writes the run's end into its record. A record that cannot
// be written whole (a full disk) is a warning, not the run's outcome: the
// hosts' results are printed and the exit status is theirs, and the record
// package keeps the partial record out of the list of runs. It reports
// whether the record was written.
func (j *job) finishRecord(results []fleet.Result, status int) bool {
	if j.record == nil {
		return false
	}
	err := j.record.Finish(results, status)
	if err != nil {
		j.printer.Notice(fmt.Sprintf("fleet: warning: %v", err))
	}
	j.prune()
	return err == nil
}

// newRecord starts the run record. A run goes on without one when the state
// folder cannot be written, saying so.
func (j *job) newRecord() *record.Record {
	dir, err := record.StateDir()
	if err == nil {
		var rec *record.Record
		opts := map[string]any{"par": j.targets.par, "timeout": j.targets.timeout.String()}
		maps.Copy(opts, j.options)
		info := record.Info{Command: j.verb, Args: j.argv, Options: opts, RerunOf: j.targets.rerunOf, Inputs: j.inputs}
		if j.env.rerun != nil {
			info.RerunOf = j.env.rerun.of.Info.ID
		}
		// The folder the paths in Args are relative to, for fleet rerun;
		// "" if it cannot be named (the record says so by its absence).
		info.Dir, _ = os.Getwd()
		if rec, err = record.New(dir, info, j.targets.hosts); err == nil {
			rec.MaxLog = j.targets.maxLog
			j.stateDir, j.keepBytes = dir, keepSize(j.env.stderr)
			j.prune()
			return rec
		}
	}
	fmt.Fprintf(j.env.stderr, "fleet: warning: no run record: %v\n", err)
	return nil
}

// prune removes old run records past FLEET_KEEP_RUNS and FLEET_KEEP_SIZE:
// when a run starts, so that runs killed before their end are pruned too,
// and when it ends, so that the records stay within the size between runs
// (the run that just ended is the newest, which is always kept).
func (j *job) prune() {
	if err := record.Prune(j.stateDir, keepRuns(), j.keepBytes); err != nil {
		j.warn(fmt.Sprintf("fleet: warning: pruning old run records: %v", err))
	}
}

// warn prints a line of fleet's own: through the printer once there is
// one (above the progress line, never waiting for a reader that does not
// read), else on stderr.
func (j *job) warn(line string) {
	if j.printer != nil {
		j.printer.Notice(line)
		return
	}
	fmt.Fprintln(j.env.stderr, line)
}

// keepRuns is how many run records to keep: FLEET_KEEP_RUNS, else 100.
func keepRuns() int {
	if n, err := strconv.Atoi(os.Getenv("FLEET_KEEP_RUNS")); err == nil && n > 0 {
		return n
	}
	return 100
}

// defaultKeepSize bounds the run records together: the newest runs are
// kept while they fit (the one starting is always kept). Sixty-four hosts
// printing the whole default --max-log fill it.
const defaultKeepSize = 1 << 30

// keepSize is how many bytes all run records may take: FLEET_KEEP_SIZE
// (like 500M or 2G; 0 = no bound), else 1 GiB.
func keepSize(stderr io.Writer) int64 {
	v := os.Getenv("FLEET_KEEP_SIZE")
	if v == "" {
		return defaultKeepSize
	}
	n, err := parseSize(v, "FLEET_KEEP_SIZE")
	if err != nil {
		fmt.Fprintf(stderr, "fleet: warning: %v; keeping %s of run records\n", err, formatSize(defaultKeepSize))
		return defaultKeepSize
	}
	return n
}

// logsCutLine says how many hosts' logs stopped at --max-log, since the
// record then lacks part of what they printed; "" when none did.
func (j *job) logsCutLine() string {
	n := 0
	for _, l := range j.logs {
		if l != nil && l.Cut() > 0 {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("fleet: warning: %d of %d hosts printed more than --max-log %s; their logs in %s/hosts keep the first %s",
		n, len(j.logs), formatSize(j.targets.maxLog), j.record.Dir, formatSize(j.targets.maxLog))
}

// onEvent runs on the host's worker goroutine: it opens the host's log
// before the task runs and closes it once the host has its result.
func (j *job) onEvent(ev fleet.Event) {
	if j.record != nil {
		switch ev.Kind {
		case fleet.HostStarted:
			l := j.record.HostLog(ev.Index)
			j.logs[ev.Index] = l
			l.Note("start " + ev.Host.String())
		case fleet.HostDone:
			if l := j.logs[ev.Index]; l != nil {
				// A log that could not be written says so at Finish.
				_ = l.End(ev.Result)
			}
		}
	}
	if ev.Kind == fleet.HostDone && j.onDone != nil {
		j.onDone(ev.Result)
	}
	j.printer.Event(ev)
}

// note writes a line of fleet's own into host i's log, opened by onEvent
// before the dial started (a ProxyCommand's stderr, a copy step); nothing
// without a run record.
func (j *job) note(i int, line string) {
	if l := j.logs[i]; l != nil {
		l.Note(line)
	}
}

// exitStatus applies pssh's precedence: timeout or killed (3), then
// unreachable (4), then a remote failure (5). A run stopped by a signal
// exits with that signal's status (interrupted, 0 when none came).
func exitStatus(results []fleet.Result, interrupted int) int {
	if interrupted != 0 {
		return interrupted
	}
	s := fleet.Summarize(results)
	switch {
	// Hosts not started (--max-fail) are not a cause of their own: the
	// failures that stopped the run decide.
	case s[fleet.TimedOut]+s[fleet.Cancelled] > 0:
		return exitTimeout
	case s[fleet.Unreachable] > 0:
		return exitUnreachable
	case s[fleet.Failed] > 0:
		return exitRemote
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// hostOutput fans one host's output out to its log, the -P printer, the -o/-e
// files and the capture buffers.
type hostOutput struct {
	job            *job
	log            *record.HostLog
	capOut, capErr *capture
	// -P's, from ui.Printer.LineWriter.
	lineOut, lineErr interface {
		io.Writer
		Flush()
	}
}

func (j *job) outputs(r *fleet.Result) *hostOutput {
	o := &hostOutput{job: j, log: j.logs[r.Index]}
	if j.capture {
		o.capOut = newCapture(j.maxOutput, j.budget, j.gather)
		o.capErr = newCapture(j.maxOutput, j.budget, j.gather)
	}
	if j.print {
		o.lineOut = j.printer.LineWriter(r.Index, r.Host.Label, false)
		o.lineErr = j.printer.LineWriter(r.Index, r.Host.Label, true)
	}
	return o
}

// streams are the writers of the host's standard output and error: its log,
// capture buffers, -P lines and -o/-e files, whichever are on.
func (o *hostOutput) streams(outFile, errFile *os.File) (stdout, stderr io.Writer) {
	var outs, errs []io.Writer
	if o.log != nil {
		outs, errs = append(outs, o.log.Stdout()), append(errs, o.log.Stderr())
	}
	if o.capOut != nil {
		outs, errs = append(outs, o.capOut), append(errs, o.capErr)
	}
	if o.lineOut != nil {
		outs, errs = append(outs, o.lineOut), append(errs, o.lineErr)
	}
	if outFile != nil {
		outs = append(outs, outFile)
	}
	if errFile != nil {
		errs = append(errs, errFile)
	}
	return multi(outs), multi(errs)
}

// finish moves the captured output into the result.
func (o *hostOutput) finish(r *fleet.Result) {
	o.close()
	if o.capOut == nil {
		return
	}
	path, logCut := "", false
	if o.log != nil {
		path, logCut = o.log.Path(), o.log.Cut() > 0
	}
	j := o.job
	r.Stdout = o.capOut.bytes(cutMark("stdout", j.maxOutput, j.budget, path, logCut))
	r.Stderr = o.capErr.bytes(cutMark("stderr", j.maxOutput, j.budget, path, logCut))
	r.StdoutCut, r.StderrCut = o.capOut.cut(), o.capErr.cut()
	r.StdoutSum, r.StderrSum = o.capOut.sha256(), o.capErr.sha256()
}

func (o *hostOutput) close() {
	if o.lineOut != nil {
		o.lineOut.Flush()
		o.lineErr.Flush()
	}
}

func multi(ws []io.Writer) io.Writer {
	switch len(ws) {
	case 0:
		return io.Discard
	case 1:
		return ws[0]
	}
	return io.MultiWriter(ws...)
}
