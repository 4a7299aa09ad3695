package recipes

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxRetries bounds a step's retries: more than that is a loop, not a retry.
const maxRetries = 10

// maxErrors is how many problems one parse reports; past that the file is
// probably not a recipe at all.
const maxErrors = 20

// validator checks a decoded recipe and collects every problem, each with
// its line, found through the node tree of the same document.
type validator struct {
	src  string
	root *yaml.Node
	read readFunc
	errs []lineError
}

type lineError struct {
	line int
	err  error
}

// failAt records a problem at the node at path.
func (v *validator) failAt(p []any, format string, args ...any) {
	v.failLine(v.src, lineOf(v.root, p...), format, args...)
}

func (v *validator) failLine(src string, line int, format string, args ...any) {
	v.errs = append(v.errs, lineError{line, fmt.Errorf("%s:%d: %s", src, line, fmt.Sprintf(format, args...))})
}

// err returns the problems in the order of the file.
func (v *validator) err() error {
	sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].line < v.errs[j].line })
	errs := make([]error, 0, min(len(v.errs), maxErrors))
	for i, e := range v.errs {
		if i == maxErrors {
			errs = append(errs, fmt.Errorf("%s: and %d more problems", v.src, len(v.errs)-maxErrors))
			break
		}
		errs = append(errs, e.err)
	}
	return errors.Join(errs...)
}

// at builds a path into the node tree.
func at(p []any, more ...any) []any { return append(slices.Clip(p), more...) }

func (v *validator) recipe(r *Recipe) {
	if strings.TrimSpace(r.Name) == "" {
		v.failAt(at(nil, "name"), "name is required")
	}
	for _, name := range sortedKeys(r.Vars) {
		if !isIdentifier(name) {
			v.failAt(at(nil, "vars", name), "variable %q: a name is letters, digits and _ (templates use .Vars.NAME)", name)
		}
	}
	v.files(r)
	if len(r.Before)+len(r.Steps) == 0 && !slices.ContainsFunc(r.Platforms, func(p Platform) bool { return len(p.Steps) > 0 }) {
		v.failAt(nil, "the recipe has no steps")
	}

	// Step names: before and steps share one space with every platform's
	// steps; two platforms may each have a step of the same name (the
	// shared steps then wait on whichever ran).
	seen := map[string]int{} // name -> line, for before and steps
	allPlatformSteps := map[string]bool{}
	var earlier []string
	for i := range r.Before {
		v.step(r, &r.Before[i], at(nil, "before", i), earlier, seen)
		earlier = append(earlier, r.Before[i].Name)
	}
	before := slices.Clip(earlier)
	platformNames := map[string]int{}
	for i := range r.Platforms {
		p := &r.Platforms[i]
		pp := at(nil, "platforms", i)
		switch line, dup := platformNames[p.Name]; {
		case strings.TrimSpace(p.Name) == "":
			v.failAt(at(pp, "name"), "platform %d has no name", i+1)
		case dup:
			v.failAt(at(pp, "name"), "platform name %q is already used at line %d", p.Name, line)
		default:
			platformNames[p.Name] = lineOf(v.root, at(pp, "name")...)
		}
		if len(p.Match) == 0 {
			v.failAt(at(pp, "match"), "platform %q has no match rules: say which distributions it is for", p.Name)
		}
		for j, m := range p.Match {
			v.match(m, at(pp, "match", j))
		}
		if len(p.Match) > 0 && !slices.ContainsFunc(p.Match, func(m Match) bool { return !m.Exclude }) {
			v.failAt(at(pp, "match"), "platform %q has only exclude rules: say which distributions it is for", p.Name)
		}
		own := maps.Clone(seen)
		earlier := slices.Clip(before)
		for j := range p.Steps {
			v.step(r, &p.Steps[j], at(pp, "steps", j), earlier, own)
			earlier = append(earlier, p.Steps[j].Name)
			allPlatformSteps[p.Steps[j].Name] = true
		}
	}
	earlier = slices.AppendSeq(slices.Clip(before), maps.Keys(allPlatformSteps))
	for i := range r.Steps {
		if _, clash := seen[r.Steps[i].Name]; !clash && allPlatformSteps[r.Steps[i].Name] {
			v.failAt(at(nil, "steps", i, "name"), "step name %q is already used by a platform's step", r.Steps[i].Name)
		}
		v.step(r, &r.Steps[i], at(nil, "steps", i), earlier, seen)
		earlier = append(earlier, r.Steps[i].Name)
	}
}

