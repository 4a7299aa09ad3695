package recipes

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
)

func TestParseOSRelease(t *testing.T) {
	in := `# /etc/os-release of a test
NAME="Ubuntu"
VERSION="16.04.7 LTS (Xenial Xerus)"
ID=ubuntu
ID_LIKE=debian
  PRETTY_NAME='Ubuntu 16.04.7 LTS'

VERSION_ID="16.04"
QUOTED="say \"hi\" for \$5 \\ \` + "`" + ` done"
SINGLE='it''s'
MIXED=a"b c"'d e'f
BACKSLASH=a\ b
TRAILING=value # a comment
HASH=a#b
EMPTY=
EMPTYQ=""
UNCLOSED="runs to the end
not a line
=novalue
1BAD=x
lower_ok=yes
VERSION_CODENAME=xenial
`
	want := map[string]string{
		"NAME":             "Ubuntu",
		"VERSION":          "16.04.7 LTS (Xenial Xerus)",
		"ID":               "ubuntu",
		"ID_LIKE":          "debian",
		"PRETTY_NAME":      "Ubuntu 16.04.7 LTS",
		"VERSION_ID":       "16.04",
		"QUOTED":           "say \"hi\" for $5 \\ ` done",
		"SINGLE":           "its",
		"MIXED":            "ab cd ef",
		"BACKSLASH":        "a b",
		"TRAILING":         "value",
		"HASH":             "a#b",
		"EMPTY":            "",
		"EMPTYQ":           "",
		"UNCLOSED":         "runs to the end",
		"lower_ok":         "yes",
		"VERSION_CODENAME": "xenial",
	}
	got := ParseOSRelease(in)
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected key %s = %q", k, got[k])
			}
		}
	}
	// Backslashes inside double quotes only escape $ " \ ` (as in sh).
	if got := ParseOSRelease(`X="a\nb"`)["X"]; got != `a\nb` {
		t.Errorf("X = %q", got)
	}
}

// cannedFacts is what the facts script prints on an Ubuntu host running
// docker with cgroupfs that has joined a cluster, behind a chatty login
// shell.
const cannedFacts = `Welcome to the machine! Last login: yesterday
ID=evil
@@fleet-facts:not really, the motd says this
ID=evil
` + factsMark + `os-release
NAME="Ubuntu"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 16.04.7 LTS"
VERSION_ID="16.04"
UBUNTU_CODENAME=xenial
` + factsMark + `arch
aarch64
` + factsMark + `init
systemd
` + factsMark + `sudo
yes
` + factsMark + `cgroup
docker cgroupfs
` + factsMark + `docker
installed
running cgroupfs
version 5:20.10.24~3-0~ubuntu-xenial
` + factsMark + `daemon.json
present
{"log-driver": "json-file",
 "exec-opts": ["native.cgroupdriver=cgroupfs"]}
` + factsMark + `containerd
installed
config
disabled_plugins = ["cri"]
` + factsMark + `kubelet
config cgroupDriver: cgroupfs
flag --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock
` + factsMark + `cri-dockerd
` + factsMark + `cgroup2
` + factsMark + `joined
yes
` + factsMark + `end
`

