package recipes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"

	"github.com/fleet-sh/fleet/fleet"
)

// Bounds on --diff: the files read and compared, and the diff kept. A file
// past maxDiffFile (or binary) is described by its sizes; a diff past
// maxDiffText is cut, since it goes into the run record for every host.
const (
	maxDiffFile = 1 << 20
	maxDiffText = 256 << 10
)

// secretMask stands for a secret variable's value in diffs, as in plans,
// records and logs.
const secretMask = "<secret>"

// diffStart is printed before the file's content, so that what a login
// shell prints first (a banner, a motd) is not taken for the file's.
const diffStart = "fleet-diff-content\n"

// fileDiff is the unified diff between the remote file cur at dst and the
// content a put step would write, rendered from text, with every secret
// value masked, in both the new content and the current one. A secret's
// value is masked wherever it occurs; and since the host's file may still
// hold an earlier value of a secret that changed since, a line of the
// current file shaped like a line that holds a secret in the new content
// (the same text before and after it) has its middle masked too.
func (a *applier) fileDiff(ctx context.Context, dst string, sudo bool, cur *fleet.RemoteFile, text, content string) (string, error) {
	oldLabel, oldSize := dst, cur.Size
	if !cur.Exists {
		oldLabel, oldSize = "/dev/null", 0
	}
	if oldSize > maxDiffFile || len(content) > maxDiffFile || isBinary(content) {
		return sizesNote(cur, len(content)), nil
	}
	var old string
	if cur.Exists {
		var err error
		if old, err = a.readRemote(ctx, dst, sudo, cur); err != nil {
			return "", fmt.Errorf("diff: %w", err)
		}
		if isBinary(old) {
			return sizesNote(cur, len(content)), nil
		}
	}
	masked, rendered, err := renderMasked(text, a.data)
	if err != nil {
		return "", fmt.Errorf("diff: %w", err)
	}
	old = maskOld(old, append(rendered, a.secretValues()...), masked)
	if old == masked {
		return "content differs in secret values only\n", nil
	}
	d := udiff.Unified(oldLabel, dst, old, masked)
	if len(d) > maxDiffText {
		cut := strings.LastIndexByte(d[:maxDiffText], '\n') + 1
		d = d[:cut] + fmt.Sprintf("... diff cut at %d KiB of %d KiB\n", maxDiffText>>10, (len(d)+1023)>>10)
	}
	return d, nil
}

// sizesNote says what a binary or large file's change is, in place of a diff.
func sizesNote(cur *fleet.RemoteFile, newSize int) string {
	if !cur.Exists {
		return fmt.Sprintf("binary or large file: new file -> %d bytes\n", newSize)
	}
	return fmt.Sprintf("binary or large file: %d bytes -> %d bytes\n", cur.Size, newSize)
}

// isBinary is git's test: a NUL byte (or, for a diff's sake, text that is
// not UTF-8).
func isBinary(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

// readRemote reads the file the probe cur described, as root when the step
// runs as root, and checks that it is what the probe saw (size and
// SHA-256): a file that changed in between, or output that is not the
// file's, is an error rather than a wrong diff.
func (a *applier) readRemote(ctx context.Context, p string, sudo bool, cur *fleet.RemoteFile) (string, error) {
	out := &boundedBuffer{max: maxDiffFile + len(diffStart) + 64<<10}
	err := a.t.Exec(ctx, &fleet.Command{Line: "printf '" + strings.TrimSuffix(diffStart, "\n") + "\\n' && cat -- " + fleet.Quote(p),
		Sudo: sudo, SudoPassword: a.o.SudoPassword, Stdout: out})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, fleet.Classify(ctx, err))
	}
	b := out.buf.Bytes()
	i := bytes.Index(b, []byte(diffStart))
	if i < 0 || out.over {
		return "", fmt.Errorf("read %s: unexpected answer from the host", p)
	}
	b = b[i+len(diffStart):]
	sum := sha256.Sum256(b)
	if int64(len(b)) != cur.Size || hex.EncodeToString(sum[:]) != cur.SHA256 {
		return "", fmt.Errorf("read %s: the file changed while fleet read it; run again", p)
	}
	return string(b), nil
}

// boundedBuffer keeps at most max bytes and notes whether more came.
type boundedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return len(p), nil
}

// renderMasked renders a file's content as renderRaw does, with each
// secret variable's value replaced by the mask; it also returns those
// values as the template rendered them (after upper, slice and the like),
// to be masked in the host's current file.
func renderMasked(text string, d any) (masked string, secrets []string, err error) {
	out, err := execute(text, d)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	last := 0
	for _, p := range findPlaceholders(out) {
		b.WriteString(out[last:p.start])
		if p.secret {
			b.WriteString(secretMask)
			if p.value != "" {
				secrets = append(secrets, p.value)
			}
		} else {
			b.WriteString(p.value)
		}
		last = p.end
	}
	b.WriteString(out[last:])
	return b.String(), secrets, nil
}

// maskOld masks the secret values in a host's current file, and the
// middle of every line shaped like one of the masked new content's lines
// that hold a secret.
func maskOld(old string, values []string, masked string) string {
	if old == "" {
		return old
	}
	old = secretReplacer(values).Replace(old)
	type shape struct{ before, after string }
	var shapes []shape
	for _, l := range strings.Split(masked, "\n") {
		if i := strings.Index(l, secretMask); i >= 0 {
			j := strings.LastIndex(l, secretMask) + len(secretMask)
			shapes = append(shapes, shape{l[:i], l[j:]})
		}
	}
	if len(shapes) == 0 {
		return old
	}
	lines := strings.SplitAfter(old, "\n")
	for i, l := range lines {
		body, nl := strings.CutSuffix(l, "\n")
		for _, s := range shapes {
			if m, ok := maskShaped(body, s.before, s.after); ok {
				lines[i] = m
				if nl {
					lines[i] += "\n"
				}
				break
			}
		}
	}
	return strings.Join(lines, "")
}

// maskShaped masks line if it is shaped like a line that holds a secret
// between before and after: it starts with before (a secret's earlier
// value may come with other text after it, the template's having changed
// too), or, when before is "", ends with after; a line that was all
// secret matches any line.
func maskShaped(line, before, after string) (string, bool) {
	switch {
	case before != "" && strings.HasPrefix(line, before) && len(line) > len(before):
		rest := line[len(before):]
		if strings.HasSuffix(rest, after) && len(rest) > len(after) {
			return before + secretMask + after, true
		}
		return before + secretMask, true
	case before == "" && after != "" && strings.HasSuffix(line, after) && len(line) > len(after):
		return secretMask + after, true
	case before == "" && after == "" && line != "":
		return secretMask, true
	}
	return "", false
}

// longestFirst sorts values longest first, without duplicates, so that a
// secret holding another is masked whole.
func longestFirst(values []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.SortStableFunc(out, func(x, y string) int { return len(y) - len(x) })
	return out
}
