package main

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "512B": 512, "512K": 512 << 10, "512k": 512 << 10, "64M": 64 << 20,
		"64MiB": 64 << 20, "64MB": 64 << 20, " 1G ": 1 << 30, "1 GiB": 1 << 30, "2T": 2 << 40,
	} {
		if got, err := parseSize(in, "--max-output"); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "1.5M", "12X", "1MM", "1 KB B", "9999999999T", "ten"} {
		_, err := parseSize(in, "--max-output")
		if err == nil || !strings.Contains(err.Error(), "--max-output") {
			t.Errorf("parseSize(%q): %v, want an error naming the flag", in, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0B", 1000: "1000B", 1024: "1K", 16 << 20: "16M", 1 << 30: "1G", 50_000_000: "47.7M", 1536: "1.5K",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if n%1024 == 0 && n > 0 {
			if back, err := parseSize(formatSize(n), "x"); err != nil || back != n {
				t.Errorf("formatSize(%d) does not read back: %d, %v", n, back, err)
			}
		}
	}
}

func TestKeepSize(t *testing.T) {
	var warn strings.Builder
	for v, want := range map[string]int64{"": defaultKeepSize, "500M": 500 << 20, "0": 0, "lots": defaultKeepSize} {
		t.Setenv("FLEET_KEEP_SIZE", v)
		warn.Reset()
		if got := keepSize(&warn); got != want {
			t.Errorf("FLEET_KEEP_SIZE=%q: %d, want %d", v, got, want)
		}
		if bad := v == "lots"; bad != strings.Contains(warn.String(), "FLEET_KEEP_SIZE: \"lots\" is not a size") {
			t.Errorf("FLEET_KEEP_SIZE=%q: warning %q", v, warn.String())
		}
	}
}
