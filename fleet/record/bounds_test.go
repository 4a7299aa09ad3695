package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

// A host that prints far more than MaxLog has its log cut near MaxLog, with
// notes saying so and how much was left out; the log still ends with the
// host's end note, and run.json counts the cut.
func TestHostLogStopsAtMaxLog(t *testing.T) {
	state := t.TempDir()
	rec, hosts := newRecord(t, state, "loud quiet", Info{Command: "run"})
	const max = 64 << 10
	rec.MaxLog = max
	loud, quiet := rec.HostLog(0), rec.HostLog(1)
	loud.Note("start loud")
	line := bytes.Repeat([]byte("y"), 99)
	line = append(line, '\n')
	const lines = 10_000 // 1,000,000 bytes: fifteen times max
	for i := 0; i < lines; i++ {
		loud.Stdout().Write(line)
		if i%100 == 0 {
			loud.Stderr().Write([]byte("err line\n"))
		}
	}
	quiet.Stdout().Write([]byte("small\n"))
	loud.Note("end ok exit=0 (1s)")
	quiet.Note("end ok exit=0 (1s)")
	loud.Close()
	quiet.Close()
	total := int64(lines*len(line) + lines/100*len("err line\n"))
	if cut := loud.Cut(); cut <= total-max || cut >= total {
		t.Errorf("cut %d of %d bytes with max %d", cut, total, max)
	}
	if quiet.Cut() != 0 {
		t.Errorf("the quiet host's log was cut: %d", quiet.Cut())
	}
	if err := rec.Finish([]fleet.Result{{Index: 0, Host: hosts[0], Outcome: fleet.OK}, {Index: 1, Host: hosts[1], Outcome: fleet.OK}}, 0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(loud.Path())
	if err != nil {
		t.Fatal(err)
	}
	// Each line carries a 30-byte prefix: max counts output, not prefixes,
	// so the file holds max bytes of output and prefixes of its lines, and
	// fleet's notes.
	kept := strings.Count(string(b), " out | ") + strings.Count(string(b), " err | ")
	if int64(len(b)) > max+int64(kept)*30+1024 {
		t.Errorf("log is %d bytes for max %d (%d lines)", len(b), max, kept)
	}
	text := string(b)
	for _, want := range []string{"--- | output past --max-log 65536 bytes is not logged; the command goes on",
		"bytes of output were not logged (past --max-log 65536 bytes)"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if note := lastEndNote(loud.Path()); note != "ok exit=0 (1s)" {
		t.Errorf("end note %q", note)
	}
	var info Info
	b, _ = os.ReadFile(filepath.Join(rec.Dir, "run.json"))
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.Hosts[0].LogCut != loud.Cut() || info.Hosts[1].LogCut != 0 {
		t.Errorf("run.json log_cut %d, %d; want %d, 0", info.Hosts[0].LogCut, info.Hosts[1].LogCut, loud.Cut())
	}
	if info.Bytes < int64(len(text)) {
		t.Errorf("run.json bytes %d, less than one log (%d)", info.Bytes, len(text))
	}
}

// Records past the size budget go, oldest first, even when the count
// allows them; the newest stays even when it alone is over the budget.
func TestPruneRunsBySize(t *testing.T) {
	state := t.TempDir()
	hosts := labelled(t, "a")
	var ids []string
	for i := 0; i < 5; i++ {
		rec, err := New(state, Info{Command: "run", Start: time.Date(2026, 11, 27, 12, 0, i, 0, time.UTC)}, hosts)
		if err != nil {
			t.Fatal(err)
		}
		l := rec.HostLog(0)
		l.Stdout().Write(bytes.Repeat([]byte("0123456789abcde\n"), 100<<10/16)) // 100 KiB of output
		l.Close()
		if err := rec.Finish([]fleet.Result{{Index: 0, Host: hosts[0], Outcome: fleet.OK}}, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID())
	}
	left := func() string {
		runs, _ := List(state)
		var s []string
		for _, r := range runs {
			s = append(s, r.Info.ID)
		}
		return strings.Join(s, ",")
	}
	// Each record is a bit over 100 KiB of log plus its prefixes (about
	// 290 KiB): 700 KiB holds two of them, not three.
	if err := Prune(state, 100, 700<<10); err != nil {
		t.Fatal(err)
	}
	if got, want := left(), ids[4]+","+ids[3]; got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
	// A budget smaller than the newest run keeps the newest.
	if err := Prune(state, 100, 1); err != nil {
		t.Fatal(err)
	}
	if got := left(); got != ids[4] {
		t.Fatalf("left %s, want only the newest %s", got, ids[4])
	}
}
