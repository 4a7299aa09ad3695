package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// maxScriptHosts bounds fleethosts: a script is a fast test, not a scale
// test (fleet/leak_test.go runs 500 hosts).
const maxScriptHosts = 20

// writeClientKey writes a new ed25519 private key to path, as ssh reads
// it, and returns its public half for the servers to accept.
func writeClientKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err == nil {
		err = os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
	}
	if err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

// cmdFleetHosts is "fleethosts [-interp] N": it starts N in-process SSH
// servers (fleet/sshtest, with SFTP) named h1..hN, each with its home in
// $WORK/hI, and writes what a script needs to reach them the way a user
// reaches real hosts:
//
//	$WORK/key          the client's private key (the servers accept it)
//	$WORK/known_hosts  the servers' host keys
//	$WORK/ssh_config   Host hI -> 127.0.0.1 and its port; Host * with the key,
//	                   the known hosts, StrictHostKeyChecking yes, BatchMode
//	$WORK/hosts        h1..hN, one a line
//
// Commands run as the test's user, with no sshd and no root: real /bin/sh
// processes by default, or mvdan.cc/sh's interpreter inside the test
// process with -interp (sshtest.Interp). The servers stop when the script
// ends.
func cmdFleetHosts(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("fleethosts", flag.ContinueOnError)
	interp := fs.Bool("interp", false, "run commands with sshtest.Interp")
	if neg || fs.Parse(args) != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: fleethosts [-interp] N")
	}
	n, err := strconv.Atoi(fs.Arg(0))
	if err != nil || n < 1 || n > maxScriptHosts {
		ts.Fatalf("fleethosts: N must be 1..%d, not %q", maxScriptHosts, fs.Arg(0))
	}
	work := ts.Getenv("WORK")
	key := filepath.Join(work, "key")
	client, err := writeClientKey(key)
	ts.Check(err)

	cfg := sshtest.Config{AuthorizedKeys: []ssh.PublicKey{client}, SFTP: true}
	if *interp {
		cfg.Exec = sshtest.Interp()
	}
	var known, hosts, config strings.Builder
	for i := 1; i <= n; i++ {
		name := "h" + strconv.Itoa(i)
		cfg.Home = filepath.Join(work, name)
		ts.Check(os.MkdirAll(cfg.Home, 0o755))
		srv, err := sshtest.New(cfg)
		ts.Check(err)
		ts.Defer(srv.Close)
		known.WriteString(srv.KnownHostsLine() + "\n")
		hosts.WriteString(name + "\n")
		fmt.Fprintf(&config, "Host %s\n  HostName %s\n  Port %d\n", name, srv.Host, srv.Port)
	}
	fmt.Fprintf(&config, `Host *
  User tester
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
`, key, filepath.Join(work, "known_hosts"))
	ts.Check(os.WriteFile(filepath.Join(work, "known_hosts"), []byte(known.String()), 0o600))
	ts.Check(os.WriteFile(filepath.Join(work, "hosts"), []byte(hosts.String()), 0o644))
	ts.Check(os.WriteFile(filepath.Join(work, "ssh_config"), []byte(config.String()), 0o600))
}
