package fleet

import (
	"strings"

	"github.com/fleet-sh/fleet/inventory"
)

// Reach is what fleet will use to reach one host, without connecting,
// and where each value came from: "host list", a flag ("-l", "-p", "-i",
// "-J", "--connect-timeout"), "-O KEY", "FILE:LINE" of ssh_config, or
// "default". It is what `fleet hosts` prints.
type Reach struct {
	Address               string            `json:"address"`
	Port                  int               `json:"port"`
	User                  string            `json:"user"`
	IdentityFiles         []string          `json:"identity_files"`
	ProxyJump             string            `json:"proxy_jump,omitempty"`
	ProxyCommand          string            `json:"proxy_command,omitempty"`
	HostKeyName           string            `json:"host_key_name"`
	KnownHosts            []string          `json:"known_hosts"`
	StrictHostKeyChecking string            `json:"strict_host_key_checking"`
	ConnectTimeout        string            `json:"connect_timeout"`
	Sources               map[string]string `json:"sources"`
}

// Describe resolves h as Dial would and says where each value came from.
func (d *Dialer) Describe(h inventory.Host) (Reach, error) {
	e, err := d.endpoint(h)
	if err != nil {
		return Reach{}, err
	}
	s := e.settings
	from := func(keys ...string) string {
		var pos []string
		for _, k := range keys {
			for _, v := range s.vals[k] {
				pos = append(pos, v.pos)
			}
		}
		if len(pos) == 0 {
			return "default"
		}
		return strings.Join(pos, ", ")
	}
	info := Reach{Address: e.hostName, Port: e.port, User: e.user, IdentityFiles: e.identityFiles,
		ProxyJump: e.proxyJump, ProxyCommand: e.proxyCommand, HostKeyName: e.keyName(),
		KnownHosts: append(append([]string{}, e.knownHosts...), e.globalKnown...), StrictHostKeyChecking: e.strict,
		ConnectTimeout: e.connectTimeout.String(),
		Sources: map[string]string{"address": from("hostname"), "port": from("port"), "user": from("user"),
			"identity_files": from("identityfile"), "host_key_name": from("hostkeyalias"),
			"known_hosts":              from("userknownhostsfile", "globalknownhostsfile"),
			"strict_host_key_checking": from("stricthostkeychecking"), "connect_timeout": from("connecttimeout")}}
	if info.Sources["address"] == "default" {
		info.Sources["address"] = "host list"
	}
	if info.Sources["user"] == "default" {
		info.Sources["user"] = "local user"
	}
	if len(info.IdentityFiles) == 0 {
		info.Sources["identity_files"] = "default (~/.ssh/id_*, agent)"
	}
	switch {
	case e.proxyJump != "":
		info.Sources["proxy"] = from("proxyjump")
	case e.proxyCommand != "":
		info.Sources["proxy"] = from("proxycommand")
	}
	if d.opts.ConnectTimeout != 0 {
		info.Sources["connect_timeout"] = "--connect-timeout"
	}
	return info, nil
}
