package inventory

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// groupInfo is one group of a sectioned file.
type groupInfo struct {
	declared bool               // by [name] or [name:children], not only named
	parents  map[string]mention // parent group -> its child line
	vars     []variable         // from [name:vars], in file order
}

// mention is a line of the file that names a group.
type mention struct {
	line  int
	where string // "file:line"
	msg   string // what is wrong there, once known
}

// variable is one key=value of a host line or a [group:vars] section.
type variable struct {
	key, value, where string
	line              int    // of where, to order refusals as the file does
	group             string // the group of [group:vars]; "" on a host line
}

// sectionedHost is one host of a sectioned file, merged over every line
// that names it.
type sectionedHost struct {
	host   Host            // User, Name, Port as a pssh line gave them; Source
	name   string          // the inventory name (Ansible's inventory_hostname)
	groups map[string]bool // the groups whose sections list it
	vars   []variable      // its host variables, in file order
}

// sectioned is the state of parseSectioned.
type sectioned struct {
	file     string
	ansible  bool
	groups   map[string]*groupInfo
	hosts    []*sectionedHost
	byKey    map[string]*sectionedHost
	expanded int                // host entries so far, duplicates counted: the MaxExpansion budget
	pending  map[string]mention // [g:vars] of a group not declared (yet)
}

// parseSectioned reads a host file with [group] sections: pssh lines under
// them (ansible false), or an Ansible INI inventory, as Ansible's ini plugin
// reads it: hosts before the first section are ungrouped; [g] lists hosts
// ("host[:port] key=value ..."), [g:children] groups and [g:vars]
// "key=value" lines. A host listed in several sections is one host in
// several groups. Of the variables, ansible_host, ansible_user and
// ansible_port (and their older ansible_ssh_ names) are honoured with
// Ansible's precedence (host, then child group, then parent group, then
// all); other ansible_ keys that change how a host is reached refuse the
// hosts they apply to (see checkVariable and Host.Refused), not the file,
// and variables of the user's own are left to playbooks. The groups the file
// defines without hosts are kept in Host.EmptyGroups.
func parseSectioned(lines []string, file string, ansible bool) ([]Host, error) {
	p := &sectioned{file: file, ansible: ansible, groups: map[string]*groupInfo{},
		byKey: map[string]*sectionedHost{}, pending: map[string]mention{}}
	p.group("all").declared = true
	p.group("ungrouped").declared = true
	group, kind := "", "hosts" // "" until the first section: ungrouped
	for i, line := range lines {
		where := file + ":" + strconv.Itoa(i+1)
		if len(line) > maxLineLen {
			return nil, fmt.Errorf("%s: line too long (more than %d bytes)", where, maxLineLen)
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || ansible && line[0] == ';' {
			continue
		}
		if name, k, ok := sectionHeader(line, ansible); ok {
			if err := p.section(name, k); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if k == "vars" && !p.groups[name].declared {
				if _, seen := p.pending[name]; !seen {
					p.pending[name] = mention{line: i + 1, where: where}
				}
			}
			group, kind = name, k
			if kind == "" {
				kind = "hosts"
			}
			continue
		}
		var err error
		at := mention{line: i + 1, where: where}
		switch kind {
		case "hosts":
			err = p.hostLine(line, at, group)
		case "children":
			err = p.childLine(line, at, group)
		case "vars":
			err = p.varLine(line, at, group)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return p.finish()
}

func (p *sectioned) group(name string) *groupInfo {
	g := p.groups[name]
	if g == nil {
		g = &groupInfo{parents: map[string]mention{}}
		p.groups[name] = g
	}
	return g
}

// section starts [name:kind].
func (p *sectioned) section(name, kind string) error {
	switch kind {
	case "", "children", "vars":
	default:
		return fmt.Errorf("section [%s:%s] has unknown type %q (want [%s], [%s:children] or [%s:vars])", name, kind, kind, name, name, name)
	}
	if err := checkGroupName(name); err != nil {
		return err
	}
	g := p.group(name)
	if kind != "vars" {
		g.declared = true
	}
	return nil
}

// hostLine reads one host line of section group ("" before any section).
func (p *sectioned) hostLine(line string, at mention, group string) error {
	var hosts []Host
	var vars []variable
	var err error
	budget := MaxExpansion - p.expanded
	if p.ansible {
		hosts, vars, err = ansibleHostLine(line, at, budget)
	} else {
		hosts, err = parseLine(line, at.where, budget)
	}
	if err != nil {
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			// Neither a header nor a host: a section with a space or a
			// character a group name cannot have.
			return fmt.Errorf("invalid section %q: want [group], [group:children] or [group:vars], the group name without spaces", line)
		}
		return err
	}
	p.expanded += len(hosts)
	for _, h := range hosts {
		key := h.String()
		if p.ansible {
			// Ansible knows a host by its name alone: web1 and web1:2222
			// are one host, whose port is the last one given.
			key = Host{User: h.User, Name: h.Name}.String()
		}
		sh := p.byKey[key]
		if sh == nil {
			sh = &sectionedHost{host: h, name: h.Name, groups: map[string]bool{}}
			sh.host.User, sh.host.Port = "", 0
			p.byKey[key] = sh
			p.hosts = append(p.hosts, sh)
		}
		if group != "" {
			sh.groups[group] = true
		}
		// What the host part said is a host variable of this line.
		if h.User != "" {
			sh.vars = append(sh.vars, variable{key: "ansible_user", value: h.User, where: at.where, line: at.line})
		}
		if h.Port != 0 {
			sh.vars = append(sh.vars, variable{key: "ansible_port", value: strconv.Itoa(h.Port), where: at.where, line: at.line})
		}
		sh.vars = append(sh.vars, vars...)
	}
	return nil
}

// ansibleHostLine reads "host[:port] key=value ..." as Ansible does.
func ansibleHostLine(line string, at mention, budget int) ([]Host, []variable, error) {
	words, err := splitShlex(line)
	if err != nil {
		return nil, nil, err
	}
	if len(words) == 0 {
		return nil, nil, nil
	}
	var vars []variable
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("expected key=value host variable after the host, got %q", w)
		}
		vars = append(vars, variable{key: normalKey(k), value: literalValue(v), where: at.where, line: at.line})
	}
	pattern, err := fromAnsibleRanges(words[0])
	if err != nil {
		return nil, nil, err
	}
	hosts, err := parseSpec(pattern, at.where, budget)
	if err != nil {
		return nil, nil, err
	}
	return hosts, vars, nil
}

