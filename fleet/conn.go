package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/fleet-sh/fleet/inventory"
)

// Conn is one authenticated SSH connection to a host, kept for the whole run
// of that host: every command of a recipe and every file of a copy goes
// through it. As a [Remote] it runs each command in an SSH session of its
// own; [Conn.Shells] runs them in long-lived shells instead.
type Conn struct {
	Remote

	client  *ssh.Client
	host    inventory.Host
	ep      *endpoint
	onClose func()

	stopKeepalive context.CancelFunc
	closeOnce     sync.Once

	sftpMu sync.Mutex
	sftp   *sftp.Client
	dialer *Dialer // for cleaning up after the connection is lost

	agentFwd bool // sessions ask for agent forwarding (ForwardAgent)

	bannerMu sync.Mutex
	banner   string // see Banner
}

func newConn(client *ssh.Client, h inventory.Host, e *endpoint) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{client: client, host: h, ep: e, stopKeepalive: cancel}
	c.Remote = Remote{conn: c, r: c}
	if e.aliveInterval > 0 {
		go keepalive(ctx, client, e.aliveInterval, e.aliveMax)
	}
	return c
}

// Host is the host this connection reaches.
func (c *Conn) Host() inventory.Host { return c.host }

// User is the user the connection is logged in as.
func (c *Conn) User() string { return c.ep.user }

// Close closes the connection.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.stopKeepalive()
		c.closeSFTP()
		err = c.client.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// keepalive notices a dead host: OpenSSH answers keepalive@openssh.com with
// a failure reply, which still proves the host alive; only an error or no
// reply at all counts as missed. SendRequest blocks on a black-holed path,
// so the only escape is closing the connection, which fails every waiter.
func keepalive(ctx context.Context, c *ssh.Client, every time.Duration, maxMissed int) {
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-ctx.Done():
			return
		case err := <-reply:
			if err != nil {
				c.Close()
				return
			}
			missed = 0
		case <-time.After(every):
			if missed++; missed >= maxMissed {
				c.Close()
				return
			}
		}
	}
}
