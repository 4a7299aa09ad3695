package recipes

import (
	"errors"
	"strings"
	"testing"
)

// selectRecipe has platforms of every specificity, the general ones first,
// so that only the ranking (not the order) can pick the specific ones.
const selectRecipe = `name: sel
platforms:
  - name: debian-like
    match: [{id_like: debian}]
    steps: [{name: a, run: x}]
  - name: rhel-like-8
    match: [{id_like: rhel, version: "8"}]
    steps: [{name: a, run: x}]
  - name: ubuntu-any
    match: [{id: ubuntu}]
    steps: [{name: a, run: x}]
  - name: ubuntu-new
    match: [{id: ubuntu, version: ">=16.10"}]
    steps: [{name: a, run: x}]
  - name: ubuntu-1604
    match: [{id: ubuntu, version: "=16.04"}]
    steps: [{name: a, run: x}]
  - name: rocky-8
    match: [{id: rocky, version: "8"}]
    steps: [{name: a, run: x}]
  - name: rocky-84
    match: [{id: rocky, version: "=8.4"}]
    steps: [{name: a, run: x}]
  - name: rocky-new
    match: [{id: rocky, version: ">=10"}]
    steps: [{name: a, run: x}]
  - name: debian
    match: [{id: debian, version: ">=10"}]
    steps: [{name: a, run: x}]
  - name: also-debian
    match: [{id: debian, version: ">=11"}]
    steps: [{name: a, run: x}]
`

func TestSelect(t *testing.T) {
	r, err := Parse(strings.NewReader(selectRecipe), "sel.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		like    []string
		version string
		want    string // platform name, "" for unsupported
	}{
		{"ubuntu", []string{"debian"}, "16.04", "ubuntu-1604"}, // exact beats >= and id alone and id_like
		{"ubuntu", []string{"debian"}, "16.10", "ubuntu-new"},  // 16.10 >= 16.10; the exact 16.04 does not match
		{"ubuntu", []string{"debian"}, "24.04", "ubuntu-new"},
		{"ubuntu", []string{"debian"}, "14.04", "ubuntu-any"}, // id alone beats id_like
		{"ubuntu", []string{"debian"}, "", "ubuntu-any"},
		{"linuxmint", []string{"ubuntu", "debian"}, "21.3", "debian-like"},
		{"rocky", []string{"rhel", "centos", "fedora"}, "8.4", "rocky-84"},
		{"rocky", []string{"rhel", "centos", "fedora"}, "8.9", "rocky-8"},  // prefix
		{"rocky", []string{"rhel", "centos", "fedora"}, "8", "rocky-8"},    // prefix, exactly
		{"rocky", []string{"rhel", "centos", "fedora"}, "10", "rocky-new"}, // 10 >= 10; prefix 8 must not take it
		{"rocky", []string{"rhel", "centos", "fedora"}, "80", "rocky-new"}, // 80 >= 10; the earlier prefix 8 would win a tie, had it matched
		{"rocky", []string{"rhel", "centos", "fedora"}, "9.3", ""},         // no rule for 9
		{"almalinux", []string{"rhel", "centos", "fedora"}, "8.9", "rhel-like-8"},
		{"almalinux", []string{"rhel", "centos", "fedora"}, "9.3", ""},
		{"debian", nil, "12", "debian"}, // both debian rules match alike: the earlier wins
		{"debian", nil, "9", ""},        // id_like debian is not debian itself
		{"debian", nil, "", ""},         // testing has no VERSION_ID
		{"arch", nil, "", ""},
		{"", nil, "", ""},
	}
	for _, tt := range tests {
		f := &Facts{ID: tt.id, IDLike: tt.like, VersionID: tt.version}
		p, err := r.Select(f)
		if tt.want == "" {
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Errorf("%s %s: got %v, %v; want *UnsupportedError", tt.id, tt.version, p, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tt.id, tt.version, err)
			continue
		}
		if p.Name != tt.want {
			t.Errorf("%s %s (like %v): got %s, want %s", tt.id, tt.version, tt.like, p.Name, tt.want)
		}
	}
}

