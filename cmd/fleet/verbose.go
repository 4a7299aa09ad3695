package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/fleet-sh/fleet/cmd/fleet/ui"
)

// verboseTrace is -v (--verbose, PSSH_VERBOSE): the dialer's trace of each
// host, as ssh -v says it but one line a step, to stderr:
//
//	fleet: web1: resolved 10.0.0.5:22 as user deploy (hostname from ~/.ssh/config:4)
//	fleet: web1: connected to 10.0.0.5:22 in 12ms
//	fleet: web1: auth publickey ~/.ssh/id_rsa (ssh-rsa SHA256:...): refused
//	fleet: web1: auth ok (publickey) in 30ms
//	fleet: web1: ran in 1.2s, exit 0
//
// pssh's -v prints ssh's own error messages; fleet has no ssh to ask, so
// it says what it does itself. The lines quote host names and files from
// the user's lists: on a terminal their control characters are shown, not
// obeyed, as for warnings. nil when off.
func verboseTrace(on bool, stderr io.Writer, escapes ui.Escapes) func(host, msg string) {
	if !on {
		return nil
	}
	w, _ := cleanOnTerminal(stderr, escapes) // whole lines: nothing is held back
	var mu sync.Mutex
	return func(host, msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "fleet: %s: %s\n", host, msg)
	}
}
