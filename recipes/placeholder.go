package recipes

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
)

// A placeholder stands for a value in rendered text until a renderer knows
// where the value goes. It is letters and digits only, so that a shell
// parser reads it as part of a word wherever it stands, and carries the
// value in hex, so that no value can forge one or change how the text
// around it parses:
//
//	zfleet<nonce><kind><hex of the value>Z
//
// kind is 'p' for a value, 's' for a secret one and 'n' for the name of a
// variable (the checks at load time, which have no values). The nonce is
// random per process: a recipe cannot spell one by accident.
var (
	placeholderNonce = newNonce()
	placeholderRE    = regexp.MustCompile(`zfleet` + placeholderNonce + `([psn])([0-9a-f]*)Z`)
)

func newNonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// placeholder returns the placeholder of a value of kind k.
func placeholder(k byte, value string) string {
	return "zfleet" + placeholderNonce + string(k) + hex.EncodeToString([]byte(value)) + "Z"
}

// found is one placeholder in a text: where it is, and what it stands for.
type found struct {
	start, end int
	value      string
	secret     bool
	name       bool // kind 'n': value is a variable's name
}

// findPlaceholders returns the placeholders in s, in order.
func findPlaceholders(s string) []found {
	var out []found
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(s, -1) {
		v, err := hex.DecodeString(s[m[4]:m[5]])
		if err != nil {
			continue // odd length: not one of ours
		}
		k := s[m[2]]
		out = append(out, found{start: m[0], end: m[1], value: string(v), secret: k == 's', name: k == 'n'})
	}
	return out
}