func TestConstraint(t *testing.T) {
	tests := []struct {
		c, v string
		want bool
	}{
		{"8", "8", true}, {"8", "8.4", true}, {"8", "8.4.1", true}, {"8", "80", false}, {"8", "10", false}, {"8", "7.9", false},
		{"8.4", "8.4", true}, {"8.4", "8.4.2", true}, {"8.4", "8.40", false}, {"8.4", "8", false},
		{"16.04", "16.04", true}, {"16.04", "16.10", false},
		{">=16.04", "16.10", true}, {">=16.04", "16.04", true}, {">=16.04", "14.04", false}, {">=16.04", "18.04", true},
		{">=8", "10", true}, {">=8", "8.4", true}, {">=8.4", "8.10", true}, {">=8.10", "8.4", false}, {">=10", "9.99", false},
		{"=8.4", "8.4", true}, {"=8.4", "8.4.1", false}, {"=8", "8.0", true}, {"=8", "8.4", false},
		{">= 10", "10", true},
		{">8", "8", false}, {">8", "8.1", true}, {"<18.04", "16.04", true}, {"<18.04", "18.04", false},
		{"<=18.04", "18.04", true}, {"<=18.04", "18.10", false},
		{"!16.04", "16.04.7", false}, {"!16.04", "18.04", true}, {"!=8.4", "8.4", false}, {"!=8.4", "8.4.1", true},
		{"!<18.04", "16.04", false}, {"!<18.04", "22.04", true},
		{">=18.04 <24.04", "18.04", true}, {">=18.04 <24.04", "22.04", true}, {">=18.04 <24.04", "24.04", false},
		{">=18.04 <24.04", "16.04", false}, {">= 18.04 !20.04", "20.04.1", false}, {">= 18.04 !20.04", "22.04", true},
		{"8", "", false}, {"8", "rolling", false}, {">=8", "8.x", false},
	}
	for _, tt := range tests {
		c, err := parseConstraint(tt.c)
		if err != nil {
			t.Fatalf("%q: %v", tt.c, err)
		}
		v, ok := parseVersion(tt.v)
		if got := ok && c.matches(v); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.c, tt.v, got, tt.want)
		}
	}
	for _, bad := range []string{"~8", "=>8", "8.", ".8", "8..4", "x", "8.x", "=", ">=", "!", ">=8 <", "1.2-3", "99999999999"} {
		if _, err := parseConstraint(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestUnsupportedMessage(t *testing.T) {
	src := `name: docker
platforms:
  - name: apt
    match:
      - {id: ubuntu, version: ">=16.04"}
      - {id: debian, version: ">=10"}
      - {id_like: debian}
    steps: [{name: a, run: x}]
  - name: yum
    match:
      - {id: centos, version: "7"}
      - {id: ubuntu, version: ">=16.04"}
    steps: [{name: a, run: x}]
`
	r, err := Parse(strings.NewReader(src), "d.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Select(&Facts{ID: "centos", VersionID: "6"})
	want := "unsupported: centos 6 (this recipe supports: ubuntu >=16.04, debian >=10, debian-like, centos 7)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.ID != "centos" || ue.Version != "6" || len(ue.Supported) != 4 {
		t.Errorf("error = %#v", err)
	}
	_, err = r.Select(&Facts{})
	if err == nil || !strings.HasPrefix(err.Error(), "unsupported: a host without /etc/os-release (") {
		t.Errorf("got %v", err)
	}
}

// TestSelectNoPlatforms: a recipe without platforms runs on every host.
func TestSelectNoPlatforms(t *testing.T) {
	r, err := Parse(strings.NewReader("name: any\nsteps: [{name: a, run: x}]\n"), "a.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Select(&Facts{ID: "plan9"})
	if err != nil || p.Name != "" || len(p.Steps) != 0 {
		t.Errorf("got %+v, %v", p, err)
	}
}

// TestSelectExclude: an exclude rule keeps hosts off a platform that
// another rule (here id_like: debian) would give them; without it Ubuntu
// 16.04 falls through to id_like.
func TestSelectExclude(t *testing.T) {
	src := `name: x
platforms:
  - name: apt
    match:
      - {id: ubuntu, version: ">=18.04"}
      - {id_like: debian}
      - {id: ubuntu, version: "<18.04", exclude: true}
    steps: [{name: a, run: x}]
`
	r := mustParse(t, src)
	xenial := &Facts{ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "16.04"}
	var u *UnsupportedError
	if _, err := r.Select(xenial); !errors.As(err, &u) || !strings.Contains(err.Error(), "not ubuntu <18.04") {
		t.Errorf("ubuntu 16.04: err = %v, want unsupported naming the exclusion", err)
	}
	for _, f := range []*Facts{{ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "22.04"}, {ID: "linuxmint", IDLike: []string{"ubuntu", "debian"}, VersionID: "21"}} {
		if p, err := r.Select(f); err != nil || p.Name != "apt" {
			t.Errorf("%s %s: %v, %v", f.ID, f.VersionID, p, err)
		}
	}
	r2 := mustParse(t, strings.Replace(src, `      - {id: ubuntu, version: "<18.04", exclude: true}
`, "", 1))
	if p, err := r2.Select(xenial); err != nil || p.Name != "apt" {
		t.Errorf("without the exclude rule, 16.04 falls through to id_like: %v, %v", p, err)
	}
	if _, err := Parse(strings.NewReader("name: x\nplatforms:\n  - name: p\n    match: [{id: x, exclude: true}]\n    steps: [{name: a, run: x}]\n"), "t.yaml", ""); err == nil ||
		!strings.Contains(err.Error(), "only exclude rules") {
		t.Errorf("a platform of exclude rules only: err = %v", err)
	}
}
