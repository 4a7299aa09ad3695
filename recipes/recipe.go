// Package recipes knows what a recipe is: the file format, the built-in
// recipes embedded in the binary, the facts of a host (its os-release and
// more), choosing the steps for a host's distribution, and checking and
// applying each step through a Target. It never dials: the caller hands it
// a connected host.
//
// A recipe is a YAML file:
//
//	name: docker
//	description: Docker CE with the systemd cgroup driver
//	vars:
//	  docker_version: ""          # overridden with --var docker_version=...
//	files:
//	  daemon.json:
//	    content: |                # or path: files/daemon.json, relative to the recipe
//	      {"exec-opts": ["native.cgroupdriver=systemd"]}
//	platforms:                    # the host gets the most specific match
//	  - name: apt
//	    match:
//	      - {id: ubuntu, version: ">=16.04"}
//	      - {id: debian, version: ">=10"}
//	      - {id_like: debian}
//	    steps:
//	      - name: install docker
//	        run: apt-get install -y docker-ce
//	        unless: dpkg -s docker-ce
//	steps:                        # after the platform's steps, on every platform
//	  - name: daemon.json
//	    put: /etc/docker/daemon.json
//	    file: daemon.json
//	    mode: "0644"
//	  - name: restart docker
//	    run: systemctl restart docker
//	    when_changed: [install docker, daemon.json]
//
// A host goes through it in four steps: [GatherFacts] learns the host in
// one round trip, [Recipe.Select] picks the platform whose match rule is the
// most specific for it, and [Apply] runs before, the platform's steps and
// steps in order, each checked first (its guards, a file's checksum) and
// applied only when needed, so that a second run changes nothing and a dry
// run is the same walk without the writes. [Report.Plan] is what a dry run
// shows.
//
// Commands, paths and file contents are text/template templates over
// .Vars, .Facts, .Platform and .Host. In commands no substituted value
// becomes part of the command's text: the command is parsed as shell and
// each value passed in an environment variable it refers to, or refused
// where that is not safe (see shellrender.go). Secret variables stay out of
// command lines, records and plans.
//
// See docs/recipes.md for the whole format.
package recipes

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Recipe is a parsed recipe file.
type Recipe struct {
	Name        string `yaml:"name,omitempty"`
	Description string `yaml:"description,omitempty"`
	// Vars are the variables and their values: the defaults the recipe
	// declares, then what SetVars and SetSecret give.
	Vars map[string]string `yaml:"-"`
	// Declared is the vars section as written: a value, or a mapping
	// {default: VALUE, secret: true}. The parser fills Vars from it.
	Declared map[string]VarSpec `yaml:"vars,omitempty"`
	// Secret names the secret variables: declared secret: true, or set
	// with SetSecret.
	Secret map[string]bool     `yaml:"-"`
	Files  map[string]FileSpec `yaml:"files,omitempty"`
	// Sudo is the default of every step's Sudo: provisioning is mostly
	// root's work. A nil pointer means true.
	Sudo      *bool      `yaml:"sudo,omitempty"`
	Platforms []Platform `yaml:"platforms,omitempty"`
	// Before runs before the platform's steps, Steps after them, on every
	// supported platform.
	Before []Step `yaml:"before,omitempty"`
	Steps  []Step `yaml:"steps,omitempty"`

	// Source is the file the recipe came from ("builtin:docker" for the
	// built-in ones); set by the parser, used in messages.
	Source string `yaml:"-"`
	// Dir is the folder that file paths are relative to ("" for built-ins,
	// whose files are embedded).
	Dir string `yaml:"-"`
}

// FileSpec is a file a put step writes: inline content or a path relative
// to the recipe file. Both are templates over the variables and facts.
type FileSpec struct {
	Content string `yaml:"content,omitempty"`
	Path    string `yaml:"path,omitempty"`
}

