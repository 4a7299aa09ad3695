package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
