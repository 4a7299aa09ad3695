package fleet

import (
	"fmt"
	"os"
	"strings"

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

// identityAgentSetting reads IdentityAgent: "none", "SSH_AUTH_SOCK" and "$VAR"
// stay as written (keyring.agentSocket reads them), a path is expanded.
func identityAgentSetting(v string, expand func(string) string) string {
	if v == "" || v == "none" || v == "SSH_AUTH_SOCK" || strings.HasPrefix(v, "$") {
		return v
	}
	return expand(v)
}

// forwardAgentSetting reads ForwardAgent (or -x -A/-a) as ssh does: yes, no, or
// the agent socket to forward, a path or "$VAR". The answer is "" (none),
// "yes" (the agent used to log in) or a socket path.
func forwardAgentSetting(v string, expand func(string) string) string {
	switch {
	case yes(v):
		return "yes"
	case v == "" || strings.EqualFold(v, "no") || strings.EqualFold(v, "false"):
		return ""
	case strings.HasPrefix(v, "$"):
		return os.Getenv(v[1:])
	}
	return expand(v)
}
