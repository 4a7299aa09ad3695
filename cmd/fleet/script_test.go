package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run fleet as a command, in-process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fleet": func() { os.Exit(Main(os.Args, os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts pins the CLI's contract: help text, messages and exit
// statuses (testdata/script/*.txtar).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir+"/home")
			e.Setenv("FLEET_STATE_DIR", e.WorkDir+"/state")
			e.Setenv("NO_COLOR", "1")
			// A race-enabled fleet would sleep a second at each exit (the
			// race runtime's atexit_sleep_ms default), most of the
			// scripts' time; a report still fails the command (exit 66).
			e.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return os.MkdirAll(e.WorkDir+"/home/.ssh", 0o700)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":     cmdStatus,
			"fleethosts": cmdFleetHosts,
		},
	})
}

// cmdStatus is "status N command args...": it runs the command like exec
// and fails unless it exits with status N exactly; "! exec" only says
// "not zero", and the exit status is part of fleet's contract.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("status: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}