// Platform is a set of distributions and the steps for them.
type Platform struct {
	Name  string  `yaml:"name,omitempty"`
	Match []Match `yaml:"match,omitempty"`
	Steps []Step  `yaml:"steps,omitempty"`
}

// Match selects hosts by their /etc/os-release: ID or ID_LIKE (exactly one
// of them), and optionally VERSION_ID: "8" matches 8 and 8.x (prefix), ">=8"
// (and >, <=, <) compares numerically, "=8.4" matches exactly, "!" negates
// a term, and several terms ">=18.04 <24.04" must all hold. An Exclude
// rule keeps the hosts it matches off the platform, whatever its other
// rules say.
type Match struct {
	ID      string `yaml:"id,omitempty"`
	IDLike  string `yaml:"id_like,omitempty"`
	Version string `yaml:"version,omitempty"`
	Exclude bool   `yaml:"exclude,omitempty"`
}

// Step is one thing to do. Exactly one of Run, Put, Fail and Note is set.
type Step struct {
	Name string `yaml:"name,omitempty"`

	// When is a condition on the facts and variables (a template
	// expression: `eq .Vars.k8s_node "true"`), evaluated by fleet without
	// a round trip: when it is false the step is skipped.
	When string `yaml:"when,omitempty"`
	// Fail fails the host with this message (a template), as Ansible's
	// fail does: with when, a check that refuses a host and says why.
	Fail string `yaml:"fail,omitempty"`
	// Note reports this message (a template) in the host's summary and
	// changes nothing: the step is unchanged.
	Note string `yaml:"note,omitempty"`
	// ChangedWhen decides whether a run step that succeeded changed
	// anything: "false" (a check, or a command safe to repeat), "true"
	// (the default), or a condition that may look at the command's output
	// as .Stdout (`contains .Stdout "Setting up"`).
	ChangedWhen string `yaml:"changed_when,omitempty"`

	// Run is a shell command (a template: variables and facts reach it
	// through its environment, placed by a shell parser).
	Run string `yaml:"run,omitempty"`
	// Unless skips the step when this command succeeds (read-only by
	// contract: a dry run runs it).
	Unless string `yaml:"unless,omitempty"`
	// Creates skips the step when this path exists.
	Creates string `yaml:"creates,omitempty"`
	// Timeout bounds the step (a Go duration like "10m"); 0 = the run's -t.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Retries is how many more times a failing run step is tried, RetryDelay
	// apart (default 5s): for steps that reach the network.
	Retries    int      `yaml:"retries,omitempty"`
	RetryDelay Duration `yaml:"retry_delay,omitempty"`

	// Put is the remote path a file is written to, File the name of the
	// file in the recipe's files section; Mode ("0644") and Owner
	// ("root:root") as fleet copy takes them. Changed only when the
	// content, mode or owner differs.
	Put   string `yaml:"put,omitempty"`
	File  string `yaml:"file,omitempty"`
	Mode  string `yaml:"mode,omitempty"`
	Owner string `yaml:"owner,omitempty"`

	// WhenChanged makes the step run only when one of the named earlier
	// steps changed something on this host in this run (restart docker
	// only when daemon.json changed).
	WhenChanged []string `yaml:"when_changed,omitempty"`
	// Sudo overrides the recipe's default.
	Sudo *bool `yaml:"sudo,omitempty"`
	// CgroupDriver declares that the step sets the container runtime's
	// cgroup driver to this value. On a host that has joined a cluster and
	// whose runtime uses another driver, the recipe fails that host instead
	// of running the step (unless --force): changing the driver under a
	// running kubelet breaks its pods.
	CgroupDriver string `yaml:"cgroup_driver,omitempty"`
}

// VarSpec is one variable of the vars section: "name: value", or
// "name: {default: value, secret: true}" for a secret, whose value never
// appears in command lines, records, logs or plans (see docs/recipes.md).
type VarSpec struct {
	Default string
	Secret  bool
}

