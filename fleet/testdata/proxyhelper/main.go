// Command proxyhelper is a ProxyCommand for fleet's tests, built by them:
// `proxyhelper HOST PORT [NAME]` connects to HOST:PORT and copies its stdin
// and stdout to and from the connection, as `nc` or `ssh -W` would. It
// first prints a line naming its pid and its arguments on stderr, which the
// tests find in the host's log.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: proxyhelper HOST PORT [NAME]")
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "proxyhelper pid %d args %s\n", os.Getpid(), strings.Join(os.Args[1:], " "))
	c, err := net.Dial("tcp", net.JoinHostPort(os.Args[1], os.Args[2]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxyhelper:", err)
		os.Exit(1)
	}
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(os.Stdout, c)
}
