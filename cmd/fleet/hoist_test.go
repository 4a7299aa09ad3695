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
