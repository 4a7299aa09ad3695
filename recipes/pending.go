package recipes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fleet-sh/fleet/fleet"
)

// Pending triggers make reruns resume. A when_changed step runs because an
// earlier step changed something; if the run then stops (the step fails, the
// connection drops, Ctrl-C), the next run finds nothing changed and would
// skip it for good: docker never restarted with its new daemon.json. So when
// a step changes, a marker for each step that names it in when_changed is
// written on the host, and removed once that step has succeeded. A step
// whose marker is there runs even when nothing changed in this run.

// pendingRoot is where markers live on the host: root's for steps run
// through sudo, else under the login user's home.
const (
	pendingRoot = "/var/lib/fleet/pending"
	pendingHome = ".local/state/fleet/pending"
)

// pendingDir is the marker folder of recipe r for a step run as root or not.
func pendingDir(r *Recipe, root bool) string {
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			return c
		}
		return '_'
	}, r.Name)
	if root {
		return pendingRoot + "/" + name
	}
	return pendingHome + "/" + name
}

// markerName is a step's marker file: step names may hold any character.
func markerName(step string) string {
	sum := sha256.Sum256([]byte(step))
	return hex.EncodeToString(sum[:8])
}

// loadPending reads the markers left by earlier runs, once per Apply, and
// only for recipes that have triggers.
func (a *applier) loadPending(ctx context.Context, steps []*Step) error {
	a.pending = map[string]bool{}
	if !a.o.PersistTriggers {
		return nil
	}
	dirs := map[bool]bool{}
	for _, s := range steps {
		if len(s.WhenChanged) > 0 {
			dirs[a.r.runsAsRoot(s)] = true
		}
	}
	for root := range dirs {
		var out strings.Builder
		line := "ls -1 -- " + fleet.Quote(pendingDir(a.r, root)) + " 2>/dev/null; true"
		if err := a.t.Exec(ctx, &fleet.Command{Line: line, Sudo: root, SudoPassword: a.o.SudoPassword, Stdout: &out}); err != nil {
			// This is the host's first command as root: sudo refusing
			// (or the host gone) is not about pending steps.
			err = fleet.Classify(ctx, err)
			if fe := (*fleet.Error)(nil); errors.As(err, &fe) {
				return err
			}
			return fmt.Errorf("read pending steps: %w", err)
		}
		present := strings.Fields(out.String())
		for _, s := range steps {
			if len(s.WhenChanged) > 0 && a.r.runsAsRoot(s) == root && slices.Contains(present, markerName(s.Name)) {
				a.pending[s.Name] = true
			}
		}
	}
	return nil
}

// markPending records, after step changed, that the steps triggered by it
// must run, in case this run stops before they do. Nothing is written in a
// dry run.
func (a *applier) markPending(ctx context.Context, changed string, steps []*Step) error {
	if a.o.DryRun || !a.o.PersistTriggers {
		return nil
	}
	byDir := map[bool][]string{}
	for _, s := range steps {
		if slices.Contains(s.WhenChanged, changed) && !a.pending[s.Name] {
			root := a.r.runsAsRoot(s)
			byDir[root] = append(byDir[root], markerName(s.Name))
			a.pending[s.Name] = true
		}
	}
	for root, names := range byDir {
		dir := fleet.Quote(pendingDir(a.r, root))
		line := "mkdir -p -m 0700 -- " + dir + " && cd -- " + dir + " && touch -- " + strings.Join(names, " ")
		if err := a.t.Exec(ctx, &fleet.Command{Line: line, Sudo: root, SudoPassword: a.o.SudoPassword}); err != nil {
			return fmt.Errorf("record pending steps: %w", fleet.Classify(ctx, err))
		}
	}
	return nil
}

// clearPending removes a step's marker once the step has done its work.
func (a *applier) clearPending(ctx context.Context, s *Step) error {
	if a.o.DryRun || !a.pending[s.Name] {
		return nil
	}
	root := a.r.runsAsRoot(s)
	line := "rm -f -- " + fleet.Quote(pendingDir(a.r, root)+"/"+markerName(s.Name))
	if err := a.t.Exec(ctx, &fleet.Command{Line: line, Sudo: root, SudoPassword: a.o.SudoPassword}); err != nil {
		return fmt.Errorf("clear pending step: %w", fleet.Classify(ctx, err))
	}
	delete(a.pending, s.Name)
	return nil
}
