package record

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// WriteError reports a run record that could not be written: which file,
// why, and how much room the state dir's filesystem had then.
type WriteError struct {
	Path string // the record's file that failed
	Err  error  // the reason, e.g. syscall.ENOSPC
	// Free and Size are the state dir's filesystem's bytes available to
	// fleet and its size (statfs); both 0 when statfs failed.
	Free, Size uint64
	// Moved is where the partial record was put (runs/.incomplete-ID), ""
	// when nothing was left.
	Moved string
}

// Error says which file failed, why, the room left, and where the partial
// record is.
func (e *WriteError) Error() string {
	msg := "run record: " + e.Path + ": " + e.Err.Error()
	if e.Size > 0 {
		msg += fmt.Sprintf(" (%s free of %s on the state dir's filesystem)", size(e.Free), size(e.Size))
	}
	if e.Moved != "" {
		msg += "; the partial record is in " + e.Moved
	} else {
		msg += "; nothing of it was kept"
	}
	return msg
}

// Unwrap returns the reason, so that errors.Is(err, syscall.ENOSPC) works.
func (e *WriteError) Unwrap() error { return e.Err }

// pathError names the record's file in err, dropping the path of the
// temporary file the operating system's error may name.
func pathError(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// writeError makes err, the first of the record's write errors, a
// *WriteError with the state dir's free space.
func writeError(stateDir string, err error, moved string) error {
	we := &WriteError{Err: err, Moved: moved}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		we.Path, we.Err = pe.Path, pe.Err
	}
	var st syscall.Statfs_t
	if syscall.Statfs(stateDir, &st) == nil {
		we.Free, we.Size = st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
	}
	we.Path = cmp.Or(we.Path, stateDir)
	return we
}

// size writes a byte count as fleet's sizes are written: 512B, 3.5K, 16M.
func size(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f, u := float64(n), -1
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if f < 10 && f != float64(int64(f)) {
		return fmt.Sprintf("%.1f%c", f, units[u])
	}
	return fmt.Sprintf("%.0f%c", f, units[u])
}
