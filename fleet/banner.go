package fleet

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// This file keeps what a login shell prints before fleet's own protocol
// starts (a chatty ~/.bashrc: "Welcome to prod", often without a trailing
// newline, sometimes megabytes of it) apart from that protocol. A marker is
// looked for anywhere in the stream, not only at the start of a line; what
// comes before it is the banner, of which only the start is kept (for a
// hint) while the rest is dropped as it streams, so memory stays bounded
// whatever the shell prints.

// BannerKeep is how much of a login shell's banner fleet keeps: the start,
// which says what prints it.
const BannerKeep = 4 << 10

// maxBanner bounds the banner fleet reads through before the SFTP stream
// starts: more is not a banner but a host that never starts the protocol.
const maxBanner = 1 << 30

// splitter splits a stream at the first occurrence of a marker. Bytes
// before it go to pre as they come, but for the few at the end that may be
// the start of the marker, which are held back; the marker itself goes to
// neither; what follows it goes to post.
type splitter struct {
	mark  []byte
	held  []byte
	found bool
}

// write feeds p through the splitter.
func (s *splitter) write(p []byte, pre, post func([]byte)) {
	if s.found {
		post(p)
		return
	}
	data := p
	if len(s.held) > 0 {
		data = append(s.held, p...)
	}
	if i := bytes.Index(data, s.mark); i >= 0 {
		s.found, s.held = true, nil
		if i > 0 {
			pre(data[:i])
		}
		if rest := data[i+len(s.mark):]; len(rest) > 0 {
			post(rest)
		}
		return
	}
	k := heldBack(data, s.mark)
	if n := len(data) - k; n > 0 {
		pre(data[:n])
	}
	s.held = append(make([]byte, 0, len(s.mark)), data[len(data)-k:]...)
}

// flush hands on what is held back, once the stream ended without the
// marker.
func (s *splitter) flush(pre func([]byte)) {
	if !s.found && len(s.held) > 0 {
		pre(s.held)
	}
	s.held = nil
}

// heldBack is the length of the longest end of data that is a start of
// mark (shorter than mark): those bytes may be the marker yet.
func heldBack(data, mark []byte) int {
	for k := min(len(mark)-1, len(data)); k > 0; k-- {
		if bytes.Equal(data[len(data)-k:], mark[:k]) {
			return k
		}
	}
	return 0
}

// banner keeps the start of what a login shell printed before fleet's
// protocol, and counts the rest.
type banner struct {
	mu    sync.Mutex
	start []byte
	total int64
}

// Write keeps the first BannerKeep bytes and counts all; it never fails.
func (b *banner) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := BannerKeep - len(b.start); room > 0 {
		b.start = append(b.start, p[:min(room, len(p))]...)
	}
	b.total += int64(len(p))
	return len(p), nil
}

// text is the banner's start, as one line fit for a message, or "".
func (b *banner) text() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b.start), "?")), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" && b.total > 0 {
		s = "(blank)"
	}
	if b.total > int64(len(b.start)) {
		s += fmt.Sprintf(" (%d bytes in all)", b.total)
	}
	return s
}

// bannerHint is the advice for a host whose login shell prints text in
// non-interactive shells, quoting what it printed.
func bannerHint(text string) string {
	h := "make the login shell's start-up files print only in interactive shells (e.g. [ -z \"$PS1\" ] && return at the top of ~/.bashrc)"
	if text != "" {
		h = fmt.Sprintf("the login shell prints %q before every command; %s", text, h)
	}
	return h
}

// noteBanner remembers the start of a banner the host's login shell
// printed, the first one seen on the connection (see Conn.Banner).
func (c *Conn) noteBanner(b *banner) {
	if b == nil {
		return
	}
	t := b.text()
	if t == "" {
		return
	}
	c.bannerMu.Lock()
	defer c.bannerMu.Unlock()
	if c.banner == "" {
		c.banner = t
	}
}

// Banner is the start of what the host's login shell printed before
// fleet's commands or SFTP stream (a chatty ~/.bashrc), on one line, or ""
// when it printed nothing. Fleet keeps that text out of its own protocol
// and out of the output of commands that are not Command.Raw.
func (c *Conn) Banner() string {
	c.bannerMu.Lock()
	defer c.bannerMu.Unlock()
	return c.banner
}
