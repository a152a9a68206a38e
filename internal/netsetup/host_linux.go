package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hullbox/hull/internal/fsutil"
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

// HostRoutes lists the IPv4 prefixes of the host's routes and addresses
// (hostNets), for choosing a free subnet.
func HostRoutes() ([]netip.Prefix, error) {
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

// CheckHostOverlap refuses (ErrHostOverlap) a subnet that overlaps an
// address or route of the host, naming it. The caller checks its own
// networks first (their bridges' routes are better named by network).
func CheckHostOverlap(subnet netip.Prefix) error {
	nets, err := hostNets()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if subnet.Overlaps(n.prefix.Masked()) {
			return fmt.Errorf("%w: subnet %s overlaps %s of the host", ErrHostOverlap, subnet, n.desc)
		}
	}
	return nil
}

// ErrHostOverlap is wrapped by CheckHostOverlap's error.
var ErrHostOverlap = errors.New("subnet in use by the host")

// EnableForwarding turns on IPv4 forwarding (net.ipv4.ip_forward), as
// Docker does for networks that reach the outside.
func EnableForwarding() error {
	const p = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

// LockHost serializes the choice of bridge names and subnets between the
// processes (and roots) of this host, which look at the host's links and
// routes: an flock on /run/lock/hull-network.lock. The returned func
// releases it.
func LockHost() (func(), error) { return hostLock("hull-network.lock") }

// hostLock takes an exclusive flock on name in /run/lock (or the
// temporary directory); the returned func releases it.
func hostLock(name string) (func(), error) {
	dir := "/run/lock"
	if _, err := os.Stat(dir); err != nil {
		dir = os.TempDir()
	}
	l, err := fsutil.LockFile(filepath.Join(dir, name), fsutil.CreateDir)
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// FreeLinkName is the first of prefix0, prefix1, ... that names no link.
func FreeLinkName(prefix string) string {
	for i := 0; ; i++ {
		name := prefix + strconv.Itoa(i)
		if _, err := netlink.LinkByName(name); err != nil {
			return name
		}
	}
}

// LinkAlias returns the alias (IFLA_IFALIAS) of the link name, and false
// if there is no such link. hull names a bridge's network in it.
func LinkAlias(name string) (string, bool) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return "", false
	}
	return l.Attrs().Alias, true
}
