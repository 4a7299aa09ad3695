package recipes

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// builtinFS holds the built-in recipes, builtin/NAME.yaml, and the files
// they give by path (builtin/files/...), relative to builtin/.
//
//go:embed builtin
var builtinFS embed.FS

// builtinDir is the folder of builtinFS that recipes are in.
const builtinDir = "builtin"

// Builtin parses the built-in recipe NAME (builtin/NAME.yaml). An unknown
// name is an error that lists the built-in names.
func Builtin(name string) (*Recipe, error) {
	src, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	r, err := parseRecipe(bytes.NewReader(src), "builtin:"+name, "", readBuiltin)
	if err != nil {
		return nil, err
	}
	if r.Name != name {
		return nil, fmt.Errorf("builtin:%s: the recipe is named %q: a built-in recipe's name is its file's", name, r.Name)
	}
	return r, nil
}

// Builtins parses every built-in recipe, sorted by name (a built-in
// recipe's name is its file's).
func Builtins() ([]*Recipe, error) {
	names, err := builtinNames()
	if err != nil {
		return nil, err
	}
	out := make([]*Recipe, 0, len(names))
	for _, n := range names {
		r, err := Builtin(n)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// BuiltinSource returns the YAML text of the built-in recipe NAME, for
// "fleet recipes show" and for users who start from one.
func BuiltinSource(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name[0] == '.' {
		return nil, unknownBuiltin(name)
	}
	src, err := builtinFS.ReadFile(path.Join(builtinDir, name+".yaml"))
	if err != nil {
		return nil, unknownBuiltin(name)
	}
	return src, nil
}

func unknownBuiltin(name string) error {
	names, err := builtinNames()
	if err != nil {
		return err
	}
	return fmt.Errorf("no built-in recipe %q (the built-in recipes are: %s)", name, strings.Join(names, ", "))
}

// builtinNames lists the built-in recipes by file name, sorted.
func builtinNames() ([]string, error) {
	files, err := fs.Glob(builtinFS, path.Join(builtinDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(path.Base(f), ".yaml"))
	}
	sort.Strings(names)
	return names, nil
}

// readBuiltin reads a file a built-in recipe gives by path, relative to
// builtin/ in the embedded files.
func readBuiltin(p string) ([]byte, string, error) {
	full := path.Join(builtinDir, p)
	if !fs.ValidPath(p) || !strings.HasPrefix(full, builtinDir+"/") {
		return nil, "builtin:" + p, fmt.Errorf("%q: a built-in recipe's file is a path inside builtin/", p)
	}
	data, err := builtinFS.ReadFile(full)
	if err != nil {
		return nil, "builtin:" + p, fmt.Errorf("%s: no such embedded file", p)
	}
	return data, "builtin:" + p, nil
}
