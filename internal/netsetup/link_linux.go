package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// EnsureBridge creates (or finds) a Linux bridge named name with gateway
// as its address in subnet, and brings it up. The caller's network
// namespace is the host side.
func EnsureBridge(name string, subnet netip.Prefix, gateway netip.Addr) (*netlink.Bridge, error) {
	if l, err := netlink.LinkByName(name); err == nil {
		br, ok := l.(*netlink.Bridge)
		if !ok {
			return nil, fmt.Errorf("link %s exists and is not a bridge", name)
		}
		return br, nil
	}
	// A fixed MAC: without one the bridge takes the lowest of its ports'
	// and changes it when that port goes, and the containers' ARP entries
	// for the gateway then point nowhere (no outbound traffic, no
	// upstream DNS) until they expire.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: MAC(gateway)}}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			netlink.LinkDel(br)
		}
	}()
	a := &netlink.Addr{IPNet: ipNet(gateway, subnet.Bits())}
	if err := netlink.AddrAdd(br, a); err != nil {
		return nil, fmt.Errorf("address bridge %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bring up bridge %s: %w", name, err)
	}
	ok = true
	return br, nil
}

// DeleteLink removes a link by name; a missing link is not an error.
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

// DeleteLinkAt removes the link called name in the network namespace ns;
// a missing link is not an error.
func DeleteLinkAt(ns netns.NsHandle, name string) error {
	return withHandleAt(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(name)
		if err != nil {
			return nil // gone already
		}
		return h.LinkDel(l)
	})
}

// Attachment describes one container interface to create.
type Attachment struct {
	Bridge   string     // bridge on the host side
	HostName string     // host end of the veth (at most 15 bytes)
	IfName   string     // name inside the container, e.g. "eth0"
	Addr     netip.Addr // container address
	Bits     int        // prefix length of the subnet
	Gateway  netip.Addr // default route (invalid: no default route, e.g. internal networks)
	MAC      net.HardwareAddr
	MTU      int
}

// Attach creates a veth pair whose host end is plugged into the bridge and
// whose other end is born in the network namespace target, already named
// a.IfName and with its MAC (moving a link between namespaces waits for
// an RCU grace period: 10-30 ms on a busy machine). There it is
// addressed, brought up and given the default route. On error nothing is
// left behind.
func Attach(target netns.NsHandle, a Attachment) (retErr error) {
	var veth *netlink.Veth
	// A create that fails with EINVAL/EEXIST is tried again twice, the
	// bridge looked up anew: the suite saw one EINVAL under load (a CLI
	// start of a created container, cmd/hull TestCreateStartWait) that
	// did not come back on retry — most likely the bridge's index changing
	// under us (another process re-made it) or a veth of the same name
	// still going away with an old network namespace.
	for try := 0; ; try++ {
		br, err := netlink.LinkByName(a.Bridge)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", a.Bridge, err)
		}
		veth = &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: a.HostName, MasterIndex: br.Attrs().Index, MTU: a.MTU},
			PeerName:         a.IfName,
			PeerHardwareAddr: a.MAC,
			PeerNamespace:    netlink.NsFd(int(target)),
			PeerMTU:          uint32(a.MTU),
		}
		err = netlink.LinkAdd(veth)
		if err == nil {
			break
		}
		if try == 2 || !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create veth %s (bridge %s, ifindex %d): %w", a.HostName, a.Bridge, br.Attrs().Index, err)
		}
		_ = DeleteLink(a.HostName)
		time.Sleep(time.Duration(10*(try+1)) * time.Millisecond)
	}
	defer func() {
		if retErr != nil {
			netlink.LinkDel(veth) // removes both ends, wherever the peer is
		}
	}()
	if err := netlink.LinkSetUp(veth); err != nil {
		return err
	}
	return withHandleAt(target, func(h *netlink.Handle) error { return configurePeer(h, a) })
}

func configurePeer(h *netlink.Handle, a Attachment) error {
	l, err := h.LinkByName(a.IfName)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(a.Addr, a.Bits)}); err != nil {
		return fmt.Errorf("address %s: %w", a.Addr, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
	if !a.Gateway.IsValid() {
		return nil
	}
	route := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: a.Gateway.AsSlice()}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("default route via %s: %w", a.Gateway, err)
	}
	return nil
}

// withHandleAt runs fn with a netlink handle bound to ns. The handle
// talks to the namespace through its own socket, so no thread has to
// switch namespaces (unlike internal/dns's InNetns).
func withHandleAt(ns netns.NsHandle, fn func(*netlink.Handle) error) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// MAC returns Docker's style of MAC address for an IPv4 address:
// 02:42 followed by the four address bytes.
func MAC(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// LoopbackUp brings up lo in the calling thread's network namespace (a
// no-op if it is up): a new namespace's lo is down, without 127.0.0.1.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
