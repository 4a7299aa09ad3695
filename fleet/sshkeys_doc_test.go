package fleet

import (
	"os"
	"strings"
	"testing"
)

// TestSSHKeysDocumented: docs/ssh.md lists every key in the section of
// what fleet does with it, so the doc cannot drift from the code.
func TestSSHKeysDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/ssh.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	section := func(title string) string {
		i := strings.Index(doc, "### "+title)
		if i < 0 {
			t.Fatalf("docs/ssh.md has no section %q", title)
		}
		rest := doc[i+4:]
		if j := strings.Index(rest, "\n### "); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	secs := map[keyClass]string{honoured: section("Honoured"), refused: section("Refused"), ignored: section("Ignored")}
	for _, ki := range sshKeys {
		if !strings.Contains(secs[ki.class], ki.name) {
			t.Errorf("docs/ssh.md does not list %s in its section", ki.name)
		}
	}
}
