package recipes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExample keeps the example of docs/recipes.md a valid recipe that
// does what the text around it says.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "recipes.md"))
	if err != nil {
		t.Skip("docs/recipes.md is not here:", err)
	}
	text := string(doc)
	_, after, ok := strings.Cut(text, "## An example")
	_, block, ok2 := strings.Cut(after, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no ```yaml block after \"## An example\"")
	}
	r, err := Parse(strings.NewReader(block), "docs/recipes.md", "")
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		facts    *Facts
		platform string
		calls    []string
	}{
		{&Facts{ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "24.04"}, "apt", []string{
			"exec[sudo] dpkg -s chrony",
			"exec[sudo] DEBIAN_FRONTEND=noninteractive apt-get install -y chrony",
			"put /etc/chrony/chrony.conf",
			"exec[sudo] systemctl restart chrony",
			"exec[sudo] systemctl is-enabled chrony",
		}},
		{&Facts{ID: "rocky", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "9.3"}, "dnf", []string{
			"exec[sudo] rpm -q chrony",
			"exec[sudo] dnf install -y chrony",
			"put /etc/chrony.conf",
			"exec[sudo] systemctl restart chronyd",
			"exec[sudo] systemctl is-enabled chronyd",
		}},
	} {
		ft := newFake()
		ft.answers["dpkg -s chrony"] = exitStatus(1)
		ft.answers["rpm -q chrony"] = exitStatus(1)
		rep := mustApply(t, ft, r, tt.facts, Options{})
		if rep.Platform != tt.platform || strings.Join(ft.callList(), "\n") != strings.Join(tt.calls, "\n") {
			t.Errorf("%s: platform %s, calls:\n%s", tt.facts.ID, rep.Platform, strings.Join(ft.callList(), "\n"))
		}
		for _, f := range ft.files {
			if got := string(f.data); !strings.HasPrefix(got, "# Written by fleet (recipe chrony): edits here are replaced.\npool pool.ntp.org iburst\ndriftfile") {
				t.Errorf("chrony.conf:\n%s", got)
			}
		}
	}

	// The dry run shown under "## Dry run".
	_, plan, _ := strings.Cut(text, "## Dry run")
	_, plan, _ = strings.Cut(plan, "```\n== plan for node[1-3]: ")
	plan, _, _ = strings.Cut(plan, "```")
	head, body, _ := strings.Cut(plan, "\n")
	ft := newFake()
	ft.files["/etc/chrony/chrony.conf"] = &fakeFile{data: []byte("edited\n"), mode: 0o644, owner: "root", group: "root"}
	rep, err := Apply(context.Background(), ft, r, &Facts{ID: "ubuntu", VersionID: "24.04"}, Options{DryRun: true})
	if err != nil || rep.Summary() != head || rep.Plan() != body {
		t.Errorf("dry run: %v\n%s\n%s\nthe text says:\n%s\n%s", err, rep.Summary(), rep.Plan(), head, body)
	}

	_, err = r.Select(&Facts{ID: "centos", IDLike: []string{"rhel", "fedora"}, VersionID: "7"})
	if err == nil || !strings.Contains(text, "\n"+err.Error()+"\n") {
		t.Errorf("the text does not show the error %v", err)
	}
}

// TestExampleRecipesLoad keeps docs/examples valid: the README shows them.
func TestExampleRecipesLoad(t *testing.T) {
	files, err := filepath.Glob("../docs/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example recipes found: %v", err)
	}
	for _, f := range files {
		r, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if p, err := r.Select(&Facts{ID: "rocky", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "8.10"}); err != nil || p.Name != "dnf" {
			t.Errorf("%s on rocky 8: %v %v", f, p, err)
		}
	}
}
