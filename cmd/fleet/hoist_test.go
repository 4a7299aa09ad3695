package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestHoistFlags(t *testing.T) {
	flags := []cli.Flag{&cli.StringSliceFlag{Name: "var"}, &cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}},
		&cli.StringSliceFlag{Name: "hosts", Aliases: []string{"h"}}}
	tests := []struct{ in, want string }{
		{"-h kube docker --var a=b --dry-run", "-h kube --var a=b --dry-run docker"},
		{"docker -n --var=x=y", "-n --var=x=y docker"},
		{"-h kube docker", "-h kube docker"},
		{"docker -- --var", "docker -- --var"},
	}
	for _, tt := range tests {
		if got := strings.Join(hoistFlags(strings.Fields(tt.in), flags), " "); got != tt.want {
			t.Errorf("hoist(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Short options with their value attached, as optparse takes them, are
// split for every command's value flags; words after the command, and an
// option's own value, are left alone. (Issue 15 item 4: all of these were
// exit 2 before.)
func TestNormaliseAttachedValues(t *testing.T) {
	tests := []struct{ in, want string }{
		{"run -t0 -p4 -lroot -hFILE -ofoo -efoo2 uptime", "run -t 0 -p 4 -l root -h FILE -o foo -e foo2 uptime"},
		{"run -ih kube -t0 uptime -t5", "run -ih kube -t 0 uptime -t5"},
		{"run -ihkube uptime", "run -ih kube uptime"},
		{"run -x -q -OLogLevel=ERROR -Hh uptime", "run -x -q -O LogLevel=ERROR -H h uptime"},
		{"run --timeout 5 -t3 -- -t4", "run --timeout 5 -t 3 -- -t4"},
		{"run -Z9 uptime", "run -Z9 uptime"},
		{"copy -r -t60 -hF f /tmp/x", "copy -r -t 60 -h F f /tmp/x"},
		{"slurp -Lout -hF /etc/hosts hosts", "slurp -L out -h F /etc/hosts hosts"},
		{"provision docker -hkube -n", "provision -h kube -n docker"},
		// Short options run together after the recipe: the last one's
		// value goes with them.
		{"provision docker -nh kube", "provision -nh kube docker"},
		{"provision docker -n -vAh kube --force", "provision -n -vAh kube --force docker"},
		{"runs -1", "runs -1"},
		// A long name written with one dash, as Go's flag package and
		// urfave/cli take it, is that option, not -o with "utdir".
		{"run -outdir out -timeout 5 uptime", "run -outdir out -timeout 5 uptime"},
		{"run -outdir=out -inline uptime", "run -outdir=out -inline uptime"},
		{"slurp -localdir out /etc/hosts hosts", "slurp -localdir out /etc/hosts hosts"},
	}
	for _, tt := range tests {
		in := append([]string{"fleet"}, strings.Fields(tt.in)...)
		if got := strings.Join(normaliseArgs(in)[1:], " "); got != tt.want {
			t.Errorf("normalise(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
