package hull

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/netsetup"
	"github.com/vishvananda/netlink"
)

// addTestLink makes a veth pair (name, name+"p": kernels without the
// dummy driver have veth) with the given addresses on name in the test's
// network namespace; it is deleted when the test ends.
func addTestLink(t *testing.T, name string, addrs ...string) {
	t.Helper()
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(l); err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(l); err != nil {
			t.Errorf("delete %s: %v", name, err)
		}
	})
	for _, a := range addrs {
		ip, n, err := net.ParseCIDR(a)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: n}); err != nil {
			t.Fatalf("address %s: %v", a, err)
		}
	}
	for _, n := range []string{name, name + "p"} {
		if l, err := netlink.LinkByName(n); err != nil || netlink.LinkSetUp(l) != nil {
			t.Fatalf("set %s up: %v", n, err)
		}
	}
}

func linkNames(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	// hull0 and its ports are other tests' (cmd/hull's run in parallel in
	// the same network namespace, on the default network).
	def := -1
	for _, l := range links {
		if l.Attrs().Name == "hull0" {
			def = l.Attrs().Index
		}
	}
	var out []string
	for _, l := range links {
		if a := l.Attrs(); a.Index != def && (def < 0 || a.MasterIndex != def) {
			out = append(out, a.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestNetworkHostOverlap: a subnet over an address or route of the host
// (here a veth's, in the test's network namespace) is refused with
// ErrConflict naming it, and leaves no bridge, rule or state; the
// automatic choice skips them.
func TestNetworkHostOverlap(t *testing.T) {
	requirePrivateNetns(t)
	rt := openTest(t)
	ctx := t.Context()
	// 10.213.7.0/24 is routed; 10.214.9.9/32 has no route in the main table.
	addTestLink(t, "hulltd0", "10.213.7.1/24", "10.214.9.9/32")
	// Not 172.17: the default network's, of tests running alongside (a
	// subnet over both would name that route first).
	addTestLink(t, "hulltd1", "172.30.0.1/16")
	unlock, err := rt.lockNetworks() // makes networks/, as any create does
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	links, before := linkNames(t), rootListing(t, rt.Root())
	for _, tc := range []struct{ subnet, names string }{
		{"10.213.0.0/16", "route 10.213.7.0/24 dev hulltd0"},
		{"10.213.7.128/25", "route 10.213.7.0/24 dev hulltd0"},
		{"10.214.9.0/24", "address 10.214.9.9/32 on hulltd0"},
		{"172.30.0.0/15", "route 172.30.0.0/16 dev hulltd1"},
	} {
		_, err := rt.CreateNetwork(ctx, "over", WithSubnet(tc.subnet))
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.names) {
			t.Errorf("CreateNetwork(%s): %v; want ErrConflict naming %q", tc.subnet, err, tc.names)
		}
	}
	if got := linkNames(t); !slices.Equal(got, links) {
		t.Errorf("links after failed creates: %q, before %q", got, links)
	}
	if after := rootListing(t, rt.Root()); !slices.Equal(after, before) {
		t.Errorf("failed creates changed the root:\n%v\n%v", before, after)
	}
	if nets, err := rt.Networks(ctx); err != nil || len(nets) != 0 {
		t.Errorf("Networks = %v, %v", nets, err)
	}
	_, brs, err := netsetup.Owners()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range brs {
		if strings.HasPrefix(b, rt.ruleOwner("")) {
			t.Errorf("rule of %s left", b)
		}
	}
	// The first default subnet, 172.17.0.0/16, routed here (unless the
	// default network of tests alongside routes it already): skipped.
	if !routed(t, netip.MustParsePrefix("172.17.0.0/16")) {
		addTestLink(t, "hulltd2", "172.17.0.1/16")
	}
	routes := routeList(t)
	n, err := rt.CreateNetwork(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	s := netip.MustParsePrefix(inspect(t, n).IPAM.Config[0].Subnet)
	for _, r := range routes {
		if r.Overlaps(s) {
			t.Errorf("chosen subnet %s overlaps the route %s", s, r)
		}
	}
}

// routeList is the main table's IPv4 destinations.
func routeList(t *testing.T) []netip.Prefix {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst != nil {
			if p, err := netip.ParsePrefix(r.Dst.String()); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// routed reports whether a route of the main table overlaps p.
func routed(t *testing.T, p netip.Prefix) bool {
	return slices.ContainsFunc(routeList(t), p.Overlaps)
}
