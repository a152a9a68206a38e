package netsetup

import (
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inFreshNetns moves the test's goroutine, locked to its thread, into a new
// network namespace that plays the host. The thread is never unlocked, so
// Go retires it when the test ends and the namespace vanishes with it.
func inFreshNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, bridges and veths")
	}
	runtime.LockOSThread()
	host, err := netns.New()
	if err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { host.Close() })
	lo, _ := netlink.LinkByName("lo")
	netlink.LinkSetUp(lo)
	return host
}

func TestAttachReachableOverBridge(t *testing.T) {
	host := inFreshNetns(t)
	subnet := netip.MustParsePrefix("10.77.0.0/24")
	gw := netip.MustParseAddr("10.77.0.1")
	if _, err := EnsureBridge("hulltest0", subnet, gw); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureBridge("hulltest0", subnet, gw); err != nil {
		t.Fatalf("EnsureBridge is not idempotent: %v", err)
	}
	ctr, err := netns.New() // the thread is now in the container's netns
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	ctrAddr := netip.MustParseAddr("10.77.0.2")
	// A socket created while the thread is in the container's namespace
	// lives there for good.
	ln, err := net.Listen("tcp", "0.0.0.0:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := netns.Set(host); err != nil {
		t.Fatal(err)
	}
	err = Attach(ctr, Attachment{
		Bridge: "hulltest0", HostName: "hvtest0", IfName: "eth0",
		Addr: ctrAddr, Bits: 24, Gateway: gw, MAC: MAC(ctrAddr),
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "hello from the container")
			c.Close()
		}
	}()
	conn, err := net.Dial("tcp", ctrAddr.String()+":8080")
	if err != nil {
		t.Fatalf("host -> container over the bridge: %v", err)
	}
	msg, _ := io.ReadAll(conn)
	conn.Close()
	if string(msg) != "hello from the container" {
		t.Errorf("got %q", msg)
	}
	// Inside: eth0 with the address and the MAC, default route via gw.
	err = withHandleAt(ctr, func(h *netlink.Handle) error {
		l, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		if l.Attrs().HardwareAddr.String() != "02:42:0a:4d:00:02" {
			t.Errorf("mac %s", l.Attrs().HardwareAddr)
		}
		routes, err := h.RouteList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		var hasDefault bool
		for _, r := range routes {
			if r.Gw != nil && r.Gw.Equal(gw.AsSlice()) {
				hasDefault = true
			}
		}
		if !hasDefault {
			t.Errorf("no default route via %s in %v", gw, routes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := DeleteLink("hvtest0"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("hvtest0"); err == nil {
		t.Error("veth still there after DeleteLink")
	}
	if err := DeleteLink("hvtest0"); err != nil {
		t.Errorf("deleting a missing link: %v", err)
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	inFreshNetns(t)
	if _, err := EnsureBridge("hulltest1", netip.MustParsePrefix("10.78.0.0/24"), netip.MustParseAddr("10.78.0.1")); err != nil {
		t.Fatal(err)
	}
	before, _ := netlink.LinkList()
	// A closed namespace handle makes the move fail half-way.
	err := Attach(netns.NsHandle(-1), Attachment{Bridge: "hulltest1", HostName: "hvfail0", IfName: "eth0",
		Addr: netip.MustParseAddr("10.78.0.2"), Bits: 24})
	if err == nil {
		t.Fatal("Attach into an invalid namespace succeeded")
	}
	after, _ := netlink.LinkList()
	if len(after) != len(before) {
		t.Errorf("links before %d, after %d", len(before), len(after))
	}
	if err := Attach(netns.NsHandle(-1), Attachment{Bridge: "nosuchbridge", HostName: "hvfail1"}); err == nil {
		t.Error("Attach to a missing bridge succeeded")
	}
}
