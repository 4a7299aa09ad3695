package fleet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleet-sh/fleet/fleet/sshtest"
)

// chattyConfig is a host whose login shell prints text without a trailing
// newline on both streams before every command and the sftp subsystem, as
// `printf "Welcome to prod"` in ~/.bashrc does.
var chattyConfig = sshtest.Config{SFTP: true, ShellBanner: "Welcome to prod", ShellBannerStderr: "motd on stderr"}

// A command that is not Raw gets only its own output; a Raw one gets what
// ssh shows, the login shell's text first; the PID marker is found after
// text without a newline either way, so that a timeout kills the command.
func TestChattyExecKeepsTheBannerApart(t *testing.T) {
	t.Parallel() // mostly waits; no process-wide leak check
	c, _ := connect(t, chattyConfig)
	for _, raw := range []bool{false, true} {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := c.Exec(ctx, &Command{Line: "echo out; echo err >&2", Stdout: &out, Stderr: &errb, Raw: raw})
		cancel()
		if err != nil {
			t.Fatalf("raw=%v: %v", raw, err)
		}
		wantOut, wantErr := "out\n", "err\n"
		if raw {
			wantOut, wantErr = "Welcome to prodout\n", "motd on stderrerr\n"
		}
		if out.String() != wantOut || errb.String() != wantErr {
			t.Errorf("raw=%v: stdout %q stderr %q, want %q and %q", raw, out.String(), errb.String(), wantOut, wantErr)
		}
	}
	if got := c.Banner(); !strings.Contains(got, "Welcome to prod") {
		t.Errorf("Banner() = %q, want the login shell's text", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Exec(ctx, &Command{Line: "sleep 30", Raw: true}); !errors.Is(Classify(ctx, err), ErrTimeout) {
		t.Fatalf("want a timeout, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the timed-out command took %v to be killed: its PID marker was not found", d)
	}
}

// Probe, Put (SFTP and inline), PutLink, MkdirAll and Get on a host whose
// login shell prints text without a newline. Before the fix the probe read
// "Welcome to prodfile ..." and failed with "are stat and sha256sum
// installed?", and SFTP waited forever for a marker line.
func TestChattyPutProbeLinkGet(t *testing.T) {
	c, _ := connect(t, chattyConfig)
	dir := t.TempDir()
	content := bytes.Repeat([]byte("data "), 100000)
	src := localFile(t, content, 0o644)
	dst := filepath.Join(dir, "f")
	changedThenUnchanged(t, "put", func() (bool, error) { return put(t, c, src, dst, PutOptions{}) })
	ctx := testContext(t, 30*time.Second)
	f, err := c.Probe(ctx, dst, false, nil)
	if err != nil || !f.Exists || f.Size != int64(len(content)) || f.SHA256 != src.SHA256 {
		t.Fatalf("probe: %+v %v", f, err)
	}
	link := filepath.Join(dir, "l")
	changedThenUnchanged(t, "link (the login shell's text may run into the script's answer)",
		func() (bool, error) { return c.PutLink(ctx, dst, link, PutOptions{}) })
	if made, err := c.MkdirAll(ctx, filepath.Join(dir, "a", "b"), PutOptions{}); err != nil || !made {
		t.Fatalf("mkdir: %v %v", made, err)
	}
	// The shells' inline write, for small content held in memory.
	sh := c.Shells()
	defer sh.Close()
	small := BytesFile("small", []byte("small\n"), 0o600)
	changedThenUnchanged(t, "shell put", func() (bool, error) { return sh.Put(ctx, small, filepath.Join(dir, "small"), PutOptions{}) })
	local, root := openRoot(t)
	if err := c.Get(ctx, dst, root, "back", GetOptions{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(local, "back")); !bytes.Equal(got, content) {
		t.Fatalf("got %d bytes back, want %d", len(got), len(content))
	}
}

// A long-lived shell starts behind text without a newline, and its
// commands' output holds none of it.
func TestChattyShells(t *testing.T) {
	s, _ := shellOn(t, chattyConfig)
	for _, sudo := range []bool{false} {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.Exec(ctx, &Command{Line: "echo out; echo err >&2", Stdout: &out, Stderr: &errb, Sudo: sudo})
		cancel()
		if err != nil || out.String() != "out\n" || errb.String() != "err\n" {
			t.Fatalf("sudo=%v: %v, stdout %q stderr %q", sudo, err, out.String(), errb.String())
		}
	}
}

// The ready marker of a shell is found after text without a newline on
// its own stream too (the session's filter takes such text out first, but
// the stream does not count on it), and holds at most a few KiB of it.
func TestShellStreamReadyAfterText(t *testing.T) {
	st := newShellStream("fleet-sh-0123")
	_, _ = st.Write(bytes.Repeat([]byte("x"), 1<<20))
	if len(st.buf) > maxEarly {
		t.Errorf("holds %d bytes of text before the ready marker", len(st.buf))
	}
	_, _ = st.Write([]byte("Welcome to prodfleet-sh-0123 ready setsid\n"))
	select {
	case r := <-st.readyc:
		if r != "setsid" {
			t.Errorf("ready %q", r)
		}
	default:
		t.Fatal("the ready marker after text without a newline was not seen")
	}
}

// The splitter finds the marker wherever the stream's chunks cut it, and
// hands on every byte before and after it exactly once.
func TestSplitterFindsTheMarkerAcrossChunks(t *testing.T) {
	mark := "fleet-abc-pid:"
	stream := "Welcome fleet-ab to prod" + mark + "42\nrest"
	for size := 1; size <= len(stream); size++ {
		s := splitter{mark: []byte(mark)}
		var pre, post []byte
		for i := 0; i < len(stream); i += size {
			s.write([]byte(stream[i:min(i+size, len(stream))]),
				func(b []byte) { pre = append(pre, b...) }, func(b []byte) { post = append(post, b...) })
		}
		s.flush(func(b []byte) { pre = append(pre, b...) })
		if string(pre) != "Welcome fleet-ab to prod" || string(post) != "42\nrest" || !s.found {
			t.Fatalf("chunks of %d: pre %q post %q found %v", size, pre, post, s.found)
		}
	}
	s := splitter{mark: []byte(mark)}
	var pre []byte
	s.write([]byte("no marker, ends in fleet-a"), func(b []byte) { pre = append(pre, b...) }, nil)
	s.flush(func(b []byte) { pre = append(pre, b...) })
	if string(pre) != "no marker, ends in fleet-a" {
		t.Errorf("without the marker: %q", pre)
	}
}

// versionPacket is an SSH_FXP_VERSION packet, version 3, no extensions.
func versionPacket() []byte {
	p := make([]byte, 9)
	binary.BigEndian.PutUint32(p, 5)
	copy(p[4:], sftpVersion)
	return p
}

// sftpStart skips text up to the version packet however it is cut, keeps
// its start for the hint, and names a stream that ends before the packet
// with what the login shell printed.
func TestSFTPStartSkipsText(t *testing.T) {
	stream := append([]byte("Welcome to prod\x00\x00 \x02\x00\x00\x00\x03 no packet yet"), versionPacket()...)
	stream = append(stream, "after"...)
	for size := 1; size <= len(stream); size += 3 {
		b := &banner{}
		s := &sftpStart{r: &chunkReader{b: stream, n: size}, banner: b}
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, append(versionPacket(), "after"...)) {
			t.Fatalf("chunks of %d: %q %v", size, got, err)
		}
		if !strings.HasPrefix(b.text(), "Welcome to prod") {
			t.Fatalf("banner %q", b.text())
		}
	}
	s := &sftpStart{r: strings.NewReader("This account is currently not available.\n"), banner: &banner{}}
	_, err := io.ReadAll(s)
	var fe *Error
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "This account is currently not available.") || !strings.Contains(fe.Hint, ".bashrc") {
		t.Fatalf("got %v", err)
	}
}

// chunkReader returns b n bytes at a time.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// A login shell that prints 64 MiB without a newline before every command
// and the SFTP stream: probe, put and get work, and the heap never holds
// anything like the text (before the fix the probe's and SFTP's readers
// kept it all, several times over).
func TestChattyHugeBannerMemoryIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("skipped under the race detector, which multiplies memory")
	}
	const size = 64 << 20
	cfg := chattyConfig
	cfg.ShellBanner, cfg.ShellBannerBytes = "Welcome to prod! ", size
	c, _ := connect(t, cfg)
	peak := watchHeapPeak(10 * time.Millisecond)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	dst := filepath.Join(t.TempDir(), "f")
	src := localFile(t, []byte("content\n"), 0o644)
	if changed, err := put(t, c, src, dst, PutOptions{}); err != nil || !changed {
		t.Fatalf("put: %v %v", changed, err)
	}
	ctx := testContext(t, 60*time.Second)
	_, root := openRoot(t)
	if err := c.Get(ctx, dst, root, "back", GetOptions{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if grew := int64(peak()) - int64(base.HeapInuse); grew > 24<<20 {
		t.Errorf("the heap grew by %d MiB while the login shell printed %d MiB per session", grew>>20, size>>20)
	}
	// The stderr text may come before or after stdout's: both streams
	// feed one banner.
	if b := c.Banner(); !strings.Contains(b, "Welcome to prod!") || !strings.Contains(b, "bytes in all") {
		t.Errorf("Banner() = %.100q", b)
	}
}

// An answer keeps the end of what a command printed, from a line's start,
// however much came.
func TestAnswerIsBounded(t *testing.T) {
	var a answer
	for range 100 {
		_, _ = a.Write(bytes.Repeat([]byte("noise line\n"), 1000))
	}
	_, _ = a.Write([]byte("file 3 644 root root\n"))
	if len(a.b) > maxAnswer {
		t.Fatalf("holds %d bytes", len(a.b))
	}
	s := a.String()
	if !strings.HasPrefix(s, "noise line\n") || !strings.HasSuffix(s, "\nfile 3 644 root root\n") {
		t.Fatalf("kept %.40q ... %.40q", s, s[max(0, len(s)-40):])
	}
	var big answer
	_, _ = big.Write(bytes.Repeat([]byte("x"), 3*maxAnswer))
	if len(big.b) != maxAnswer {
		t.Fatalf("one big write: holds %d bytes", len(big.b))
	}
}

// sudo -S behind a login shell's text without a newline: the PID marker
// and sudo's prompt are found, the password goes to sudo only, and the
// command's input and output are its own; a probe as root works too.
func TestChattySudo(t *testing.T) {
	c, _ := sudoServer(t, chattyConfig)
	var out, errb bytes.Buffer
	err := execOn(t, c, &Command{Line: "cat; echo done", Sudo: true, SudoPassword: []byte("hunter2"),
		Stdin: strings.NewReader("input\n"), Stdout: &out, Stderr: &errb})
	if err != nil || out.String() != "input\ndone\n" || errb.String() != "" {
		t.Fatalf("%v, stdout %q stderr %q", err, out.String(), errb.String())
	}
	ctx := testContext(t, 20*time.Second)
	f, err := c.Probe(ctx, filepath.Join(t.TempDir(), "none"), true, []byte("hunter2"))
	if err != nil || f.Exists {
		t.Fatalf("probe as root: %+v %v", f, err)
	}
	local, root := openRoot(t)
	tree := t.TempDir()
	writeFile(t, filepath.Join(tree, "a"), "a\n", 0o644)
	if err := c.GetTree(ctx, tree, root, "tree", GetOptions{}); err != nil {
		t.Fatalf("get tree: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(local, "tree", "a")); string(got) != "a\n" {
		t.Fatalf("tree/a has %q", got)
	}
}
