package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// floorFlag selects the floor client mode. It is not a flag of the flag set
// (so -help does not list it): only the bench itself starts this mode.
const floorFlag = "-floor"

// floorMain is the floor: the least an SSH client must do to run a command
// on every host, written straight on golang.org/x/crypto/ssh. Per host it
// connects, checks the host key against known_hosts, authenticates with one
// key, runs the command in one session and closes; -p workers share the
// hosts. Like OpenSSH it asks for a host key of the type known_hosts holds
// (x/crypto would otherwise take the server's ECDSA key and fail the check
// against a known Ed25519 one, golang/go#29286). No ssh_config, no agent, no output handling, no records, no retries:
// whatever fleet spends beyond this is fleet's own cost. It returns the exit
// status: 0 when every host ran the command with status 0.
//
// With -seq, each argument is a command of its own, run in turn, each in a
// session of its own on the host's one connection (the seed part's floor:
// its typed sequence over one connection per host). Like the typed sequence
// it goes on after a command that exits non-zero, counting such exits on
// stderr; only a failed connection or session makes the status non-zero.
func floorMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench "+floorFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	hostsFile := fs.String("h", "", "pssh host file: user@host:port a line")
	keyFile := fs.String("i", "", "private key (unencrypted)")
	knownFile := fs.String("known-hosts", "", "known_hosts file")
	par := fs.Int("p", defaultPar, "at most this many hosts at a time")
	timeout := fs.Duration("connect-timeout", 10*time.Second, "TCP connect and handshake time limit")
	seq := fs.Bool("seq", false, "run each argument as its own command, in turn, on one connection")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || *hostsFile == "" || *keyFile == "" || *knownFile == "" || *par < 1 {
		fmt.Fprintln(stderr, "usage: bench -floor -h HOSTS -i KEY -known-hosts FILE [-p N] [-seq] COMMAND...")
		return 2
	}
	commands := []string{strings.Join(fs.Args(), " ")}
	if *seq {
		commands = fs.Args()
	}
	exits := make([]atomic.Int32, len(commands)) // hosts where command i exited non-zero

	targets, err := readTargets(*hostsFile)
	if err != nil {
		fmt.Fprintln(stderr, "floor:", err)
		return 1
	}
	pem, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "floor:", err)
		return 1
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		fmt.Fprintln(stderr, "floor: key:", err)
		return 1
	}
	hostKeys, algos, err := knownHosts(*knownFile)
	if err != nil {
		fmt.Fprintln(stderr, "floor: known_hosts:", err)
		return 1
	}

	// One bounded pool of workers: -p means the same as for fleet and pssh.
	work := make(chan target)
	var failed atomic.Int32
	var mu sync.Mutex // keeps error lines whole
	var wg sync.WaitGroup
	for range min(*par, len(targets)) {
		wg.Go(func() {
			for t := range work {
				cfg := &ssh.ClientConfig{
					User:              t.user,
					Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
					HostKeyCallback:   hostKeys,
					HostKeyAlgorithms: algos[knownhosts.Normalize(t.addr)],
					Timeout:           *timeout,
				}
				if err := runOn(t.addr, cfg, commands, *seq, exits); err != nil {
					failed.Add(1)
					mu.Lock()
					fmt.Fprintf(stderr, "floor: %s@%s: %v\n", t.user, t.addr, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, t := range targets {
		work <- t
	}
	close(work)
	wg.Wait()
	for i := range exits {
		if n := exits[i].Load(); n > 0 {
			fmt.Fprintf(stderr, "floor: command %d exited non-zero on %d hosts: %s\n", i+1, n, commands[i])
		}
	}
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(stderr, "floor: %d of %d hosts failed\n", n, len(targets))
		return 1
	}
	return 0
}

// runOn connects to addr, runs each command in a session of its own and
// closes. A non-zero exit status comes back from Run as an *ssh.ExitError:
// an error, unless seq, where it is counted in exits and the next command
// runs.
func runOn(addr string, cfg *ssh.ClientConfig, commands []string, seq bool, exits []atomic.Int32) error {
	client, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	for i, command := range commands {
		sess, err := client.NewSession()
		if err != nil {
			return err
		}
		err = sess.Run(command)
		sess.Close()
		if _, exit := errors.AsType[*ssh.ExitError](err); seq && exit {
			exits[i].Add(1)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// target is one line of the host file.
type target struct {
	user, addr string // addr is host:port
}

// readTargets parses the harness's host file, whose lines are all
// user@host:port; blank lines and # comments are skipped. The user defaults
// to $USER and the port to 22, as pssh does.
func readTargets(path string) ([]target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []target
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t := target{user: os.Getenv("USER")}
		if u, rest, ok := strings.Cut(line, "@"); ok {
			t.user, line = u, rest
		}
		if _, _, err := net.SplitHostPort(line); err != nil {
			line = net.JoinHostPort(line, "22")
		}
		t.addr = line
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no hosts", path)
	}
	return out, nil
}

// knownHosts reads a known_hosts file: the callback that checks a host's
// key, and each host name, as knownhosts.Normalize writes it, mapped to the
// host key algorithms of its keys. Plain names only: the harness writes
// neither hashed names nor patterns.
func knownHosts(path string) (ssh.HostKeyCallback, map[string][]string, error) {
	check, err := knownhosts.New(path)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]string{}
	for len(b) > 0 {
		_, hosts, key, _, rest, err := ssh.ParseKnownHosts(b)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
		b = rest
		algos := []string{key.Type()}
		if key.Type() == ssh.KeyAlgoRSA { // an RSA key signs with SHA-2 too
			algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, h := range hosts {
			h = knownhosts.Normalize(h)
			out[h] = append(out[h], algos...)
		}
	}
	return check, out, nil
}
