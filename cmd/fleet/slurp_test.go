package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1, "512K": 512 << 10, "100M": 100 << 20, "2G": 2 << 30, "1T": 1 << 40,
		"1g": 1 << 30, "10MB": 10 << 20, "10MiB": 10 << 20, " 7 ": 7, "4096B": 4096,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1", "1.5G", "1X", "9999999999T", "1 G B"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestOpenHostDir: the host's folder is created, reused, and refused when
// it is a link or a file.
func TestOpenHostDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "web1")
	for i := 0; i < 2; i++ {
		root, err := openHostDir(dir)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		root.Close()
	}
	link := filepath.Join(base, "web2")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if _, err := openHostDir(link); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("a link: %v", err)
	}
	file := filepath.Join(base, "web3")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openHostDir(file); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("a file: %v", err)
	}
}
