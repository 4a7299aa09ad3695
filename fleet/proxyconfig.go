package fleet

import (
	"fmt"
	"strings"

	sshconfig "github.com/kevinburke/ssh_config"
)

// proxy chooses how to reach alias: through a ProxyJump spec, a
// ProxyCommand, or directly (both ""). OpenSSH's rule (readconf.c, ssh.c):
// -J wins over the config files (ssh sets ProxyCommand to none) and refuses
// an -o ProxyCommand; otherwise whichever of ProxyJump and ProxyCommand is
// found first wins, and later instances of the other are ignored.
// `ssh -G` is the reference the tests compare with.
func (c *sshConfig) proxy(alias, jumpFlag string) (jump, command string, err error) {
	if jumpFlag != "" {
		for _, kv := range c.overrides {
			if strings.EqualFold(kv[0], "ProxyCommand") && !isNone(kv[1]) {
				return "", "", fmt.Errorf("ssh options: -J and -O ProxyCommand cannot be used together (ssh refuses them too); keep one")
			}
		}
		if !isNone(jumpFlag) {
			return jumpFlag, "", nil
		}
	}
	// "ProxyJump none" settles ProxyJump but, unlike "ProxyCommand none",
	// does not stop a later ProxyCommand (OpenSSH 9.2's ssh -G agrees).
	var key, val string
	jumpNone := jumpFlag != "" // -J none: as ProxyJump none, found first
	err = c.each(alias, []string{"ProxyJump", "ProxyCommand"}, func(k, v string) bool {
		if k == "ProxyJump" && (jumpNone || isNone(v)) {
			jumpNone = true
			return false
		}
		key, val = k, v
		return true
	})
	if err != nil || isNone(val) {
		return "", "", err
	}
	if strings.EqualFold(key, "ProxyJump") {
		return val, "", nil
	}
	return "", val, nil
}

func isNone(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "none") }

// each calls fn with each setting of keys for alias, in the order ssh
// reads them, until fn returns true: the -O overrides in order, then each
// file's matching blocks in order. Inside a file pulled in by Include the
// parser hides the order of the lines; when several of keys are set there,
// fleet cannot tell which ssh would take and says so rather than guess.
func (c *sshConfig) each(alias string, keys []string, fn func(key, value string) bool) error {
	for _, kv := range c.overrides {
		for _, k := range keys {
			if strings.EqualFold(kv[0], k) && fn(k, kv[1]) {
				return nil
			}
		}
	}
	for _, f := range c.files {
		for _, h := range f.Hosts {
			if !h.Matches(alias) {
				continue
			}
			for _, n := range h.Nodes {
				switch n := n.(type) {
				case *sshconfig.KV:
					for _, k := range keys {
						if strings.EqualFold(n.Key, k) && n.Value != "" && fn(k, n.Value) {
							return nil
						}
					}
				case *sshconfig.Include:
					var found [][2]string
					for _, k := range keys {
						if v := n.Get(alias, k); v != "" {
							found = append(found, [2]string{k, v})
						}
					}
					if len(found) > 1 {
						return fmt.Errorf("ssh config: %s are both set for %s in files included by %q (line %d); fleet cannot tell which comes first: keep one, or pass it with -O",
							strings.Join(keys, " and "), alias, strings.TrimSpace(n.String()), n.Pos().Line)
					}
					if len(found) == 1 && fn(found[0][0], found[0][1]) {
						return nil
					}
				}
			}
		}
	}
	return nil
}
