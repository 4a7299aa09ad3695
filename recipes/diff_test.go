package recipes

import (
	"strings"
	"testing"
)

const diffRecipe = `name: d
vars:
  who: world
  token: {default: "", secret: true}
files:
  conf:
    content: |
      # managed by fleet
      greeting = hello {{.Vars.who}}
      token = {{.Vars.token}}
      quoted = "{{systemdquote .Vars.token}}"
  plain: {content: "{{.Vars.who}}\n"}
steps:
  - name: conf
    put: /etc/app.conf
    file: conf
  - name: plain
    put: /etc/plain
    file: plain
`

// applyDiff applies r with --diff to ft and returns the steps' diffs by name.
func applyDiff(t *testing.T, ft *fakeTarget, r *Recipe, dry bool) map[string]string {
	t.Helper()
	rep := mustApply(t, ft, r, ubuntu, Options{DryRun: dry, Diff: true})
	out := map[string]string{}
	for _, st := range rep.Steps {
		out[st.Name] = st.Diff
	}
	for _, rec := range rep.Records() {
		if rec.Diff != out[rec.Name] {
			t.Errorf("record of %s: diff %q, report %q", rec.Name, rec.Diff, out[rec.Name])
		}
	}
	return out
}

func TestDiffTemplateChange(t *testing.T) {
	r := mustParse(t, diffRecipe)
	ft := newFake()
	ft.files["/etc/plain"] = &fakeFile{data: []byte("moon\n"), mode: 0o644}
	d := applyDiff(t, ft, r, true)
	want := "--- /etc/plain\n+++ /etc/plain\n@@ -1 +1 @@\n-moon\n+world\n"
	if d["plain"] != want {
		t.Errorf("dry run diff:\n%s\nwant:\n%s", d["plain"], want)
	}
	if string(ft.files["/etc/plain"].data) != "moon\n" {
		t.Fatal("a dry run wrote the file")
	}
	// The real run shows the same diff, of the file as it was, and
	// writes it; a second run has nothing to show.
	if d := applyDiff(t, ft, r, false); d["plain"] != want {
		t.Errorf("run diff:\n%s\nwant:\n%s", d["plain"], want)
	}
	if d := applyDiff(t, ft, r, false); d["plain"] != "" || d["conf"] != "" {
		t.Errorf("unchanged files have diffs: %q", d)
	}
	// A mode change alone has no content to diff.
	ft.files["/etc/plain"].mode = 0o600
	if d := applyDiff(t, ft, r, true); d["plain"] != "" {
		t.Errorf("mode-only change has a diff: %q", d["plain"])
	}
}

func TestDiffNewFile(t *testing.T) {
	r := mustParse(t, diffRecipe)
	d := applyDiff(t, newFake(), r, true)
	want := "--- /dev/null\n+++ /etc/plain\n@@ -0,0 +1 @@\n+world\n"
	if d["plain"] != want {
		t.Errorf("new file diff:\n%s\nwant:\n%s", d["plain"], want)
	}
}

// TestDiffSecretMasked: the secret's value is in neither side of the
// diff: not in the new content, not in the host's current file (the same
// value, or an earlier one on a line shaped like the one that holds it),
// and not as the template transformed it (systemdquote doubles the %).
func TestDiffSecretMasked(t *testing.T) {
	r := mustParse(t, diffRecipe)
	if err := r.SetSecret("token", "hunter2%"); err != nil {
		t.Fatal(err)
	}
	ft := newFake()
	ft.files["/etc/app.conf"] = &fakeFile{mode: 0o644, data: []byte(
		"# managed by fleet\ngreeting = hello moon\ntoken = old-hunter1\nquoted = \"hunter2%%\"\n# hunter2% was here\n")}
	for _, dry := range []bool{true, false} {
		d := applyDiff(t, ft, r, dry)["conf"]
		if strings.Contains(d, "hunter") {
			t.Errorf("dry=%v: the diff shows the secret:\n%s", dry, d)
		}
		for _, want := range []string{"-greeting = hello moon\n", "+greeting = hello world\n", " token = <secret>\n",
			` quoted = "<secret>"` + "\n", "-# <secret> was here\n"} {
			if !strings.Contains(d, want) {
				t.Errorf("dry=%v: diff lacks %q:\n%s", dry, want, d)
			}
		}
	}
	// A change of the secret alone is no diff of its own.
	if err := r.SetSecret("token", "hunter3%"); err != nil {
		t.Fatal(err)
	}
	if d := applyDiff(t, ft, r, true)["conf"]; d != "content differs in secret values only\n" {
		t.Errorf("secret-only change: %q", d)
	}
}

func TestDiffBinaryAndLarge(t *testing.T) {
	r := mustParse(t, diffRecipe)
	ft := newFake()
	ft.files["/etc/plain"] = &fakeFile{data: []byte("\x00\x01bin"), mode: 0o644}
	if d := applyDiff(t, ft, r, true)["plain"]; d != "binary or large file: 5 bytes -> 6 bytes\n" {
		t.Errorf("binary: %q", d)
	}
	ft.files["/etc/plain"] = &fakeFile{data: []byte(strings.Repeat("x\n", maxDiffFile/2+1)), mode: 0o644}
	before := ft.count("exec printf")
	if d := applyDiff(t, ft, r, true)["plain"]; d != "binary or large file: 1048578 bytes -> 6 bytes\n" {
		t.Errorf("large: %q", d)
	}
	if ft.count("exec printf") != before { // conf is new: nothing to read either
		t.Errorf("a file over %d bytes was read", maxDiffFile)
	}
}

func TestMaskOldShapes(t *testing.T) {
	got := maskOld("a = 1\npw = old\npw = \nother\nkey = old-x\nkey = old;\n", nil, "a = 1\npw = <secret>\nkey = <secret>;\n")
	if want := "a = 1\npw = <secret>\npw = \nother\nkey = <secret>\nkey = <secret>;\n"; got != want {
		t.Errorf("maskOld = %q, want %q", got, want)
	}
	if got := maskOld("old\nold-x\nold;\n", nil, "<secret>;\n"); got != "old\nold-x\n<secret>;\n" {
		t.Errorf("a secret at the start of its line: %q", got)
	}
	// A line that is all secret makes every old line suspect.
	if got := maskOld("x\ny\n", nil, "<secret>\n"); got != "<secret>\n<secret>\n" {
		t.Errorf("whole-line secret: %q", got)
	}
}
