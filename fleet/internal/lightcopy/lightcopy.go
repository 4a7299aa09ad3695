// Package lightcopy copies a command's output stream with little memory.
// The engine (fleet) and the run record (fleet/record) both hand writers to
// the SSH library, which copies each output stream with io.Copy; both use
// this copy through a ReadFrom method.
package lightcopy

import (
	"io"
	"sync"
)

// Copy's buffers: a small one to start with, and a pooled larger one once
// a read fills the small one, i.e. once output really flows.
const (
	StartSize = 512
	bufSize   = 4 << 10
)

var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Copy copies r to w until EOF, as io.Copy does, but lightly. The SSH
// library copies each output stream of a session with io.Copy, which
// allocates 32 KiB per stream and holds it as long as the command runs, in
// a goroutine blocked in Read: at -p 1000 those buffers were most of
// fleet's memory, for commands that mostly print nothing, or one line (the
// exec wrapper's PID marker on stderr). Copy reads with 512 bytes and takes
// a pooled 4 KiB buffer only once a read fills those; a writer gets it by
// having a ReadFrom method that calls Copy, which io.Copy then uses.
func Copy(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, StartSize)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
			if k == len(buf) && len(buf) < bufSize {
				bp := bufs.Get().(*[]byte)
				defer bufs.Put(bp)
				buf = *bp
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
