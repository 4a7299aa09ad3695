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
// See docs/recipes.md for the whole format.
package recipes

import "time"

// Recipe is a parsed recipe file.
type Recipe struct {
	Name        string              `yaml:"name"`
	Description string              `yaml:"description"`
	Vars        map[string]string   `yaml:"vars"`
	Files       map[string]FileSpec `yaml:"files"`
	// Sudo is the default of every step's Sudo: provisioning is mostly
	// root's work. A nil pointer means true.
	Sudo      *bool      `yaml:"sudo"`
	Platforms []Platform `yaml:"platforms"`
	// Before runs before the platform's steps, Steps after them, on every
	// supported platform.
	Before []Step `yaml:"before"`
	Steps  []Step `yaml:"steps"`

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
	Content string `yaml:"content"`
	Path    string `yaml:"path"`
}

// Platform is a set of distributions and the steps for them.
type Platform struct {
	Name  string  `yaml:"name"`
	Match []Match `yaml:"match"`
	Steps []Step  `yaml:"steps"`
}

// Match selects hosts by their /etc/os-release: ID or ID_LIKE (exactly one
// of them), and optionally VERSION_ID: "8" matches 8 and 8.x (prefix), ">=8"
// compares numerically, "=8.4" matches exactly.
type Match struct {
	ID      string `yaml:"id"`
	IDLike  string `yaml:"id_like"`
	Version string `yaml:"version"`
}

// Step is one thing to do. Exactly one of Run and Put is set.
type Step struct {
	Name string `yaml:"name"`

	// Run is a shell command (a template: variables and facts are quoted
	// for the shell when substituted).
	Run string `yaml:"run"`
	// Unless skips the step when this command succeeds (read-only by
	// contract: a dry run runs it).
	Unless string `yaml:"unless"`
	// Creates skips the step when this path exists.
	Creates string `yaml:"creates"`
	// Timeout bounds the step (a Go duration like "10m"); 0 = the run's -t.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many more times a failing run step is tried, RetryDelay
	// apart (default 5s): for steps that reach the network.
	Retries    int      `yaml:"retries"`
	RetryDelay Duration `yaml:"retry_delay"`

	// Put is the remote path a file is written to, File the name of the
	// file in the recipe's files section; Mode ("0644") and Owner
	// ("root:root") as fleet copy takes them. Changed only when the
	// content, mode or owner differs.
	Put   string `yaml:"put"`
	File  string `yaml:"file"`
	Mode  string `yaml:"mode"`
	Owner string `yaml:"owner"`

	// WhenChanged makes the step run only when one of the named earlier
	// steps changed something on this host in this run (restart docker
	// only when daemon.json changed).
	WhenChanged []string `yaml:"when_changed"`
	// Sudo overrides the recipe's default.
	Sudo *bool `yaml:"sudo"`
	// CgroupDriver declares that the step sets the container runtime's
	// cgroup driver to this value. On a host that has joined a cluster and
	// whose runtime uses another driver, the recipe fails that host instead
	// of running the step (unless --force): changing the driver under a
	// running kubelet breaks its pods.
	CgroupDriver string `yaml:"cgroup_driver"`
}

// Duration is a time.Duration written as "90s" or "10m" in YAML.
type Duration time.Duration