// files checks the files section and reads the files given by path.
func (v *validator) files(r *Recipe) {
	for _, name := range sortedKeys(r.Files) {
		f := r.Files[name]
		p := at(nil, "files", name)
		switch {
		case f.Content != "" && f.Path != "":
			v.failAt(p, "file %q: give content or path, not both", name)
			continue
		case f.Content == "" && f.Path == "":
			v.failAt(p, "file %q: give its content or a path to it", name)
			continue
		}
		where := v.src
		line := lineOf(v.root, at(p, "content")...)
		literal := false
		if n := nodeAt(v.root, at(p, "content")...); n != nil {
			literal = n.Style&yaml.LiteralStyle != 0
		}
		if f.Path != "" {
			data, w, err := v.read(f.Path)
			if err != nil {
				v.failAt(at(p, "path"), "file %q: %v", name, err)
				continue
			}
			f.Content, where, line, literal = string(data), w, 0, true
			r.Files[name] = f
		}
		if pr := checkTemplate(f.Content, r.Vars); pr != nil {
			if literal {
				line += pr.line
			}
			v.failLine(where, max(line, 1), "file %q: %s", name, pr.msg)
		}
	}
}

// match checks one rule of a platform.
func (v *validator) match(m Match, p []any) {
	if (m.ID == "") == (m.IDLike == "") {
		v.failAt(p, "a match rule gives exactly one of id and id_like")
	}
	if m.Version != "" {
		if _, err := parseConstraint(m.Version); err != nil {
			v.failAt(at(p, "version"), "%v", err)
		}
	}
}

// step checks one step; earlier are the names it may wait on, seen the
// names taken so far (it adds its own).
func (v *validator) step(r *Recipe, s *Step, p []any, earlier []string, seen map[string]int) {
	name := s.Name
	switch line, dup := seen[name]; {
	case strings.TrimSpace(name) == "":
		v.failAt(at(p, "name"), "a step needs a name")
		name = fmt.Sprintf("at line %d", lineOf(v.root, p...))
	case dup:
		v.failAt(at(p, "name"), "step name %q is already used at line %d", name, line)
	default:
		seen[name] = lineOf(v.root, at(p, "name")...)
	}
	label := fmt.Sprintf("step %q", name)

	switch kinds := len(slices.DeleteFunc([]string{s.Run, s.Put, s.Fail, s.Note}, func(k string) bool { return k == "" })); {
	case kinds > 1:
		v.failAt(p, "%s: give one of run, put, fail and note", label)
	case kinds == 0:
		v.failAt(p, "%s: give run (a command), put (a file to write), fail or note (a message)", label)
	}
	if s.Fail != "" || s.Note != "" {
		for _, k := range []struct{ key, val string }{{"unless", s.Unless}, {"creates", s.Creates}, {"cgroup_driver", s.CgroupDriver}} {
			if k.val != "" {
				v.failAt(at(p, k.key), "%s: %s does not go with fail or note (use when)", label, k.key)
			}
		}
	}
	if s.ChangedWhen != "" && s.Run == "" {
		v.failAt(at(p, "changed_when"), "%s: changed_when goes with run", label)
	}
	for _, c := range []struct {
		key, expr string
		stdout    bool
	}{{"when", s.When, false}, {"changed_when", s.ChangedWhen, true}} {
		if c.expr == "" || c.key == "changed_when" && (c.expr == "true" || c.expr == "false") {
			continue
		}
		if pr := checkCond(c.expr, r.Vars, c.stdout); pr != nil {
			v.failAt(at(p, c.key), "%s: %s: %s", label, c.key, pr.msg)
		}
	}
	if s.Put != "" {
		v.put(r, s, p, label)
	} else {
		for _, k := range []struct{ key, val string }{{"file", s.File}, {"mode", s.Mode}, {"owner", s.Owner}} {
			if k.val != "" {
				v.failAt(at(p, k.key), "%s: %s goes with put", label, k.key)
			}
		}
	}
	if s.Run == "" && (s.Retries != 0 || s.RetryDelay != 0) {
		v.failAt(at(p, "retries"), "%s: retries go with run", label)
	}
	if s.Retries < 0 || s.Retries > maxRetries {
		v.failAt(at(p, "retries"), "%s: retries is 0 to %d", label, maxRetries)
	}
	switch s.CgroupDriver {
	case "", "systemd", "cgroupfs":
	default:
		v.failAt(at(p, "cgroup_driver"), "%s: cgroup_driver is systemd or cgroupfs, not %q", label, s.CgroupDriver)
	}
	for i, w := range s.WhenChanged {
		if !slices.Contains(earlier, w) {
			v.failAt(at(p, "when_changed", i), "%s: when_changed names %q, which is not an earlier step (a step can only wait on steps that run before it)", label, w)
		}
	}
	for _, f := range []struct{ key, text string }{{"run", s.Run}, {"unless", s.Unless}, {"creates", s.Creates}, {"put", s.Put}, {"owner", s.Owner},
		{"fail", s.Fail}, {"note", s.Note}} {
		// YAML's "\0" escape can put a NUL in a string; no command line or
		// path carries one (sshd drops the connection, execve cuts there).
		if strings.IndexByte(f.text, 0) >= 0 {
			v.failAt(at(p, f.key), "%s: %s holds a NUL byte, which no command or path can carry", label, f.key)
		}
		pr := checkTemplate(f.text, r.Vars)
		if pr == nil && (f.key == "creates" || f.key == "put" || f.key == "owner") {
			if name := secretUsed(f.text, r); name != "" {
				pr = &templateProblem{line: 1, msg: fmt.Sprintf("the secret variable %s cannot be used in %s, which shows in plans and messages", name, f.key)}
			}
		}
		if pr == nil && (f.key == "run" || f.key == "unless") {
			pr = checkShellTemplate(f.text)
		}
		if pr != nil {
			line := lineOf(v.root, at(p, f.key)...)
			if n := nodeAt(v.root, at(p, f.key)...); n != nil && n.Style&yaml.LiteralStyle != 0 {
				line += pr.line // the text starts on the line after "run: |"
			}
			v.failLine(v.src, line, "%s: %s: %s", label, f.key, pr.msg)
		}
	}
}

