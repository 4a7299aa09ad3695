package main

import (
	"encoding/json"
	"errors"
	"fmt"
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
			"jsonlines":  cmdJSONLines,
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

// cmdJSONLines is "jsonlines [-doc] [-n N] FILE" (FILE may be stdout or
// stderr, the last command's): it fails unless every line of FILE is a JSON
// object and there is at least one (exactly N with -n), which is what a
// script piping --json into jq needs. With -doc the whole file is one JSON
// object instead (fleet runs show --json, indented). "! jsonlines" fails
// when the file is all JSON lines.
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	doc, want := false, -1
	for len(args) > 1 {
		switch args[0] {
		case "-doc":
			doc, args = true, args[1:]
			continue
		case "-n":
			n, err := strconv.Atoi(args[1])
			if err != nil {
				ts.Fatalf("jsonlines: -n %q", args[1])
			}
			want, args = n, args[2:]
			continue
		}
		break
	}
	if len(args) != 1 {
		ts.Fatalf("usage: jsonlines [-doc] [-n N] FILE")
	}
	data := ts.ReadFile(args[0])
	err := checkJSONLines(data, doc, want)
	switch {
	case err != nil && !neg:
		ts.Fatalf("jsonlines %s: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("jsonlines %s: every line is a JSON object", args[0])
	}
}

// checkJSONLines decodes data as JSON lines (or, with doc, one object).
func checkJSONLines(data string, doc bool, want int) error {
	if doc {
		return oneObject(data)
	}
	if data == "" && want != 0 {
		return errors.New("no line at all")
	}
	if data != "" && !strings.HasSuffix(data, "\n") {
		return errors.New("the last line has no newline")
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if data == "" {
		lines = nil
	}
	for i, l := range lines {
		if err := oneObject(l); err != nil {
			return fmt.Errorf("line %d: %v: %q", i+1, err, shortLine(l))
		}
	}
	if want >= 0 && len(lines) != want {
		return fmt.Errorf("%d lines, want %d", len(lines), want)
	}
	return nil
}

// oneObject decodes s as exactly one JSON object.
func oneObject(s string) error {
	if !strings.HasPrefix(s, "{") {
		return errors.New("not a JSON object")
	}
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

func shortLine(l string) string {
	if len(l) > 120 {
		return l[:120] + "..."
	}
	return l
}