func TestGatherFacts(t *testing.T) {
	ft := newFake()
	ft.answers["/bin/sh -c "+fleet.Quote(factsScript)] = output(cannedFacts)
	f, err := GatherFacts(context.Background(), ft)
	if err != nil {
		t.Fatal(err)
	}
	if calls := ft.callList(); len(calls) != 1 || !strings.HasPrefix(calls[0], "exec /bin/sh -c ") {
		t.Errorf("want one command, not as root; got %q", calls)
	}
	want := &Facts{
		OSRelease: map[string]string{"NAME": "Ubuntu", "ID": "ubuntu", "ID_LIKE": "debian", "PRETTY_NAME": "Ubuntu 16.04.7 LTS",
			"VERSION_ID": "16.04", "UBUNTU_CODENAME": "xenial"},
		ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "16.04", Codename: "xenial", PrettyName: "Ubuntu 16.04.7 LTS",
		Arch: "aarch64", DebArch: "arm64", Init: "systemd", SudoPassword: true, CgroupDriver: "cgroupfs", Joined: true,
		CgroupDrivers: map[string]string{srcDockerInfo: "cgroupfs", srcDaemonJSON: "cgroupfs", srcKubeletConfig: "cgroupfs"},
		DockerVersion: "20.10.24",
		CRIProblem:    `containerd's /etc/containerd/config.toml disables its CRI plugin (disabled_plugins = ["cri"], as Docker's containerd.io package ships it)`,
		runtime: runtimeFacts{containerd: true, containerdDrv: "cgroupfs", dockerDrv: "cgroupfs", kubeletDrv: "cgroupfs",
			kubeletEndpoint: "unix:///var/run/containerd/containerd.sock"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
}

func TestParseFactsVariants(t *testing.T) {
	section := func(name, body string) string { return factsMark + name + "\n" + body }
	base := section("os-release", "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.9\"\n") +
		section("arch", "x86_64\n") + section("init", "init\n") + section("sudo", "no\n")
	tests := []struct {
		name, cgroup, joined string
		check                func(*Facts) bool
	}{
		{"containerd systemd", "containerd\n            SystemdCgroup = true\n", "no\n",
			func(f *Facts) bool { return f.CgroupDriver == "systemd" && !f.Joined }},
		{"containerd default", "containerd\n            SystemdCgroup = false\n", "no\n",
			func(f *Facts) bool { return f.CgroupDriver == "cgroupfs" }},
		{"containerd without the key", "containerd\n", "no\n", func(f *Facts) bool { return f.CgroupDriver == "cgroupfs" }},
		{"docker that would not answer", "docker\n", "no\n", func(f *Facts) bool { return f.CgroupDriver == "" }},
		{"no runtime", "", "no\n", func(f *Facts) bool {
			return f.CgroupDriver == "" && f.ID == "rocky" && reflect.DeepEqual(f.IDLike, []string{"rhel", "centos", "fedora"}) &&
				f.DebArch == "amd64" && f.Init == "init" && !f.SudoPassword && f.Codename == ""
		}},
	}
	for _, tt := range tests {
		out := base + section("cgroup", tt.cgroup) + section("joined", tt.joined) + section("end", "")
		f, err := parseFacts(out)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !tt.check(f) {
			t.Errorf("%s: %+v", tt.name, f)
		}
	}
	// Cut short (the connection dropped): an error, not half the facts.
	if _, err := parseFacts(base); err == nil {
		t.Error("no error for output without the end marker")
	}
}

func TestGatherFactsError(t *testing.T) {
	ft := newFake()
	ft.answers["/bin/sh -c "+fleet.Quote(factsScript)] = errors.New("connection lost")
	if _, err := GatherFacts(context.Background(), ft); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("err = %v", err)
	}
}

// TestFactsScriptRuns runs the script with this machine's /bin/sh: it must
// be valid sh and say at least what uname says.
func TestFactsScriptRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the facts script is for Linux hosts")
	}
	out, err := exec.Command("/bin/sh", "-c", factsScript).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f, err := parseFacts(string(out))
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := exec.Command("uname", "-m").Output()
	if f.Arch != strings.TrimSpace(string(arch)) || f.Init == "" {
		t.Errorf("facts of this machine: %+v", f)
	}
	if _, err := os.Stat("/etc/os-release"); err == nil && f.ID == "" {
		t.Errorf("no ID from /etc/os-release: %+v", f)
	}
}

func TestDebArch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386", "ppc64le": "ppc64el", "s390x": "s390x"} {
		if got := debArch(in); got != want {
			t.Errorf("debArch(%s) = %s, want %s", in, got, want)
		}
	}
}
