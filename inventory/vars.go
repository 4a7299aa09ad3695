package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// resolve makes the Host of sh: its groups with their ancestors, and the
// connection variables in Ansible's order of precedence. A variable fleet
// refuses (see checkVariable) refuses the host, as it stands after
// precedence: a host's ansible_connection=ssh undoes its group's =local.
func (p *sectioned) resolve(sh *sectionedHost, depth map[string]int) (Host, error) {
	in := map[string]bool{}
	var climb func(name string)
	climb = func(name string) {
		if in[name] || name == "all" {
			return
		}
		in[name] = true
		for parent := range p.groups[name].parents {
			climb(parent)
		}
	}
	for g := range sh.groups {
		climb(g)
	}
	delete(in, "ungrouped")
	if len(in) == 0 {
		in["ungrouped"] = true
	}
	h := sh.host
	h.Groups = sortedKeys(in)
	refusedLine := 0
	// Lowest precedence first: all, then groups by depth and name (as
	// Ansible sorts them), then the host's own variables.
	order := append([]string{"all"}, h.Groups...)
	slices.SortStableFunc(order, func(a, b string) int {
		return cmp.Or(cmp.Compare(depth[a], depth[b]), strings.Compare(a, b))
	})
	var vars []variable
	for _, g := range order {
		vars = append(vars, p.groups[g].vars...)
	}
	vars = append(vars, sh.vars...)
	others := map[string]variable{} // the other ansible_ keys, last one wins
	for _, v := range vars {
		var err error
		switch v.key {
		case "ansible_host":
			err = checkHostName(v.value)
			h.Name = v.value
		case "ansible_user":
			err = CheckUser(v.value)
			h.User = v.value
		case "ansible_port":
			h.Port, err = parsePort(v.value)
		default:
			if strings.HasPrefix(v.key, "ansible_") {
				others[v.key] = v
			}
		}
		if err != nil {
			return Host{}, fmt.Errorf("%s: %s of %s: %w", v.where, v.key, sh.name, err)
		}
	}
	// The first refused variable in the file is the host's refusal.
	for _, k := range sortedKeys(others) {
		v := others[k]
		reason := checkVariable(v.key, v.value)
		if reason != "" && (h.Refused == nil || v.line < refusedLine) {
			h.Refused = &Refusal{Where: v.where, Key: v.key, Group: v.group, Reason: reason}
			refusedLine = v.line
		}
	}
	if p.ansible || h.Name != sh.name {
		h.Alias = sh.name
	}
	return h, nil
}

// normalKey maps the older ansible_ssh_ names to the ones Ansible uses now.
func normalKey(k string) string {
	switch k {
	case "ansible_ssh_host":
		return "ansible_host"
	case "ansible_ssh_user", "ansible_remote_user":
		return "ansible_user"
	case "ansible_ssh_port":
		return "ansible_port"
	}
	return k
}

// checkVariable says why fleet refuses a host with the ansible_ key k set
// to v, "" when it does not: the keys that would change how a host is
// reached or what runs there, which fleet cannot honour from an inventory,
// since ignoring them would reach the host another way than Ansible does.
// The values of the three keys fleet honours are checked where they are
// used. The reason names the flag to use instead where there is one, and
// never the value of a key that may hold a secret.
//
// ansible_ssh_private_key_file stays refused: fleet's identities are the
// run's (--identity, ssh_config), not a host's, and a run record keeps a
// host as [user@]host[:port], so a rerun would reach it with other keys.
func checkVariable(k, v string) string {
	if !strings.HasPrefix(k, "ansible_") {
		return "" // the user's own variable, for playbooks
	}
	switch nk := normalKey(k); {
	case nk == "ansible_host" || nk == "ansible_user" || nk == "ansible_port":
		return ""
	case strings.HasSuffix(k, "_interpreter"):
		return "" // which python Ansible runs: nothing to fleet
	case k == "ansible_connection":
		switch v {
		case "ssh", "smart", "paramiko", "paramiko_ssh":
			return ""
		}
		return fmt.Sprintf("ansible_connection=%s: fleet reaches hosts with ssh only", v)
	case k == "ansible_become" && isFalse(v):
		return "" // not becoming is what fleet does without --sudo
	case strings.Contains(k, "private_key_file"):
		return k + " is not read from an inventory: give the key with --identity FILE or IdentityFile in ssh_config"
	case strings.Contains(k, "pass"):
		return k + " is not read from an inventory: use -A (--askpass) or --password-file, -S for sudo"
	case strings.Contains(k, "become"):
		return k + " is not read from an inventory: fleet runs as the login user unless --sudo is given"
	}
	return k + " is not supported: of the ansible_ variables fleet honours ansible_host, ansible_user and ansible_port " +
		"(give other ssh settings with -O or ssh_config)"
}

// isFalse reports whether v is false as Ansible's boolean filter reads it.
func isFalse(v string) bool {
	switch strings.ToLower(v) {
	case "no", "n", "false", "f", "off", "0", "0.0":
		return true
	}
	return false
}

// literalValue reads a value as Ansible's ast.literal_eval does for the
// values fleet uses: a quoted string loses its quotes, and a number or a
// quoted string may be followed by a "#" comment, which Python's parser
// skips. Anything else (a bare word) is the text as it is, comment and all,
// as in Ansible, where it then fails as a user or a host name.
func literalValue(v string) string {
	v = strings.TrimSpace(v)
	commentOnly := func(rest string) bool {
		rest = strings.TrimSpace(rest)
		return rest == "" || rest[0] == '#'
	}
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 && commentOnly(v[end+2:]) {
			return v[1 : end+1]
		}
		return v
	}
	n := len(v) - len(strings.TrimLeft(v, digits))
	if n > 0 && n < len(v) && (v[n] == ' ' || v[n] == '\t') && commentOnly(v[n:]) {
		return v[:n]
	}
	return v
}
