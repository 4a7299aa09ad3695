package main

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"path/filepath"
	"slices"

	"github.com/fleet-sh/fleet/fleet"
	"github.com/fleet-sh/fleet/fleet/record"
	"github.com/fleet-sh/fleet/recipes"
)

// The inputs of a job are the local files whose content it sends, for the
// run record: fleet rerun sends them again only while they are unchanged.

// copyInputs are copy's sources: each file, and each file inside a folder.
func copyInputs(sources []*fleet.CopySource) []record.Input {
	var in []record.Input
	add := func(f *fleet.LocalFile) {
		if f != nil && f.Data == nil {
			in = append(in, record.Input{Path: absPath(f.Path), SHA256: f.SHA256})
		}
	}
	for _, src := range sources {
		add(src.File)
		for _, it := range src.Items {
			add(it.File)
		}
	}
	return in
}

// recipeInputs are a recipe file and the files it names by path (a
// built-in recipe has none: it is part of fleet).
func recipeInputs(file string, r *recipes.Recipe) ([]record.Input, error) {
	if file == "" {
		return nil, nil
	}
	sum, err := fileSHA256(file)
	if err != nil {
		return nil, err
	}
	in := []record.Input{{Path: absPath(file), SHA256: sum}}
	for _, name := range slices.Sorted(maps.Keys(r.Files)) {
		f := r.Files[name]
		if f.Path == "" {
			continue
		}
		p := f.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.Dir, p)
		}
		s := sha256.Sum256([]byte(f.Content)) // as the recipe read it
		in = append(in, record.Input{Path: absPath(p), SHA256: hex.EncodeToString(s[:])})
	}
	return in, nil
}

// stdinPath is the input path that stands for run -I's standard input.
const stdinPath = "-"

// stdinInputs is run -I's standard input as an input: fleet rerun reads
// it again and sends it only when it is the same.
func stdinInputs(sendInput bool, input []byte) []record.Input {
	if !sendInput {
		return nil
	}
	sum := sha256.Sum256(input)
	return []record.Input{{Path: stdinPath, SHA256: hex.EncodeToString(sum[:])}}
}

// absPath is p made absolute against the working folder (p itself if that
// cannot be had: the record's Dir is then missing too).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
