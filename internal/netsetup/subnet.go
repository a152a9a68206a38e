package netsetup

import (
	"fmt"
	"net/netip"
)

// ParsePrefix parses s, the IPv4 CIDR given as what ("subnet", "ip
// range"): it must have no host bits set and room for a gateway and a
// container (at most /30).
func ParsePrefix(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%s %q: want an IPv4 CIDR such as 172.30.0.0/16", what, s)
	}
	if !p.Addr().Is4() {
		return p, fmt.Errorf("%s %q: only IPv4 is supported", what, s)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%s %q: host bits set, did you mean %s?", what, s, p.Masked())
	}
	if p.Bits() > 30 {
		return p, fmt.Errorf("%s %q: too small (at most /30): no room for a gateway and a container", what, s)
	}
	return p, nil
}

// specialV4 are the IPv4 blocks a network's subnet may not overlap: a
// bridge with an address there, and the masquerade and routes that follow
// it, would take over addresses the host and every program on it give a
// fixed meaning to.
var specialV4 = []struct {
	block netip.Prefix
	what  string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "the unspecified (\"this network\") block"},
	{netip.MustParsePrefix("127.0.0.0/8"), "the loopback block"},
	{netip.MustParsePrefix("169.254.0.0/16"), "the link-local block"},
	{netip.MustParsePrefix("224.0.0.0/4"), "the multicast block"},
	{netip.MustParsePrefix("240.0.0.0/4"), "the reserved block (with the broadcast address 255.255.255.255)"},
}

// minSubnetBits is the shortest prefix a network's subnet may have. The
// largest private block is 10.0.0.0/8: a larger subnet must take in
// addresses of other people's networks, and its masquerade rule and route
// would capture the host's traffic to them.
const minSubnetBits = 8

// CheckSubnet refuses the subnets no network may have, whatever the host:
// special blocks and sizes. ParsePrefix has refused those too small to
// hold a gateway and a container (/31, /32).
func CheckSubnet(p netip.Prefix) error {
	for _, s := range specialV4 {
		if p.Overlaps(s.block) {
			return fmt.Errorf("subnet %s overlaps %s, %s", p, s.block, s.what)
		}
	}
	if p.Bits() < minSubnetBits {
		return fmt.Errorf("subnet %s is too large (at least /%d): it would take in unrelated networks' addresses", p, minSubnetBits)
	}
	return nil
}

// CheckLayout refuses a gateway (if valid) or IP range (if valid) that
// does not fit subnet, before anything is made: the gateway must be a host
// address of it, the range inside it.
func CheckLayout(s netip.Prefix, g netip.Addr, r netip.Prefix) error {
	if g.IsValid() {
		switch {
		case !s.Contains(g):
			return fmt.Errorf("gateway %s is not in subnet %s", g, s)
		case g == s.Masked().Addr():
			return fmt.Errorf("gateway %s is the network address of %s", g, s)
		case g == broadcast(s.Masked()):
			return fmt.Errorf("gateway %s is the broadcast address of %s", g, s)
		}
	}
	if r.IsValid() && (r.Bits() < s.Bits() || !s.Contains(r.Addr())) {
		return fmt.Errorf("IP range %s is not inside subnet %s", r, s)
	}
	return nil
}
