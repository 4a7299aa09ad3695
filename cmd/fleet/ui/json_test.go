package ui

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet"
)

func TestJSONLines(t *testing.T) {
	for name, terminal := range map[string]bool{"pipe": false, "terminal": true} {
		t.Run(name, func(t *testing.T) {
			rs := mixed()
			rs[0].Host.User, rs[0].Host.Port = "root", 2222
			rs[0].Stdout = []byte("ok <b>&\xff\xfe\n") // invalid UTF-8, HTML characters
			rs[0].Detail = "centos 7 (yum): 9 changed, 2 unchanged"
			p, out, errb := newTest(Options{JSON: true, Inline: true, Print: true, Gather: true, Terminal: terminal, Total: len(rs)})
			// -P output of a host: with --json it must not reach Stdout.
			w := p.LineWriter(0, "web1", false)
			_, _ = w.Write([]byte("streamed\n"))
			order := []int{3, 0, 5, 1, 4, 2}
			play(p, rs, order, time.Second)

			stdout := out.String()
			var got []JSONResult
			sc := bufio.NewScanner(strings.NewReader(stdout))
			for sc.Scan() {
				var j JSONResult
				if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
					t.Fatalf("stdout line %q is not JSON: %v", sc.Text(), err)
				}
				// Every documented field is present, by its JSON name.
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"host", "target", "user", "name", "port", "outcome", "exit_code", "error", "stdout", "stderr", "start", "end", "duration_ms"} {
					if _, ok := m[k]; !ok {
						t.Errorf("line %s lacks %q", sc.Text(), k)
					}
				}
				got = append(got, j)
			}
			if len(got) != len(rs) {
				t.Fatalf("got %d JSON lines, want %d:\n%s", len(got), len(rs), stdout)
			}
			for i, idx := range order { // finishing order
				if got[i].Host != rs[idx].Host.Label {
					t.Errorf("line %d is %q, want %q (finishing order)", i, got[i].Host, rs[idx].Host.Label)
				}
			}
			web1 := got[1]
			if web1.User != "root" || web1.Name != "web1" || web1.Port != 2222 || web1.Outcome != fleet.OK ||
				web1.ExitCode != 0 || web1.Error != "" || *web1.Stderr != "warn\n" || web1.DurationMS != 1500 ||
				web1.Detail != "centos 7 (yum): 9 changed, 2 unchanged" {
				t.Errorf("web1 = %+v", web1)
			}
			if *web1.Stdout != "ok <b>&\uFFFD\n" {
				t.Errorf("web1 stdout = %q, want invalid UTF-8 replaced by one U+FFFD", *web1.Stdout)
			}
			if web1.End == nil || !web1.End.Equal(at(12)) || web1.Start == nil || !web1.Start.Equal(at(12).Add(-1500*time.Millisecond)) {
				t.Errorf("web1 start/end = %v/%v", web1.Start, web1.End)
			}
			if !strings.Contains(stdout, `"stdout":"ok <b>&`) {
				t.Errorf("HTML characters escaped: %s", stdout)
			}
			web2 := got[3]
			if web2.Outcome != fleet.Failed || web2.Kind != "exit" || web2.Port != 22 || web2.ExitCode != 5 || web2.Error != "exited with error code 5" {
				t.Errorf("web2 = %+v", web2)
			}
			if db := got[5]; db.Outcome != fleet.Unreachable || db.Kind != "unreachable" || db.ExitCode != -1 || db.Error != "unreachable: connection refused" {
				t.Errorf("db1 = %+v", db)
			}
			if ns := got[2]; ns.Outcome != fleet.NotStarted || ns.Kind != "not-started" || ns.Start != nil || ns.End != nil || ns.DurationMS != 0 {
				t.Errorf("not started = %+v", ns)
			}
			if !strings.Contains(stdout, `"start":null`) {
				t.Errorf("a host that never started should have start null:\n%s", stdout)
			}

			// Everything for people went to Stderr, summary last.
			e := errb.String()
			containsAll(t, "stderr", e, "web1: streamed\n", "web1 (exit 0)", "[FAILURE] web2")
			if !strings.HasSuffix(e, "6 hosts: 1 ok, 2 failed, 1 unreachable, 1 timed out, 1 not started (1s)\n") {
				t.Errorf("stderr does not end with the summary:\n%q", e)
			}
			if strings.Contains(e, "hello") {
				t.Errorf("with --json the listing must not repeat host output on stderr:\n%s", e)
			}
		})
	}
}

func TestNewJSONResultRoundTrip(t *testing.T) {
	r := mixed()[1]
	b := appendJSON(nil, &r)
	if n := strings.Count(string(b), "\n"); n != 1 || b[len(b)-1] != '\n' {
		t.Fatalf("want exactly one line, got %q", b)
	}
	var j JSONResult
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if want := NewJSONResult(&r); j.Host != want.Host || j.ExitCode != want.ExitCode || !j.End.Equal(*want.End) {
		t.Errorf("round trip: got %+v, want %+v", j, want)
	}
	// outcome decodes back into fleet.Outcome with its own UnmarshalText.
	if j.Outcome != fleet.Failed {
		t.Errorf("outcome decoded as %v", j.Outcome)
	}
}
