// Command testfleet brings up and tears down a fleet of local sshd hosts
// (see package harness) for `make demo` and for humans trying fleet by hand.
//
//	testfleet up -n 4 -dir DIR     start 4 hosts, leave them running, print the paths
//	testfleet status -dir DIR      say which hosts of DIR/fleet.json are running
//	testfleet down -dir DIR        stop them
//
// The sshd processes run in their own session, so `up` returns while they
// keep serving; `down` finds them again through DIR/fleet.json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fleet-sh/fleet/e2e/harness"
)

const usage = `usage:
  testfleet up [-n HOSTS] [-port PORT] [-q] -dir DIR   start a fleet of local sshd hosts and return
  testfleet up -distros ubuntu-16.04,debian-12,... -dir DIR
                                                       the same, each host with its own filesystem and
                                                       that distribution's os-release and package tools
  testfleet up -faults ok,refuse,nobanner,... -dir DIR
                                                       one host per entry: "ok" is healthy, any other a
                                                       fault personality (see harness.Fault); with
                                                       -distros, as many entries as distributions
  testfleet status -dir DIR                            show the hosts of the fleet in DIR
  testfleet down -dir DIR                              stop the fleet in DIR
  testfleet tools                                      install sshd and sudo with apt-get when missing

Needs root (it creates the users fleet-np, fleet-pw, fleet-plain and runs sshd).
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "testfleet:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	if args[0] == "tools" {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		return harness.EnsureTools(ctx, stderr)
	}
	fs := flag.NewFlagSet("testfleet "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	dir := fs.String("dir", "", "working folder of the fleet (required)")
	n := fs.Int("n", 4, "number of hosts (up)")
	port := fs.Int("port", harness.DefaultPort, "sshd port on every host (up)")
	quiet := fs.Bool("q", false, "do not report progress (up)")
	distros := fs.String("distros", "", "comma-separated distributions, one host each (up): "+strings.Join(harness.Distros(), ", "))
	faults := fs.String("faults", "", "comma-separated fault personalities, one host each, \"ok\" for a healthy one (up): "+faultNames())
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("-dir is required")
	}
	switch args[0] {
	case "up":
		var log io.Writer = stderr
		if *quiet {
			log = io.Discard
		}
		var ds []string
		if *distros != "" {
			ds = strings.Split(*distros, ",")
			*n = 0
		}
		var fl []harness.Fault
		if *faults != "" {
			for _, name := range strings.Split(*faults, ",") {
				if name == "ok" {
					name = ""
				}
				fl = append(fl, harness.Fault(name))
			}
			*n = 0
		}
		return up(*dir, *n, ds, fl, *port, log, stdout)
	case "down":
		return down(*dir, stdout)
	case "status":
		return status(*dir, stdout)
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func up(dir string, n int, distros []string, faults []harness.Fault, port int, log, stdout io.Writer) error {
	// Interrupting a slow start (apt-get) should not leave half a fleet.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	f, err := harness.Start(ctx, harness.Options{Hosts: n, Distros: distros, Faults: faults, Dir: dir, Port: port, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fleet of %d hosts is up; stop it with: testfleet down -dir %s\n", len(f.Hosts), f.Dir)
	printPaths(stdout, f)
	return nil
}

func down(dir string, stdout io.Writer) error {
	f, err := harness.Load(dir)
	if err != nil {
		return err
	}
	n := len(f.Running())
	if err := f.Stop(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stopped %d sshd of the fleet in %s\n", n, f.Dir)
	return nil
}

func status(dir string, stdout io.Writer) error {
	f, err := harness.Load(dir)
	if err != nil {
		return err
	}
	running := map[int]bool{}
	for _, h := range f.Running() {
		running[h.PID] = true
	}
	for _, h := range f.Hosts {
		state := "stopped"
		if running[h.PID] {
			state = fmt.Sprintf("running (sshd pid %d)", h.PID)
		}
		if h.Fault != "" {
			state += " fault " + string(h.Fault)
		}
		fmt.Fprintf(stdout, "%-22s %s\n", h.HostPort(), state)
	}
	printPaths(stdout, f)
	if len(running) == 0 {
		return errors.New("no host of this fleet is running")
	}
	return nil
}

// faultNames lists the fault personalities for the usage text.
func faultNames() string {
	var names []string
	for _, f := range append(harness.AllFaults(), harness.SlowFaults()...) {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

func printPaths(w io.Writer, f *harness.Fleet) {
	fmt.Fprintf(w, "hosts file:    %s\n", f.HostsFile)
	fmt.Fprintf(w, "ssh config:    %s\n", f.SSHConfig)
	fmt.Fprintf(w, "key:           %s\n", f.Key)
	fmt.Fprintf(w, "known hosts:   %s\n", f.KnownHosts)
	fmt.Fprintf(w, "users:         %s (sudo, no password), %s (sudo password in %s/sudo-password), %s (no sudo)\n",
		f.Users.NoPass, f.Users.Pass, f.Dir, f.Users.Plain)
	fmt.Fprintf(w, "unreachable:   %s\n", f.Unreachable)
	if len(f.Hosts) == 0 {
		return
	}
	fmt.Fprintf(w, "try:           ssh -F %s -p %d %s@%s hostname\n",
		f.SSHConfig, f.Hosts[0].Port, f.Users.NoPass, f.Hosts[0].Addr)
}
