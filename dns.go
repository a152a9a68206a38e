package hull

import (
	"fmt"
	"net/netip"
)

// WithDNS sets the container's DNS servers (IP addresses), like docker run
// --dns. On a user-defined network the container's resolv.conf names
// hull's resolver at 127.0.0.11, which answers container names and
// forwards every other name to these servers from the container's network
// namespace (so a loopback address is the container's own loopback); on
// other networks they are the nameservers of its resolv.conf. Default:
// the host's nameservers; those a user-defined network's resolver
// forwards to are the host's IPv4 ones that are not loopback ones (with
// only loopback ones, under systemd-resolved, those of
// /run/systemd/resolve/resolv.conf), and with none at all other names do
// not resolve (NXDOMAIN).
func WithDNS(servers ...string) RunOption {
	return func(c *runConfig) error {
		for _, s := range servers {
			if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
				return fmt.Errorf("%w: DNS server %q: want an IP address", ErrInvalidArgument, s)
			}
		}
		c.dns = append(c.dns, servers...)
		return nil
	}
}