// secretUsed returns a secret variable that text names (.Vars.NAME), or "".
func secretUsed(text string, r *Recipe) string {
	for _, k := range sortedKeys(r.Secret) {
		if r.Secret[k] && regexp.MustCompile(`\.Vars\.`+k+`\b`).MatchString(text) {
			return k
		}
	}
	return ""
}

// put checks what goes with a put step.
func (v *validator) put(r *Recipe, s *Step, p []any, label string) {
	if !strings.Contains(s.Put, "{{") && !path.IsAbs(s.Put) {
		v.failAt(at(p, "put"), "%s: put %q is not an absolute path", label, s.Put)
	}
	switch _, ok := r.Files[s.File]; {
	case s.File == "":
		v.failAt(p, "%s: put needs file, the name of an entry of files", label)
	case !ok:
		v.failAt(at(p, "file"), "%s: no file %q in files", label, s.File)
	}
	if s.Mode != "" {
		if _, err := parseMode(s.Mode); err != nil {
			v.failAt(at(p, "mode"), "%s: %v", label, err)
		}
	}
	if s.Owner != "" && !strings.Contains(s.Owner, "{{") {
		if _, _, err := parseOwner(s.Owner); err != nil {
			v.failAt(at(p, "owner"), "%s: %v", label, err)
		}
	}
}

// parseMode reads an octal file mode: "0644", "755".
func parseMode(s string) (uint32, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("mode %q: want octal permissions like \"0644\"", s)
	}
	return uint32(m), nil
}

// parseOwner reads "user" or "user:group". Names are single words: fleet
// quotes them for the shell, so a space or quote can only be a mistake.
func parseOwner(s string) (user, group string, err error) {
	user, group, _ = strings.Cut(s, ":")
	bad := func(n string) bool { return strings.ContainsAny(n, " \t\r\n'\"`:\\$;") }
	if user == "" || bad(user) || strings.Contains(s, ":") && (group == "" || bad(group)) {
		return "", "", fmt.Errorf("owner %q: want user or user:group", s)
	}
	return user, group, nil
}

func isIdentifier(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
