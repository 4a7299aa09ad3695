package ui

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/fleet-sh/fleet/fleet"
)

// Hosts whose whole outputs are the same fold, by the hashes taken while
// the output streamed, even though their kept output differs (each mark
// names the host's own log); hosts whose kept output is the same but whose
// whole output differs past the cut do not.
func TestGatherFoldsByWholeStream(t *testing.T) {
	same := sha256.Sum256([]byte("the whole output"))
	other := sha256.Sum256([]byte("another whole output"))
	empty := sha256.Sum256(nil)
	cut := func(i int, name string, sum [sha256.Size]byte) fleet.Result {
		r := res(i, name, nil, "head\n[fleet: 10M of stdout cut here; all of it is in /r/hosts/"+name+".log]\ntail\n", "", at(1))
		r.StdoutSum, r.StderrSum, r.StdoutCut = &sum, &empty, 10<<20
		return r
	}
	results := []fleet.Result{cut(0, "node01", same), cut(1, "node02", same), cut(2, "node03", other), cut(3, "node04", same)}
	got := string(appendGather(nil, results, Raw))
	if !strings.Contains(got, "node[01-02,04] (exit 0)\n") || !strings.Contains(got, "node03 (exit 0)\n") {
		t.Fatalf("groups:\n%s", got)
	}
	if strings.Count(got, gatherRule) != 4 || !strings.Contains(got, "/r/hosts/node01.log]\ntail\n") {
		t.Errorf("want two groups, the first shown with node01's mark:\n%s", got)
	}
	// A result with no hash (a host that printed nothing, or a result
	// built without a capture) folds with a hashed one of the same bytes.
	plain := res(4, "node05", nil, "", "", at(1))
	hashed := res(5, "node06", nil, "", "", at(1))
	hashed.StdoutSum, hashed.StderrSum = &empty, &empty
	if got := string(appendGather(nil, []fleet.Result{plain, hashed}, Raw)); !strings.Contains(got, "node[05-06] (exit 0)") {
		t.Errorf("empty output did not fold:\n%s", got)
	}
}