// UnmarshalYAML reads a value or a {default, secret} mapping. The mapping's
// keys are checked here: a custom unmarshaler is outside the strict
// decoder's reach.
func (v *VarSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&v.Default)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			var err error
			switch k.Value {
			case "default":
				err = val.Decode(&v.Default)
			case "secret":
				err = val.Decode(&v.Secret)
			default:
				return fmt.Errorf("line %d: variable: unknown key %q (a variable is a value, or {default: VALUE, secret: true})", k.Line, k.Value)
			}
			if err != nil {
				return fmt.Errorf("line %d: variable: %s: %w", val.Line, k.Value, err)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a variable is a value, or {default: VALUE, secret: true}", n.Line)
}

// IsSecret says whether variable name is secret.
func (r *Recipe) IsSecret(name string) bool { return r.Secret[name] }

// Duration is a time.Duration written as "90s" or "10m" in YAML.
type Duration time.Duration

// UnmarshalText reads a Go duration ("90s", "10m", "1h30m"). It is a text
// unmarshaler, not a YAML one, so that strict decoding stays on for the
// step around it (a custom UnmarshalYAML would turn it off).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go prints it ("10m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String is the duration as Go prints it.
func (d Duration) String() string { return time.Duration(d).String() }

// parseDuration accepts what time.ParseDuration does, but not a negative
// value, and says what is wanted in the user's words.
func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a duration (write it like 90s, 10m or 1h30m)", s)
	}
	return v, nil
}

// runsAsRoot says whether a step runs through sudo: its own setting, else
// the recipe's, else yes.
func (r *Recipe) runsAsRoot(s *Step) bool {
	switch {
	case s.Sudo != nil:
		return *s.Sudo
	case r.Sudo != nil:
		return *r.Sudo
	}
	return true
}

// SetVars applies --var overrides. A key the recipe does not declare is an
// error naming the declared ones (a typo must not be ignored); on an error
// no variable is changed.
func (r *Recipe) SetVars(vals map[string]string) error {
	for _, k := range sortedKeys(vals) {
		if _, ok := r.Vars[k]; !ok {
			return fmt.Errorf("%s: unknown variable %q (%s)", r.Name, k, declared(r.Vars))
		}
		// Commands quote every value, but files take them as they are: a
		// newline in a value would add lines of its own to a config file
		// or a systemd unit.
		if i := strings.IndexFunc(vals[k], func(c rune) bool { return c < ' ' || c == 0x7f }); i >= 0 {
			return fmt.Errorf("%s: variable %q: the value holds a control character (%U); a variable is one line of text", r.Name, k, []rune(vals[k][i:])[0])
		}
	}
	for _, k := range sortedKeys(vals) {
		if r.IsSecret(k) {
			return fmt.Errorf("%s: variable %q is secret: a --var value would be in fleet's command line, the run record "+
				"and your shell's history; give it with --secret-var %s=@FILE or --secret-var %s=env:NAME", r.Name, k, k, k)
		}
	}
	maps.Copy(r.Vars, vals)
	return nil
}

// SetSecret sets variable name to a secret value: one that fleet keeps out
// of command lines, records, logs and plans. The variable must be
// declared; it becomes secret even if the recipe did not say so. Unlike
// SetVars it takes newlines (a key, a certificate) but no other control
// characters.
func (r *Recipe) SetSecret(name, value string) error {
	if _, ok := r.Vars[name]; !ok {
		return fmt.Errorf("%s: unknown variable %q (%s)", r.Name, name, declared(r.Vars))
	}
	if i := strings.IndexFunc(value, func(c rune) bool { return c < ' ' && c != '\n' || c == 0x7f }); i >= 0 {
		return fmt.Errorf("%s: secret variable %q: the value holds a control character (%U)", r.Name, name, []rune(value[i:])[0])
	}
	if r.Secret == nil {
		r.Secret = map[string]bool{}
	}
	r.Secret[name] = true
	r.Vars[name] = value
	return nil
}
