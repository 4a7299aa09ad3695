package fleet

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

func TestGetAndGetTree(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{SFTP: true})
	c := dial(t, env.dialer(), srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	remote := t.TempDir()
	os.MkdirAll(filepath.Join(remote, "a", "b"), 0o755)
	data := bytes.Repeat([]byte("0123456789"), 200000)
	os.WriteFile(filepath.Join(remote, "a", "b", "f"), data, 0o640)
	os.Symlink("b/f", filepath.Join(remote, "a", "link"))

	local := t.TempDir()
	dst := filepath.Join(local, "copy")
	var got int64
	if err := c.Get(ctx, filepath.Join(remote, "a", "b", "f"), dst, func(n int64) { got += n }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dst)
	st, _ := os.Stat(dst)
	if !bytes.Equal(b, data) || st.Mode().Perm() != 0o640 || got != int64(len(data)) {
		t.Fatalf("get: %d bytes, mode %o, progress %d", len(b), st.Mode().Perm(), got)
	}
	if err := c.Get(ctx, filepath.Join(remote, "missing"), filepath.Join(local, "m"), nil); OutcomeOf(Classify(ctx, err)) != Failed {
		t.Errorf("missing remote file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(local, "m")); err == nil {
		t.Error("a failed get left a file")
	}
	tree := filepath.Join(local, "tree")
	if err := c.GetTree(ctx, filepath.Join(remote, "a"), tree, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(tree, "b", "f")); !bytes.Equal(b, data) {
		t.Error("tree file differs")
	}
	if l, err := os.Readlink(filepath.Join(tree, "link")); err != nil || l != "b/f" {
		t.Errorf("link: %q %v", l, err)
	}
	ents, _ := os.ReadDir(local)
	for _, e := range ents {
		if e.Name()[0] == '.' {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestMkdirAllAndPutLink(t *testing.T) {
	env := newEnv(t)
	srv := env.server(sshtest.Config{SFTP: true})
	c := dial(t, env.dialer(), srv)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "x", "y")
	for i, want := range []bool{true, false} {
		made, err := c.MkdirAll(ctx, dir, PutOptions{})
		if err != nil || made != want {
			t.Fatalf("mkdir %d: made=%v err=%v", i, made, err)
		}
	}
	link := filepath.Join(dir, "l")
	os.WriteFile(link, []byte("a file in the way"), 0o644)
	for i, want := range []bool{true, false} {
		made, err := c.PutLink(ctx, "../target with space", link, PutOptions{})
		if err != nil || made != want {
			t.Fatalf("link %d: made=%v err=%v", i, made, err)
		}
	}
	if l, _ := os.Readlink(link); l != "../target with space" {
		t.Fatalf("link -> %q", l)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Fatalf("left: %v", l)
	}
}
