package hull

import (
	"errors"
	"net"
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
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
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
	addTestLink(t, "hulltd1", "172.17.0.1/16")
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
		{"172.16.0.0/12", "route 172.17.0.0/16 dev hulltd1"},
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
	n, err := rt.CreateNetwork(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if s := inspect(t, n).IPAM.Config[0].Subnet; s != "172.18.0.0/16" {
		t.Errorf("chosen subnet %s, want 172.18.0.0/16 (172.17.0.0/16 is routed)", s)
	}
}
