package hull

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/vishvananda/netlink"
)

// hostNet is an IPv4 address or route of the network namespace hull runs
// in, which a network's subnet must not overlap: a bridge there would take
// over the host's own traffic (with the host's LAN as subnet, the bridge
// took the LAN gateway's address).
type hostNet struct {
	prefix netip.Prefix
	desc   string // "route 192.168.1.0/24 dev eth0", "address 10.1.2.3/32 on dummy0"
}

// hostNets lists the routes of the main table but the default route, and
// the addresses of every link (an address without a prefix route, such as
// a /32, shows in no route of the main table). Each address counts as a
// single host (/32): its prefix is the route's business.
func hostNets() ([]hostNet, error) {
	links, err := netlink.LinkList()
	for i := 0; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		links, err = netlink.LinkList()
	}
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	linkName := func(index int) string {
		if n, ok := names[index]; ok {
			return n
		}
		return "if" + strconv.Itoa(index)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4) // the main table
	for i := 0; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		routes, err = netlink.RouteList(nil, netlink.FAMILY_V4)
	}
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []hostNet
	for _, r := range routes {
		p, ok := v4Prefix(r.Dst)
		if !ok || p.Bits() == 0 {
			continue // the default route overlaps everything: not a conflict
		}
		desc := "route " + p.String()
		if gw, ok := netip.AddrFromSlice(r.Gw.To4()); ok {
			desc += " via " + gw.String()
		}
		if r.LinkIndex > 0 {
			desc += " dev " + linkName(r.LinkIndex)
		}
		out = append(out, hostNet{prefix: p, desc: desc})
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	for i := 0; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		addrs, err = netlink.AddrList(nil, netlink.FAMILY_V4)
	}
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		p, ok := v4Prefix(a.IPNet)
		if !ok {
			continue
		}
		out = append(out, hostNet{
			prefix: netip.PrefixFrom(p.Addr(), 32),
			desc:   "address " + p.String() + " on " + linkName(a.LinkIndex),
		})
	}
	return out, nil
}

// v4Prefix converts an IPv4 net.IPNet, keeping the address's host bits.
func v4Prefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	ones, bits := n.Mask.Size()
	if !ok || bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// hostRoutes lists the IPv4 prefixes of the host's routes and addresses
// (hostNets), for choosing a free subnet.
func hostRoutes() ([]netip.Prefix, error) {
	nets, err := hostNets()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, len(nets))
	for i, n := range nets {
		out[i] = n.prefix.Masked()
	}
	return out, nil
}

// checkHostOverlap refuses (ErrConflict) a subnet that overlaps an address
// or route of the host, naming it. Networks of this root were checked
// before (their bridges' routes are named by network there).
func checkHostOverlap(subnet netip.Prefix) error {
	nets, err := hostNets()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if subnet.Overlaps(n.prefix.Masked()) {
			return fmt.Errorf("%w: subnet %s overlaps %s of the host", ErrConflict, subnet, n.desc)
		}
	}
	return nil
}
