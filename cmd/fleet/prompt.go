package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	"golang.org/x/term"
)

// askSecret asks for a secret on the controlling terminal, without echo.
// It reads /dev/tty rather than stdin, which may carry host lists (-h -) or
// input for the hosts (-I).
func askSecret(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot ask for %s: no terminal (use the matching --*-file option)", prompt)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s: ", prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", prompt, err)
	}
	return b, nil
}

// openSecretFile opens a file that holds a secret, refusing one that others
// can read: a secret in a world-readable file is not one. The mode is
// checked on the file opened, not on its name.
func openSecretFile(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		err = fmt.Errorf("%s: others can read it (mode %04o); chmod 600 it", name, st.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readSecretFile reads a secret from the first line of a file (see
// openSecretFile).
func readSecretFile(name string) ([]byte, error) {
	f, err := openSecretFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	return bytes.Clone(sc.Bytes()), nil
}

// secretSource returns a function that yields the secret from file when
// given, else asks once on the terminal.
func secretSource(file, prompt string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if file != "" {
			return readSecretFile(file)
		}
		return askSecret(prompt)
	}
}

// terminalPassphrase returns the question for an encrypted key's
// passphrase when there is a terminal to ask at, else nil (fleet then skips
// the key with a warning saying how to use it: ssh-agent or -A). The dialer
// asks once per key file, before the run starts, and the answer stays in
// memory only.
func terminalPassphrase() func(file string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	ok := term.IsTerminal(int(tty.Fd()))
	tty.Close()
	if !ok {
		return nil
	}
	return func(file string) ([]byte, error) {
		return askSecret(fmt.Sprintf("Enter passphrase for key '%s'", file))
	}
}
