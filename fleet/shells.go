package fleet

import (
	"context"
	"sync"
)

// Shells runs a host's commands, probes and small file writes through two
// long-lived shells of one connection, the login user's and root's, each
// started on first use (see shell). It is a [Remote], so a recipe of many
// steps costs the host two sessions and one sudo instead of a few sessions
// and a sudo per step. What a shell cannot carry (a command reading
// standard input, one asking for a terminal, a very long one, a large
// file) goes through a session of the connection.
type Shells struct {
	Remote

	mu     sync.Mutex
	shells [2]*shell // [0] the login user's, [1] root's
}

// Shells returns a Shells for c. Close it when done.
func (c *Conn) Shells() *Shells {
	s := &Shells{}
	s.Remote = Remote{conn: c, r: s, inline: true}
	return s
}

// start runs cmd through the shell for cmd.Sudo, or in a session of its
// own when a shell cannot carry it.
func (s *Shells) start(ctx context.Context, cmd *Command) (*proc, error) {
	if cmd.Stdin != nil || cmd.PTY || len(cmd.Line) > maxShellLine {
		return s.conn.start(ctx, cmd)
	}
	sh, err := s.shell(ctx, cmd.Sudo, cmd.SudoPassword)
	if err != nil {
		return nil, err
	}
	return sh.start(ctx, cmd)
}

// shell returns the started shell of that kind, starting it on first use.
// A shell that failed to start is tried again by the next command: the
// failure (a timeout, sudo refusing) belongs to the step that met it.
func (s *Shells) shell(ctx context.Context, sudo bool, password []byte) (*shell, error) {
	i := 0
	if sudo {
		i = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shells[i] != nil {
		return s.shells[i], nil
	}
	sh, err := s.conn.startShell(ctx, sudo, password)
	if err != nil {
		return nil, err
	}
	s.shells[i] = sh
	return sh, nil
}

// Close ends the shells.
func (s *Shells) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sh := range s.shells {
		if sh != nil {
			sh.close()
			s.shells[i] = nil
		}
	}
}
