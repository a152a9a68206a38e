package hull

import (
	"fmt"
	"net/netip"
)

// WithDNS sets the resolvers (IP addresses) that the container's name
// service asks for every name that is not a container's, like docker run
// --dns. It matters on user-defined networks, where the container's
// resolv.conf names hull's resolver at 127.0.0.11 and that resolver,
// running in the container's network namespace, forwards to these
// servers (a loopback address is the container's own loopback). Default:
// the nameservers of the host's /etc/resolv.conf, minus the loopback and
// IPv6 ones, which mean nothing in the container (with only loopback ones
// under systemd-resolved, those of /run/systemd/resolve/resolv.conf);
// with none at all, such names do not resolve (NXDOMAIN).
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
