package fleet

import (
	"fmt"

	"golang.org/x/crypto/ssh/agent"
)

// forwardSocket is the agent socket e forwards, "" for none. ForwardAgent
// yes forwards the agent e authenticates with (IdentityAgent, else
// $SSH_AUTH_SOCK), as ssh does; a path forwards that socket.
func (d *Dialer) forwardSocket(e *endpoint) string {
	switch e.forwardAgent {
	case "":
		return ""
	case "yes":
		return d.keys.agentSocket(e)
	}
	return e.forwardAgent
}

// forwardAgent serves the host's agent requests from the local socket: each
// channel the host opens (one per use of SSH_AUTH_SOCK there) is a new
// connection to sock. Sessions then ask for forwarding (newSession).
func (c *Conn) forwardAgent(sock string) error {
	if err := agent.ForwardToRemote(c.client, sock); err != nil {
		return fmt.Errorf("agent forwarding: %w", err)
	}
	c.agentFwd = true
	return nil
}
