package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvisionDiff: provision --diff on real sshd reads a file only root
// can read (in a folder of mode 0700 owned by root) through the steps'
// sudo, and shows its diff with the secret masked, in the current file
// and the new content alike: as text with --dry-run (the file untouched),
// then in the host's step object with --json, where stdout is JSON lines
// only, and the file is written.
//
// It runs as fleet-np and as fleet-chatty, whose ~/.bashrc prints text on
// stdout that must not be taken for the file's.
func TestProvisionDiff(t *testing.T) {
	u := setup(t)
	for _, login := range []string{testFleet.Users.NoPass, testFleet.Users.Chatty} {
		t.Run(login, func(t *testing.T) { provisionDiff(t, u, hostArg(login, testFleet.Hosts[0])) })
	}
}

func provisionDiff(t *testing.T, u *user, host string) {
	dir := t.TempDir() // root's, 0700: the login user cannot read in it
	conf := writeFile(t, filepath.Join(dir, "app.conf"), "greeting = hello moon\ntoken = s3cret-old\nkey = s3cret-now\n", 0o600)
	const token = "s3cret-now"
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "token"), token+"\n", 0o600)
	recipe := writeFile(t, filepath.Join(t.TempDir(), "app.yaml"), `name: app
vars:
  token: {default: "", secret: true}
files:
  conf:
    content: |
      greeting = hello world
      token = {{ .Vars.token }}
      key = {{ .Vars.token }}
steps:
  - name: conf
    put: `+conf+`
    file: conf
    mode: "0600"
`, 0o644)
	args := []string{"-H", host, "--recipe", recipe, "--secret-var", "token=@" + tokenFile, "--diff"}

	r := u.startSub("provision", "", append(args, "--dry-run")...).wait(provTimeout)
	mustExit(t, r, 0)
	want := "--- " + conf + "\n+++ " + conf + "\n@@ -1,3 +1,3 @@\n-greeting = hello moon\n+greeting = hello world\n" +
		" token = <secret>\n key = <secret>\n"
	if !strings.Contains(r.stdout, "would write conf (content differs)\n"+want) {
		t.Errorf("the plan lacks the diff:\n%s\nwant:\n%s", r, want)
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("a secret shows in the plan\n%s", r)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "hello moon") {
		t.Errorf("a dry run changed the file: %q", b)
	}

	r = u.startSub("provision", "", append(args, "--json")...).wait(provTimeout)
	mustExit(t, r, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got %d\n%s", len(lines), r)
	}
	var h struct {
		Changed bool `json:"changed"`
		Steps   []struct {
			Outcome string `json:"outcome"`
			Diff    string `json:"diff"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	if !h.Changed || len(h.Steps) != 1 || h.Steps[0].Outcome != "changed" || h.Steps[0].Diff != want {
		t.Errorf("host object %+v, want one changed step with the diff\n%s", h, want)
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("a secret shows in --json\n%s", r)
	}
	if b, _ := os.ReadFile(conf); string(b) != "greeting = hello world\ntoken = "+token+"\nkey = "+token+"\n" {
		t.Errorf("the run wrote %q", b)
	}
	runJSON, _ := os.ReadFile(filepath.Join(u.stateDir, "runs", "latest", "run.json"))
	if !strings.Contains(string(runJSON), `"diff": "--- `) || strings.Contains(string(runJSON), "s3cret") {
		t.Errorf("run.json should have the diff and no secret:\n%s", runJSON)
	}
}
