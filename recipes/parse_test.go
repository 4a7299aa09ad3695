package recipes

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// head is a valid start that the error cases build on: lines 1-2.
const head = "name: t\ndescription: d\n"

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.conf"), []byte("a\nb {{ .Vars.nope }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want string // must appear in the error, with "t.yaml:" before it
	}{
		// Decoding.
		{"empty file", "", "t.yaml: empty recipe"},
		{"only comments", "# nothing\n", "t.yaml: empty recipe"},
		{"unknown key", head + "steps:\n  - name: a\n    run: x\n    timout: 3s\n", "t.yaml:6: field timout not found in type recipes.Step"},
		{"unknown top key", head + "stepz: []\n", "t.yaml:3: field stepz not found in type recipes.Recipe"},
		{"wrong type", head + "sudo: maybe\nsteps: [{name: a, run: x}]\n", "t.yaml:3: cannot unmarshal !!str `maybe` into bool"},
		{"retries not a number", head + "steps:\n  - name: a\n    run: x\n    retries: many\n", "t.yaml:6: cannot unmarshal !!str `many` into int"},
		{"duplicate key", head + "name: u\n", "t.yaml:3: mapping key \"name\" already defined at line 1"},
		{"second document", head + "steps: [{name: a, run: x}]\n---\nname: u\n", "t.yaml:4: a second YAML document"},
		{"syntax", head + "steps: [\n", "t.yaml:3: did not find expected node content"},
		{"not a mapping", "- a\n- b\n", "t.yaml:1: cannot unmarshal !!seq into recipes.Recipe"},
		{"bad timeout", head + "steps:\n  - name: a\n    run: x\n    timeout: 10 minutes\n", `t.yaml:6: timeout: "10 minutes" is not a duration`},
		{"timeout without unit", head + "steps:\n  - name: a\n    run: x\n    timeout: 30\n", `t.yaml:6: timeout: "30" is not a duration`},
		{"negative delay", head + "steps:\n  - name: a\n    run: x\n    retries: 1\n    retry_delay: -5s\n", `t.yaml:7: retry_delay: "-5s" is not a duration`},

		// The recipe.
		{"name required", "description: d\nsteps: [{name: a, run: x}]\n", "t.yaml:1: name is required"},
		{"no steps", head + "vars: {a: b}\n", "t.yaml:1: the recipe has no steps"},
		{"bad var name", head + "vars:\n  my-var: x\nsteps: [{name: a, run: x}]\n", `t.yaml:4: variable "my-var": a name is letters`},

		// Steps.
		{"step without name", head + "steps:\n  - name: a\n    run: x\n  - run: y\n", "t.yaml:6: a step needs a name"},
		{"duplicate step name", head + "steps:\n  - name: a\n    run: x\n  - name: a\n    run: y\n", `t.yaml:6: step name "a" is already used at line 4`},
		{"platform step reuses before name", head + "before:\n  - name: a\n    run: x\nplatforms:\n  - name: p\n    match: [{id: debian}]\n    steps:\n      - name: a\n        run: y\n", `t.yaml:10: step name "a" is already used at line 4`},
		{"shared step reuses platform name", head + "platforms:\n  - name: p\n    match: [{id: debian}]\n    steps:\n      - name: a\n        run: y\nsteps:\n  - name: a\n    run: x\n", `t.yaml:10: step name "a" is already used by a platform's step`},
		{"run and put", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    run: x\n    put: /x\n    file: f\n", `t.yaml:5: step "a": give one of run, put, fail and note`},
		{"neither run nor put", head + "steps:\n  - name: a\n    unless: true\n", `t.yaml:4: step "a": give run (a command), put (a file to write), fail or note`},
		{"put without file", head + "steps:\n  - name: a\n    put: /x\n", `t.yaml:4: step "a": put needs file`},
		{"put of unknown file", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: g\n", `t.yaml:7: step "a": no file "g" in files`},
		{"put relative path", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: etc/x\n    file: f\n", `t.yaml:6: step "a": put "etc/x" is not an absolute path`},
		{"mode not octal", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    mode: \"0999\"\n", `t.yaml:8: step "a": mode "0999"`},
		{"mode too big", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    mode: \"77777\"\n", `t.yaml:8: step "a": mode "77777"`},
		{"owner with space", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    owner: root root\n", `t.yaml:8: step "a": owner "root root"`},
		{"owner with quote", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    owner: \"ro'ot\"\n", `t.yaml:8: step "a": owner`},
		{"owner empty group", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    owner: \"root:\"\n", `t.yaml:8: step "a": owner "root:"`},
		{"mode on a run step", head + "steps:\n  - name: a\n    run: x\n    mode: \"0644\"\n", `t.yaml:6: step "a": mode goes with put`},
		{"retries on a put step", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    retries: 2\n", `t.yaml:8: step "a": retries go with run`},
		{"retries too many", head + "steps:\n  - name: a\n    run: x\n    retries: 11\n", `t.yaml:6: step "a": retries is 0 to 10`},
		{"retries negative", head + "steps:\n  - name: a\n    run: x\n    retries: -1\n", `t.yaml:6: step "a": retries is 0 to 10`},
		{"bad cgroup driver", head + "steps:\n  - name: a\n    run: x\n    cgroup_driver: systemdd\n", `t.yaml:6: step "a": cgroup_driver is systemd or cgroupfs`},

		// when_changed names earlier steps only.
		{"when_changed later step", head + "steps:\n  - name: a\n    run: x\n    when_changed: [b]\n  - name: b\n    run: y\n", `t.yaml:6: step "a": when_changed names "b", which is not an earlier step`},
		{"when_changed itself", head + "steps:\n  - name: a\n    run: x\n    when_changed: [a]\n", `t.yaml:6: step "a": when_changed names "a"`},
		{"when_changed unknown", head + "steps:\n  - name: a\n    run: x\n  - name: b\n    run: y\n    when_changed:\n      - a\n      - c\n", `t.yaml:10: step "b": when_changed names "c"`},
		{"before names a platform step", head + "before:\n  - name: a\n    run: x\n    when_changed: [p1]\nplatforms:\n  - name: p\n    match: [{id: debian}]\n    steps: [{name: p1, run: y}]\n", `t.yaml:6: step "a": when_changed names "p1"`},
		{"platform step names a shared step", head + "platforms:\n  - name: p\n    match: [{id: debian}]\n    steps:\n      - name: p1\n        run: y\n        when_changed: [s]\nsteps: [{name: s, run: x}]\n", `t.yaml:9: step "p1": when_changed names "s"`},
		{"platform step names another platform's", head + "platforms:\n  - name: p\n    match: [{id: debian}]\n    steps: [{name: p1, run: y}]\n  - name: q\n    match: [{id: fedora}]\n    steps:\n      - name: q1\n        run: y\n        when_changed: [p1]\n", `t.yaml:12: step "q1": when_changed names "p1"`},

		// Files.
		{"file with content and path", head + "files:\n  f:\n    content: x\n    path: y\nsteps: [{name: a, put: /x, file: f}]\n", `t.yaml:4: file "f": give content or path, not both`},
		{"file with neither", head + "files:\n  f: {}\nsteps: [{name: a, put: /x, file: f}]\n", `t.yaml:4: file "f": give its content or a path to it`},
		{"file path missing", head + "files:\n  f:\n    path: nope.conf\nsteps: [{name: a, put: /x, file: f}]\n", `t.yaml:5: file "f": open`},

		// Platforms and match rules.
		{"platform without name", head + "platforms:\n  - match: [{id: debian}]\n    steps: [{name: a, run: x}]\n", `t.yaml:4: platform 1 has no name`},
		{"duplicate platform", head + "platforms:\n  - name: p\n    match: [{id: debian}]\n    steps: [{name: a, run: x}]\n  - name: p\n    match: [{id: fedora}]\n", `t.yaml:7: platform name "p" is already used at line 4`},
		{"platform without match", head + "platforms:\n  - name: p\n    steps: [{name: a, run: x}]\n", `t.yaml:4: platform "p" has no match rules`},
		{"match id and id_like", head + "platforms:\n  - name: p\n    match:\n      - id: debian\n        id_like: debian\n    steps: [{name: a, run: x}]\n", `t.yaml:6: a match rule gives exactly one of id and id_like`},
		{"match neither", head + "platforms:\n  - name: p\n    match:\n      - version: \"8\"\n    steps: [{name: a, run: x}]\n", `t.yaml:6: a match rule gives exactly one of id and id_like`},
		{"version ~", head + "platforms:\n  - name: p\n    match:\n      - id: debian\n        version: \"~10\"\n    steps: [{name: a, run: x}]\n", `t.yaml:7: version "~10"`},
		{"version x", head + "platforms:\n  - name: p\n    match:\n      - id: rocky\n        version: 8.x\n    steps: [{name: a, run: x}]\n", `t.yaml:7: version "8.x"`},
		{"version words", head + "platforms:\n  - name: p\n    match:\n      - {id: debian, version: bookworm}\n    steps: [{name: a, run: x}]\n", `t.yaml:6: version "bookworm"`},

		// Templates.
		{"template syntax", head + "steps:\n  - name: a\n    run: echo {{ .Vars.x \n", `t.yaml:5: step "a": run: unclosed action`},
		{"undeclared var", head + "vars: {x: \"1\"}\nsteps:\n  - name: a\n    run: echo {{.Vars.y}}\n", `t.yaml:6: step "a": run: no variable "y" (the recipe declares x)`},
		{"undeclared var in a branch", head + "steps:\n  - name: a\n    run: |\n      true\n      {{if eq .Facts.ID \"nope\"}}{{.Vars.y}}{{end}}\n", `t.yaml:7: step "a": run: no variable "y" (the recipe declares no variables)`},
		{"undeclared var through $", head + "steps:\n  - name: a\n    run: '{{range .Facts.IDLike}}{{$.Vars.y}}{{end}}'\n", `t.yaml:5: step "a": run: no variable "y"`},
		{"unknown fact", head + "steps:\n  - name: a\n    unless: test {{.Facts.Distro}}\n    run: x\n", `t.yaml:5: step "a": unless: no fact "Distro"`},
		{"unknown name", head + "steps:\n  - name: a\n    run: x\n    creates: /x/{{.Hostname}}\n", `t.yaml:6: step "a": creates: unknown name .Hostname`},
		{"field of a var", head + "vars: {x: \"1\"}\nsteps:\n  - name: a\n    run: echo {{.Vars.x.y}}\n", `t.yaml:6: step "a": run: .Vars.x is a string`},
		{"whole facts", head + "steps:\n  - name: a\n    run: echo {{.Facts}}\n", `t.yaml:5: step "a": run: use .Facts.FIELD`},
		{"range over a huge number", head + "steps:\n  - name: a\n    run: echo {{range 99999999999}}x{{end}}\n", `t.yaml:5: step "a": run: range over 99999999999`},
		{"unknown function", head + "steps:\n  - name: a\n    run: echo {{raw .Host}}\n", `t.yaml:5: step "a": run: function "raw" not defined`},
		{"template in inline content", head + "files:\n  f:\n    content: |\n      line one\n      {{.Vars.nope}}\nsteps: [{name: a, put: /x, file: f}]\n", `t.yaml:7: file "f": no variable "nope"`},
		{"template in file path", head + "files:\n  f:\n    path: bad.conf\nsteps: [{name: a, put: /x, file: f}]\n", filepath.Join(dir, "bad.conf") + `:2: file "f": no variable "nope"`},
		{"template in put", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /etc/{{.Vars.app}}.conf\n    file: f\n", `t.yaml:6: step "a": put: no variable "app"`},
		{"template in owner", head + "files: {f: {content: x}}\nsteps:\n  - name: a\n    put: /x\n    file: f\n    owner: \"{{.Vars.user}}\"\n", `t.yaml:8: step "a": owner: no variable "user"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tt.src), "t.yaml", dir)
			if err == nil {
				t.Fatalf("no error; parsed %+v", r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	src := head + "steps: [{name: a, run: x}]\n#" + strings.Repeat("x", maxRecipeSize)
	_, err := Parse(strings.NewReader(src), "big.yaml", "")
	if err == nil || !strings.Contains(err.Error(), "big.yaml: larger than 1 MiB") {
		t.Fatalf("err = %v", err)
	}
}

// TestParseManyErrors: every problem is reported, in the order of the file.
func TestParseManyErrors(t *testing.T) {
	src := "steps:\n  - name: a\n    run: x\n    retries: 20\n  - name: a\n    run: y\n"
	_, err := Parse(strings.NewReader(src), "t.yaml", "")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"t.yaml:1: name is required", `t.yaml:4: step "a": retries`, `t.yaml:5: step name "a" is already used at line 2`}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
}

func TestParseGood(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "good", "chrony.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "chrony" || r.Source != filepath.Join("testdata", "good", "chrony.yaml") || r.Dir != filepath.Join("testdata", "good") {
		t.Errorf("name, source, dir = %q, %q, %q", r.Name, r.Source, r.Dir)
	}
	conf := r.Files["chrony.conf"]
	if !strings.Contains(conf.Content, "pool {{.Vars.pool}} iburst") || conf.Path != "files/chrony.conf" {
		t.Errorf("the file given by path was not read: %+v", conf)
	}
	if len(r.Platforms) != 1 || len(r.Platforms[0].Match) != 2 || r.Platforms[0].Match[1].IDLike != "debian" {
		t.Errorf("platforms = %+v", r.Platforms)
	}
	if got := r.Steps[1].WhenChanged; !reflect.DeepEqual(got, []string{"install chrony", "chrony.conf"}) {
		t.Errorf("when_changed = %q", got)
	}
}

// TestParseRoundTrip: a recipe with every key, written back as YAML and
// parsed again, is the same recipe.
func TestParseRoundTrip(t *testing.T) {
	src := `name: full
description: every key
vars: {version: "010", flag: "no"}
sudo: false
files:
  conf:
    content: |
      v={{.Vars.version}} on {{.Facts.ID}} {{.Platform}} {{.Host}}
before:
  - name: keyring dir
    run: mkdir -p /etc/apt/keyrings
    creates: /etc/apt/keyrings
    sudo: true
platforms:
  - name: apt
    match:
      - {id: ubuntu, version: ">=16.04"}
      - {id: debian, version: "=10"}
      - {id_like: debian}
    steps:
      - name: install
        run: apt-get install -y pkg={{.Vars.version}}
        unless: dpkg -s pkg
        timeout: 10m
        retries: 3
        retry_delay: 2s
  - name: dnf
    match: [{id_like: rhel, version: "8"}]
    steps:
      - name: install
        run: dnf install -y pkg
steps:
  - name: conf
    put: /etc/pkg.conf
    file: conf
    mode: "0600"
    owner: root:adm
    cgroup_driver: systemd
  - name: restart
    run: systemctl restart pkg
    when_changed: [install, conf, keyring dir]
`
	r, err := Parse(strings.NewReader(src), "full.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Vars["version"] != "010" || r.Vars["flag"] != "no" {
		t.Errorf("vars lost their text: %q", r.Vars)
	}
	if *r.Sudo || !*r.Before[0].Sudo {
		t.Errorf("sudo = %v, before sudo = %v", *r.Sudo, *r.Before[0].Sudo)
	}
	inst := r.Platforms[0].Steps[0]
	if time.Duration(inst.Timeout) != 10*time.Minute || inst.Retries != 3 || time.Duration(inst.RetryDelay) != 2*time.Second {
		t.Errorf("install = %+v", inst)
	}
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(bytes.NewReader(out), "full.yaml", "")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(r, again) {
		t.Errorf("round trip changed the recipe:\n%+v\n%+v\n%s", r, again, out)
	}
}

func TestSetVars(t *testing.T) {
	r, err := Parse(strings.NewReader(head+"vars: {a: \"1\", b: \"2\"}\nsteps: [{name: s, run: \"echo {{.Vars.a}}\"}]\n"), "t.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	err = r.SetVars(map[string]string{"a": "9", "c": "3"})
	if err == nil || !strings.Contains(err.Error(), `"c"`) || !strings.Contains(err.Error(), "a, b") {
		t.Fatalf("err = %v, want it to name c and the declared a, b", err)
	}
	if r.Vars["a"] != "1" {
		t.Errorf("a failed SetVars changed a to %q", r.Vars["a"])
	}
	if err := r.SetVars(map[string]string{"a": "9"}); err != nil {
		t.Fatal(err)
	}
	if r.Vars["a"] != "9" || r.Vars["b"] != "2" {
		t.Errorf("vars = %q", r.Vars)
	}
	none, _ := Parse(strings.NewReader(head+"steps: [{name: s, run: x}]\n"), "t.yaml", "")
	if err := none.SetVars(map[string]string{"x": "1"}); err == nil || !strings.Contains(err.Error(), "no variables") {
		t.Errorf("err = %v", err)
	}
	// A value is one line: a newline would add lines to the files it
	// fills in (a systemd drop-in, which runs as root).
	for _, v := range []string{"x\nExecStartPre=/bin/true", "x\r", "x\x00", "\x1b[2J", "x\x7f"} {
		err := r.SetVars(map[string]string{"b": v})
		if err == nil || !strings.Contains(err.Error(), "control character") || !strings.Contains(err.Error(), `"b"`) {
			t.Errorf("SetVars(b=%q) = %v, want a control character refused", v, err)
		}
		if r.Vars["b"] != "2" {
			t.Errorf("a refused value changed b to %q", r.Vars["b"])
		}
	}
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"http://proxy.lan:3128":    "http://proxy.lan:3128",
		`http://u:p%40ss@p:3128`:   `http://u:p%%40ss@p:3128`,
		`x" "LD_PRELOAD=/tmp/e.so`: `x\" \"LD_PRELOAD=/tmp/e.so`,
		`a\b`:                      `a\\b`,
	} {
		got, err := systemdQuote(in)
		if err != nil || got != want {
			t.Errorf("systemdquote(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// A value stays a value of its kind: a secret stays secret.
	if got, _ := systemdQuote(secretSlot(`a"b`)); got != secretSlot(`a\"b`) {
		t.Errorf("systemdquote of a secret gives %#v", got)
	}
}

// TestTemplateFactsMirrorFacts keeps the template's view of the facts in
// step with Facts: a field added to one must be added to the other.
func TestTemplateFactsMirrorFacts(t *testing.T) {
	a, b := reflect.TypeFor[Facts](), reflect.TypeFor[tmplFacts[string]]()
	exported := 0
	for i := range a.NumField() {
		if a.Field(i).IsExported() {
			exported++
		}
	}
	if exported != b.NumField() {
		t.Fatalf("Facts has %d exported fields, tmplFacts %d", exported, b.NumField())
	}
	for i := range b.NumField() {
		if a.Field(i).Name != b.Field(i).Name || a.Field(i).Type != b.Field(i).Type {
			t.Errorf("field %d: Facts.%s %s, tmplFacts.%s %s", i, a.Field(i).Name, a.Field(i).Type, b.Field(i).Name, b.Field(i).Type)
		}
	}
	f := &Facts{OSRelease: map[string]string{"ID": "x"}, ID: "x", IDLike: []string{"y"}, VersionID: "1", Codename: "c", PrettyName: "p",
		Arch: "x86_64", DebArch: "amd64", Init: "systemd", SudoPassword: true, CgroupDriver: "systemd", Joined: true}
	d := newData[string](nil, f, "", "")
	if !reflect.DeepEqual(reflect.ValueOf(d.Facts).Interface(), tmplFacts[string]{OSRelease: f.OSRelease, ID: "x", IDLike: []string{"y"}, VersionID: "1",
		Codename: "c", PrettyName: "p", Arch: "x86_64", DebArch: "amd64", Init: "systemd", SudoPassword: true, CgroupDriver: "systemd", Joined: true}) {
		t.Errorf("newData copied %+v", d.Facts)
	}
}
