package fleet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// fakeSudo behaves like sudo -S/-n for the test server: with -S it prints
// the -p prompt on stderr, reads one line and compares it with the password
// in $FAKE_SUDO_PW, three tries as sudo gives; with -n it fails as sudo does
// when a password is needed. It records its argv, so the test can check
// that the password never appears there.
const fakeSudo = `#!/bin/sh
echo "$*" >> "$FAKE_SUDO_LOG"
prompt=""; mode=""
while [ $# -gt 0 ]; do
  case "$1" in
    -S) mode=S; shift;;
    -n) mode=n; shift;;
    -p) prompt="$2"; shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
if [ "$mode" = n ]; then echo "sudo: a password is required" >&2; exit 1; fi
tries=0
while [ $tries -lt 3 ]; do
  printf '%s' "$prompt" >&2
  IFS= read -r pw || exit 1
  if [ "$pw" = "$FAKE_SUDO_PW" ]; then exec "$@"; fi
  echo "Sorry, try again." >&2
  tries=$((tries+1))
done
echo "sudo: 3 incorrect password attempts" >&2
exit 1
`

// sudoServer dials a server with cfg whose PATH finds fakeSudo first,
// with the password hunter2; it returns the file of sudo's argv.
func sudoServer(t *testing.T, cfg sshtest.Config) (*Conn, string) {
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "sudo"), fakeSudo, 0o755)
	log := filepath.Join(t.TempDir(), "argv")
	cfg.Env = append(cfg.Env, "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_SUDO_PW=hunter2", "FAKE_SUDO_LOG="+log)
	c, _ := connect(t, cfg)
	return c, log
}

// TestSudo: the password goes to sudo only when it asks, never in argv or
// to the command; a wrong one fails once without an echo; none at all
// says what to do. The three share one connection.
func TestSudo(t *testing.T) {
	c, log := sudoServer(t, sshtest.Config{})
	t.Run("password given only when asked", func(t *testing.T) {
		var out, errb bytes.Buffer
		err := execOn(t, c, &Command{Line: "cat; echo done", Sudo: true, SudoPassword: []byte("hunter2"),
			Stdin: strings.NewReader("input for the command\n"), Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("%v (stderr %q)", err, errb.String())
		}
		// The command got its input, not the password; no marker leaks out.
		if out.String() != "input for the command\ndone\n" || errb.String() != "" {
			t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
		}
		argv, _ := os.ReadFile(log)
		if bytes.Contains(argv, []byte("hunter2")) || !bytes.Contains(argv, []byte("-S")) {
			t.Fatalf("sudo argv: %s", argv)
		}
	})
	t.Run("wrong password fails once", func(t *testing.T) {
		var errb bytes.Buffer
		err := execOn(t, c, &Command{Line: "echo ran", Sudo: true, SudoPassword: []byte("wrong"), Stderr: &errb})
		if !errors.Is(err, errSudo) || !strings.Contains(err.Error(), "incorrect sudo password") || OutcomeOf(err) != Failed {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(errb.String(), "wrong") {
			t.Fatalf("password echoed: %q", errb.String())
		}
	})
	t.Run("no password explains what to do", func(t *testing.T) {
		err := execOn(t, c, &Command{Line: "echo ran", Sudo: true})
		if !errors.Is(err, errSudo) || !strings.Contains(Hint(err), "-S") {
			t.Fatalf("got %v, hint %q", err, Hint(err))
		}
	})
}