// childLine reads one group name of [group:children].
func (p *sectioned) childLine(line string, at mention, group string) error {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if err := checkGroupName(line); err != nil {
		return fmt.Errorf("in [%s:children]: %w", group, err)
	}
	if line == "all" {
		return fmt.Errorf("[%s:children] names all, which holds every group", group)
	}
	if line == group {
		return fmt.Errorf("group %s is made a child of itself", group)
	}
	if _, ok := p.group(line).parents[group]; !ok {
		p.groups[line].parents[group] = at
	}
	return nil
}

// varLine reads one key=value of [group:vars]. The value is the rest of the
// line, as Ansible takes it, quotes taken off.
func (p *sectioned) varLine(line string, at mention, group string) error {
	k, v, ok := strings.Cut(line, "=")
	k, v = strings.TrimSpace(k), literalValue(v)
	if !ok || k == "" {
		return fmt.Errorf("expected key=value in [%s:vars], got %q", group, line)
	}
	g := p.group(group)
	g.vars = append(g.vars, variable{key: normalKey(k), value: v, where: at.where, line: at.line, group: group})
	return nil
}

// finish checks the group graph and makes the hosts.
func (p *sectioned) finish() ([]Host, error) {
	// Undefined groups, reported at their first mention in the file.
	var first *mention
	note := func(m mention) {
		if first == nil || m.line < first.line {
			first = &m
		}
	}
	for name, m := range p.pending {
		if !p.groups[name].declared {
			m.msg = fmt.Sprintf("[%s:vars] is for group %s, which no [%s] or [%s:children] section defines", name, name, name, name)
			note(m)
		}
	}
	for name, g := range p.groups {
		if g.declared {
			continue
		}
		for parent, m := range g.parents {
			m.msg = fmt.Sprintf("[%s:children] names group %s, which no [%s] or [%s:children] section defines", parent, name, name, name)
			note(m)
		}
	}
	if first != nil {
		return nil, fmt.Errorf("%s: %s", first.where, first.msg)
	}
	depth, err := p.depths()
	if err != nil {
		return nil, err
	}
	hosts := make([]Host, 0, len(p.hosts))
	used := map[string]bool{"all": true, "ungrouped": true}
	for _, sh := range p.hosts {
		h, err := p.resolve(sh, depth)
		if err != nil {
			return nil, err
		}
		for _, g := range h.Groups {
			used[g] = true
		}
		hosts = append(hosts, h)
	}
	// The groups without hosts, one slice for all: --limit tells them
	// from names the file never defined.
	var empty []string
	for _, name := range sortedKeys(p.groups) {
		if !used[name] {
			empty = append(empty, name)
		}
	}
	for i := range hosts {
		hosts[i].EmptyGroups = empty
	}
	markWholeGroups(hosts)
	return hosts, nil
}

