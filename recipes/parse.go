package recipes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxRecipeSize bounds a recipe file and each file it reads: a recipe is
// a page of YAML, and whatever is larger is not one.
const maxRecipeSize = 1 << 20

// Parse reads a recipe from r strictly and validates it. source names it in
// messages ("docker.yaml", "builtin:docker"); dir is the folder that the
// paths of its files are relative to, and they are read now, so that a
// missing file is found before any host is touched.
//
// Every error names the source and, where it can, the line:
//
//	my.yaml:6: field timout not found in type recipes.Step
//
// An unknown key, a wrong type, a duplicate key, an empty file and a second
// YAML document are errors, as is anything the checks in validate.go find.
func Parse(r io.Reader, source, dir string) (*Recipe, error) {
	read := func(p string) ([]byte, string, error) {
		full := p
		if !filepath.IsAbs(p) {
			full = filepath.Join(dir, p)
		}
		data, err := readCapped(full)
		return data, full, err
	}
	return parseRecipe(r, source, dir, read)
}

// Load parses the recipe file at path; the paths of its files are relative
// to the file's folder.
func Load(path string) (*Recipe, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path, filepath.Dir(path))
}

// readFunc reads a file that a recipe names (a files entry's path) and says
// how to name it in messages.
type readFunc func(path string) (data []byte, where string, err error)

func parseRecipe(r io.Reader, source, dir string, read readFunc) (*Recipe, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRecipeSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(data) > maxRecipeSize {
		return nil, fmt.Errorf("%s: larger than 1 MiB, which no recipe is", source)
	}
	rec, root, err := decode(data, source)
	if err != nil {
		return nil, err
	}
	rec.Source, rec.Dir = source, dir
	rec.Vars = make(map[string]string, len(rec.Declared))
	for k, v := range rec.Declared {
		rec.Vars[k] = v.Default
		if v.Secret {
			if rec.Secret == nil {
				rec.Secret = map[string]bool{}
			}
			rec.Secret[k] = true
		}
	}
	v := &validator{src: source, root: root, read: read}
	v.recipe(rec)
	if err := v.err(); err != nil {
		return nil, err
	}
	return rec, nil
}

// decode turns the YAML into a Recipe, strictly, and also returns the
// document's node tree, which validation uses to find line numbers.
//
// The node tree is decoded first: it gives syntax errors with lines, and
// lets durations be checked with lines (a failing UnmarshalText loses the
// line in yaml.v3). The strict decode then runs through Decoder.Decode,
// the only path on which KnownFields works.
func decode(data []byte, source string) (*Recipe, *yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, yamlError(source, err)
	}
	if doc.Kind == 0 {
		return nil, nil, fmt.Errorf("%s: empty recipe", source)
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if err := checkDurations(source, root); err != nil {
		return nil, nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	rec := new(Recipe)
	if err := dec.Decode(rec); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s: empty recipe", source)
		}
		return nil, nil, yamlError(source, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, nil, yamlError(source, err)
	default:
		return nil, nil, fmt.Errorf("%s:%d: a second YAML document: a recipe file holds one recipe", source, max(next.Line, 1))
	}
	return rec, root, nil
}

// yamlLine matches the "line N: what" that yaml.v3 puts in its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError rewrites yaml.v3's "yaml: line 6: what" as "source:6: what",
// one line per problem when the decoder found several.
func yamlError(source string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", source, g[1], g[2]))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", source, strings.TrimPrefix(m, "yaml: ")))
		}
	}
	return errors.Join(errs...)
}

// checkDurations finds every timeout and retry_delay in the document and
// checks that it reads as a duration, so the error can name the line.
func checkDurations(source string, n *yaml.Node) error {
	var errs []error
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		// Aliases are not followed: their target is checked where it is
		// defined, and a cycle of them must not loop.
		if n == nil || depth > 64 {
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				if (k.Value == "timeout" || k.Value == "retry_delay") && val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
					if _, err := parseDuration(val.Value); err != nil {
						errs = append(errs, fmt.Errorf("%s:%d: %s: %w", source, val.Line, k.Value, err))
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return errors.Join(errs...)
}

// readCapped reads a local file of at most maxRecipeSize bytes.
func readCapped(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecipeSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecipeSize {
		return nil, fmt.Errorf("%s is larger than 1 MiB", p)
	}
	return data, nil
}

// lineOf returns the line of the node at path under root: a string steps
// into a mapping's value (the line is then the key's: a block under "f:"
// starts on the next line, but "f:" is what the user looks for), an int
// into a sequence's item. Where the path ends early (a key that is absent),
// it returns the line of the deepest node found, so that "name is
// required" points at the step that lacks it.
func lineOf(root *yaml.Node, path ...any) int {
	_, line, _ := walkPath(root, path)
	return max(line, 1)
}

// nodeAt returns the node at path under root, or nil.
func nodeAt(root *yaml.Node, path ...any) *yaml.Node {
	if n, _, ok := walkPath(root, path); ok {
		return n
	}
	return nil
}

// walkPath follows path from root as far as it goes: the deepest node
// reached, its line, and whether that is the end of the path.
func walkPath(root *yaml.Node, path []any) (*yaml.Node, int, bool) {
	n := root
	if n == nil {
		return nil, 1, false
	}
	line := n.Line
	for _, p := range path {
		n = deref(n)
		var next *yaml.Node
		nextLine := 0
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next, nextLine = n.Content[i+1], n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
				next = n.Content[p]
				nextLine = next.Line
			}
		}
		if next == nil {
			return n, line, false
		}
		n, line = next, nextLine
	}
	return n, line, true
}

// deref follows an alias (bounded: an alias of an alias is rare, a cycle
// must not hang).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}
