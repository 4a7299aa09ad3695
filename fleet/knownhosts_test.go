package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	skh "github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xkh "golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

func testPublicKeys(t *testing.T) (ed, ed2, ec, rs ssh.PublicKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ec, err = ssh.NewPublicKey(&k.PublicKey); err != nil {
		t.Fatal(err)
	}
	return sshtest.NewClientKey(t).PublicKey(), sshtest.NewClientKey(t).PublicKey(), ec, rsaSigner(t, 1024).PublicKey()
}

// TestKeyDBPlainIndexAgreesWithXCrypto: for plain known_hosts files, the
// index answers every lookup as x/crypto (through skeema/knownhosts) does:
// the same error, the same known keys with their file and line, the same
// algorithms in the same order.
func TestKeyDBPlainIndexAgreesWithXCrypto(t *testing.T) {
	ed, ed2, ec, rs := testPublicKeys(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "b_known_hosts"), filepath.Join(dir, "a_known_hosts") // b sorts first by name
	line := func(hosts string, k ssh.PublicKey) string { return xkh.Line(strings.Split(hosts, ","), k) + "\n" }
	writeFile(t, a, "# comment\n\n"+line("web1,10.0.0.1", ed)+line("[web1]:2222", ec)+
		"   "+line("web2", rs)+line("web2", ed2)+line("[10.0.0.2]:22", ed), 0o600)
	writeFile(t, b, line("web2", ec)+line("db", ed), 0o600)
	db, err := loadKeyDB([]string{a, b})
	if err != nil || db.plain == nil {
		t.Fatalf("loadKeyDB: %v (plain index: %v)", err, db != nil && db.plain != nil)
	}
	ref, err := skh.NewDB(a, b)
	if err != nil {
		t.Fatal(err)
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	for _, name := range []string{"web1:22", "10.0.0.1:22", "web1:2222", "web2:22", "10.0.0.2:22", "db:22",
		"db:2222", "unknown:22", "WEB1:22"} {
		if got, want := db.algorithms(name), ref.HostKeyAlgorithms(name); !slices.Equal(got, want) {
			t.Errorf("algorithms(%s) = %v, x/crypto %v", name, got, want)
		}
		for _, k := range []ssh.PublicKey{ed, ed2, ec, rs} {
			got, want := db.check(name, remote, k), ref.HostKeyCallback()(name, remote, k)
			if describeKeyErr(got) != describeKeyErr(want) {
				t.Errorf("check(%s, %s):\n got  %s\n want %s", name, k.Type(), describeKeyErr(got), describeKeyErr(want))
			}
		}
	}
}

// describeKeyErr writes a lookup result comparably: nil, or the known keys.
func describeKeyErr(err error) string {
	var ke *xkh.KeyError
	if err == nil || !errors.As(err, &ke) {
		return "nil"
	}
	var b strings.Builder
	b.WriteString("want")
	for _, k := range ke.Want {
		b.WriteString(" " + filepath.Base(k.Filename) + ":" + strconv.Itoa(k.Line) + ":" + ssh.FingerprintSHA256(k.Key))
	}
	return b.String()
}

// TestKeyDBOtherFormsGoToXCrypto: hashed names, wildcards, negations and
// markers are not indexed; x/crypto answers, @revoked included.
func TestKeyDBOtherFormsGoToXCrypto(t *testing.T) {
	ed, ed2, _, _ := testPublicKeys(t)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	for name, extra := range map[string]string{
		"hashed":   xkh.Line([]string{xkh.HashHostname("web3")}, ed2),
		"wildcard": xkh.Line([]string{"*.example.com"}, ed2),
		"negation": xkh.Line([]string{"web*", "!web9"}, ed2),
		"revoked":  "@revoked * " + authorizedKey(ed2),
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, file, xkh.Line([]string{"web1"}, ed)+"\n"+extra+"\n", 0o600)
			db, err := loadKeyDB([]string{file})
			if err != nil || db.full == nil {
				t.Fatalf("loadKeyDB: %v; indexed although not plain: %v", err, db != nil && db.plain != nil)
			}
			if err := db.check("web1:22", remote, ed); err != nil {
				t.Errorf("known key refused: %v", err)
			}
		})
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, file, xkh.Line([]string{"web1"}, ed2)+"\n@revoked * "+authorizedKey(ed2)+"\n", 0o600)
	db, err := loadKeyDB([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	var re *xkh.RevokedError
	if err := db.check("web1:22", remote, ed2); !errors.As(err, &re) {
		t.Errorf("revoked key: %v", err)
	}
}