// markWholeGroups sets Refusal.WholeGroup where a [group:vars] line
// refuses every host of its group.
func markWholeGroups(hosts []Host) {
	members := map[string]int{}    // group -> its hosts
	refused := map[[2]string]int{} // group, where -> the hosts it refuses
	for _, h := range hosts {
		for _, g := range h.Groups {
			members[g]++
		}
		if r := h.Refused; r != nil && r.Group != "" {
			refused[[2]string{r.Group, r.Where}]++
		}
	}
	members["all"] = len(hosts)
	for _, h := range hosts {
		if r := h.Refused; r != nil && r.Group != "" {
			r.WholeGroup = refused[[2]string{r.Group, r.Where}] == members[r.Group]
		}
	}
}

// depths gives each group its depth as Ansible counts it, the longest way
// down from all (0): a top-level group is 1, its child 2. A group that is its
// own ancestor is an error at the line of the loop that comes last in the
// file, the one Ansible (which adds children in file order) stops at.
func (p *sectioned) depths() (map[string]int, error) {
	depth := map[string]int{"all": 0}
	const visiting = -1
	var path []string // the groups being visited, each a child of the next
	var visit func(name string) error
	visit = func(name string) error {
		if _, done := depth[name]; done {
			return nil
		}
		depth[name] = visiting
		path = append(path, name)
		d := 1
		for _, parent := range sortedKeys(p.groups[name].parents) {
			if depth[parent] == visiting {
				return p.loopError(path, parent)
			}
			if err := visit(parent); err != nil {
				return err
			}
			d = max(d, depth[parent]+1)
		}
		path = path[:len(path)-1]
		depth[name] = d
		return nil
	}
	for _, name := range sortedKeys(p.groups) {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return depth, nil
}

// loopError reports the loop that path (each group a child of the next)
// closes by making its last group a child of top, at the loop's last line.
func (p *sectioned) loopError(path []string, top string) error {
	i := len(path) - 1
	for path[i] != top {
		i--
	}
	loop := append(path[i:len(path):len(path)], top)
	child, parent := loop[0], loop[1]
	for j := 0; j+1 < len(loop); j++ {
		if p.groups[loop[j]].parents[loop[j+1]].line > p.groups[child].parents[parent].line {
			child, parent = loop[j], loop[j+1]
		}
	}
	return fmt.Errorf("%s: group %s is made a child of %s, which is already below it: a loop of [...:children]",
		p.groups[child].parents[parent].where, child, parent)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
