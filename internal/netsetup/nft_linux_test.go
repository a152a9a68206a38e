package netsetup

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nftHost is a private "host" namespace (the test's thread is locked into
// it) with an "outside" namespace playing another machine on the LAN,
// reachable at outsideAddr via the host's address lanAddr.
type nftHost struct {
	t       *testing.T
	host    netns.NsHandle
	outside netns.NsHandle
}

var (
	lanAddr     = netip.MustParseAddr("192.168.200.1")
	outsideAddr = netip.MustParseAddr("192.168.200.2")
)

func newNFTHost(t *testing.T) *nftHost {
	t.Helper()
	host := inFreshNetns(t)
	if err := ensureTables(); err != nil {
		t.Skipf("nftables unavailable here: %v", err)
	}
	h := &nftHost{t: t, host: host}
	h.outside = h.newNS()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hvlan0"}, PeerName: "hvlan0p"}
	must(t, netlink.LinkAdd(veth))
	must(t, netlink.AddrAdd(veth, &netlink.Addr{IPNet: ipNet(lanAddr, 24)}))
	must(t, netlink.LinkSetUp(veth))
	peer, err := netlink.LinkByName("hvlan0p")
	must(t, err)
	must(t, netlink.LinkSetNsFd(peer, int(h.outside)))
	must(t, withHandleAt(h.outside, func(nh *netlink.Handle) error {
		l, err := nh.LinkByName("hvlan0p")
		if err != nil {
			return err
		}
		if err := nh.AddrAdd(l, &netlink.Addr{IPNet: ipNet(outsideAddr, 24)}); err != nil {
			return err
		}
		return nh.LinkSetUp(l)
	}))
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newNS makes an empty network namespace with lo up and returns to the host.
func (h *nftHost) newNS() netns.NsHandle {
	h.t.Helper()
	ns, err := netns.New()
	must(h.t, err)
	h.t.Cleanup(func() { ns.Close() })
	lo, _ := netlink.LinkByName("lo")
	netlink.LinkSetUp(lo)
	must(h.t, netns.Set(h.host))
	return ns
}

// in runs fn with the test's thread in ns: sockets created by fn live there.
func (h *nftHost) in(ns netns.NsHandle, fn func()) {
	h.t.Helper()
	must(h.t, netns.Set(ns))
	defer func() { must(h.t, netns.Set(h.host)) }()
	fn()
}

// bridge creates a bridge 10.<n>.0.0/24 with gateway .1 and its rules.
func (h *nftHost) bridge(name string, n int, internal bool) (netip.Prefix, netip.Addr) {
	h.t.Helper()
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/24", n))
	gw := netip.MustParseAddr(fmt.Sprintf("10.%d.0.1", n))
	_, err := EnsureBridge(name, subnet, gw)
	must(h.t, err)
	must(h.t, SetupBridge(name, name, subnet, internal))
	return subnet, gw
}

// container attaches a new namespace to bridge at addr and serves on port
// 80 (tcp and udp) answering with the address the client came from.
func (h *nftHost) container(bridge, veth string, addr, gw netip.Addr) netns.NsHandle {
	h.t.Helper()
	ns := h.newNS()
	must(h.t, Attach(ns, Attachment{Bridge: bridge, HostName: veth, IfName: "eth0", Addr: addr, Bits: 24, Gateway: gw}))
	h.in(ns, func() { h.serve(":80") })
	return ns
}

// serve answers every TCP connection and UDP datagram on addr with the
// client's address, in the namespace the thread is in.
func (h *nftHost) serve(addr string) {
	h.t.Helper()
	ln, err := net.Listen("tcp4", addr)
	must(h.t, err)
	pc, err := net.ListenPacket("udp4", addr)
	must(h.t, err)
	h.t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(from.(*net.UDPAddr).IP.String()), from)
		}
	}()
}

// fetch connects to addr from the thread's namespace and returns what the
// server said: the client address it saw.
func fetch(addr string) (string, error) {
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func fetchUDP(addr string) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("hi")); err != nil {
		return "", err
	}
	b := make([]byte, 64)
	n, err := c.Read(b)
	return string(b[:n]), err
}

func (h *nftHost) wantFetch(from netns.NsHandle, addr, wantClient string) {
	h.t.Helper()
	var got string
	var err error
	h.in(from, func() { got, err = fetch(addr) })
	if err != nil {
		h.t.Errorf("connect %s: %v", addr, err)
	} else if got != wantClient {
		h.t.Errorf("connect %s: server saw client %s, want %s", addr, got, wantClient)
	}
}

// wantBlocked checks that a connection to addr fails. A dropped SYN is
// only visible as a time-out; every blocked case has a passing twin (same
// server, other path) in the same test, so a broken setup cannot pass.
func (h *nftHost) wantBlocked(from netns.NsHandle, addr string) {
	h.t.Helper()
	var err error
	h.in(from, func() {
		var c net.Conn
		if c, err = net.DialTimeout("tcp4", addr, time.Second); err == nil {
			c.Close()
		}
	})
	if err == nil {
		h.t.Errorf("connect %s: succeeded, want blocked", addr)
	}
}

func TestNFTPublishedPortPaths(t *testing.T) {
	h := newNFTHost(t)
	_, gw := h.bridge("hullnft0", 81, false)
	addr := netip.MustParseAddr("10.81.0.2")
	ctr := h.container("hullnft0", "hvnft0", addr, gw)
	ports := []PortRule{
		{Proto: "tcp", HostPort: 8080, Addr: addr, Port: 80},
		{Proto: "udp", HostPort: 8080, Addr: addr, Port: 80},
		{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 9090, Addr: addr, Port: 80},
		{Proto: "tcp", HostIP: lanAddr, HostPort: 9191, Addr: addr, Port: 80},
	}
	must(t, Publish("c1", ports))
	must(t, Publish("c1", ports)) // replaces, does not duplicate
	must(t, SetHairpin("hvnft0"))

	// The host itself: loopback (masqueraded to the gateway so the reply
	// comes back), the bridge's own address, its LAN address.
	h.wantFetch(h.host, "127.0.0.1:8080", gw.String())
	h.wantFetch(h.host, gw.String()+":8080", gw.String())
	h.wantFetch(h.host, lanAddr.String()+":8080", lanAddr.String())
	h.wantFetch(h.host, "127.0.0.1:9090", gw.String())
	h.wantFetch(h.host, lanAddr.String()+":9191", lanAddr.String())
	// Another machine keeps its own address (no masquerade), like Docker.
	h.wantFetch(h.outside, lanAddr.String()+":8080", outsideAddr.String())
	h.wantFetch(h.outside, lanAddr.String()+":9191", outsideAddr.String())
	// Hairpin: the container reaches its own published port via the host.
	h.wantFetch(ctr, lanAddr.String()+":8080", gw.String())
	h.wantFetch(ctr, "10.81.0.2:80", "10.81.0.2") // sanity: direct
	// UDP.
	var got string
	var err error
	h.in(h.host, func() { got, err = fetchUDP("127.0.0.1:8080") })
	if err != nil || got != gw.String() {
		t.Errorf("udp 127.0.0.1:8080: %q, %v", got, err)
	}
	h.in(h.outside, func() { got, err = fetchUDP(lanAddr.String() + ":8080") })
	if err != nil || got != outsideAddr.String() {
		t.Errorf("udp from outside: %q, %v", got, err)
	}
	// A port bound to 127.0.0.1 is not reachable from elsewhere (nothing
	// listens on the host, so the connection is refused), nor one bound to
	// the LAN address via loopback.
	h.in(h.outside, func() { _, err = fetch(lanAddr.String() + ":9090") })
	if err == nil {
		t.Error("port published on 127.0.0.1 answered from another machine")
	}
	h.in(h.host, func() { _, err = fetch("127.0.0.1:9191") })
	if err == nil {
		t.Error("port published on the LAN address answered on 127.0.0.1")
	}
	pp, err := PublishedPorts()
	must(t, err)
	if len(pp) != len(ports) {
		t.Fatalf("PublishedPorts: %d, want %d: %+v", len(pp), len(ports), pp)
	}
	for i, p := range pp {
		want := ports[i]
		want.Owner = "c1"
		if !want.HostIP.IsValid() {
			want.HostIP = netip.IPv4Unspecified()
		}
		if p != want {
			t.Errorf("PublishedPorts[%d] = %+v, want %+v", i, p, want)
		}
	}

	must(t, Unpublish("c1"))
	must(t, Unpublish("c1"))
	h.in(h.host, func() { _, err = fetch("127.0.0.1:8080") })
	if err == nil {
		t.Error("port still answers after Unpublish")
	}
	if pp, _ := PublishedPorts(); len(pp) != 0 {
		t.Errorf("after Unpublish: %+v", pp)
	}
}

// TestNFTUDPConntrack: a UDP client that was sending to a port before it
// was published reaches the container once its flow is forgotten.
func TestNFTUDPConntrack(t *testing.T) {
	h := newNFTHost(t)
	_, gw := h.bridge("hullnftu", 87, false)
	addr := netip.MustParseAddr("10.87.0.2")
	h.container("hullnftu", "hvnftu", addr, gw)
	c, err := net.Dial("udp4", "127.0.0.1:5300")
	must(t, err)
	defer c.Close()
	ask := func() (string, error) {
		b := make([]byte, 64)
		for range 3 {
			c.Write([]byte("hi"))
			c.SetDeadline(time.Now().Add(300 * time.Millisecond))
			if n, err := c.Read(b); err == nil {
				return string(b[:n]), nil
			}
		}
		return "", errors.New("no answer")
	}
	if _, err := ask(); err == nil {
		t.Fatal("answer before the port is published")
	}
	must(t, Publish("u1", []PortRule{{Proto: "udp", HostPort: 5300, Addr: addr, Port: 80}}))
	if got, err := ask(); err == nil {
		t.Logf("the old flow got through without a flush (%q): the kernel forgot it already", got)
	}
	must(t, FlushUDPConntrack(5300))
	if got, err := ask(); err != nil || got != gw.String() {
		t.Errorf("after the flush: %q, %v", got, err)
	}
}

// TestNFTGuardsHostLoopback: route_localnet on the bridge must not let a
// container reach services bound to the host's 127.0.0.1.
func TestNFTGuardsHostLoopback(t *testing.T) {
	h := newNFTHost(t)
	_, gw := h.bridge("hullnftg", 86, false)
	ctr := h.container("hullnftg", "hvnftg", netip.MustParseAddr("10.86.0.2"), gw)
	// 127.0.0.2: the container keeps 127.0.0.1 local (its own /32 route).
	h.in(h.host, func() { h.serve("127.0.0.2:7070") })
	h.wantFetch(h.host, "127.0.0.2:7070", "127.0.0.1")
	// Make the container send 127.0.0.0/8 to the gateway: drop its local
	// route for it, route it via eth0 and let eth0 carry such addresses.
	h.in(ctr, func() {
		eth, err := netlink.LinkByName("eth0")
		must(t, err)
		lo, err := netlink.LinkByName("lo")
		must(t, err)
		loop := ipNet(netip.MustParseAddr("127.0.0.0"), 8)
		must(t, netlink.RouteDel(&netlink.Route{LinkIndex: lo.Attrs().Index, Dst: loop, Table: unix.RT_TABLE_LOCAL,
			Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST}))
		must(t, netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: loop, Gw: gw.AsSlice()}))
		must(t, writeSysctl("net/ipv4/conf/eth0/route_localnet", "1"))
	})
	h.wantBlocked(ctr, "127.0.0.2:7070")
	// Twin: without hull's rules (route_localnet still on) it gets through,
	// so the rule is what blocked it.
	must(t, RemoveBridge("hullnftg"))
	h.wantFetch(ctr, "127.0.0.2:7070", "10.86.0.2")
}

func TestNFTIsolationMasqueradeInternal(t *testing.T) {
	h := newNFTHost(t)
	h.in(h.outside, func() { h.serve(":80") })
	_, gwA := h.bridge("hullnfta", 82, false)
	_, gwB := h.bridge("hullnftb", 83, false)
	_, gwI := h.bridge("hullnfti", 84, true)
	a := h.container("hullnfta", "hvnfta", netip.MustParseAddr("10.82.0.2"), gwA)
	a2 := h.container("hullnfta", "hvnfta2", netip.MustParseAddr("10.82.0.3"), gwA)
	b := h.container("hullnftb", "hvnftb", netip.MustParseAddr("10.83.0.2"), gwB)
	in := h.container("hullnfti", "hvnfti", netip.MustParseAddr("10.84.0.2"), gwI)
	in2 := h.container("hullnfti", "hvnfti2", netip.MustParseAddr("10.84.0.3"), gwI)

	// Outbound NAT: the other machine sees the host's address.
	h.wantFetch(a, outsideAddr.String()+":80", lanAddr.String())
	h.wantFetch(b, outsideAddr.String()+":80", lanAddr.String())
	// Same network: direct.
	h.wantFetch(a, "10.82.0.3:80", "10.82.0.2")
	h.wantFetch(in, "10.84.0.3:80", "10.84.0.2")
	_ = a2
	_ = in2
	// The host reaches every container.
	h.wantFetch(h.host, "10.83.0.2:80", gwB.String())
	h.wantFetch(h.host, "10.84.0.2:80", gwI.String())
	// Networks are isolated from each other, both ways, internal included.
	h.wantBlocked(a, "10.83.0.2:80")
	h.wantBlocked(b, "10.82.0.2:80")
	h.wantBlocked(a, "10.84.0.2:80")
	h.wantBlocked(in, "10.82.0.2:80")
	// An internal network has no way out, and the outside cannot get in
	// (it knows the route).
	h.wantBlocked(in, outsideAddr.String()+":80")
	h.in(h.outside, func() {
		_, sub, _ := net.ParseCIDR("10.80.0.0/12")
		must(t, netlink.RouteAdd(&netlink.Route{Dst: sub, Gw: lanAddr.AsSlice()}))
	})
	h.wantBlocked(h.outside, "10.84.0.2:80")
	// Not even to a non-internal network: new connections from outside are
	// dropped unless they hit a published port.
	h.wantBlocked(h.outside, "10.82.0.2:80")

	// Published port of b is reachable from a through the host address
	// (traffic to a published port is the host's, like another machine's).
	must(t, Publish("cb", []PortRule{{Proto: "tcp", HostPort: 8000, Addr: netip.MustParseAddr("10.83.0.2"), Port: 80}}))
	h.wantFetch(a, lanAddr.String()+":8000", gwB.String())
	h.wantFetch(h.outside, lanAddr.String()+":8000", outsideAddr.String())

	// Rules are idempotent: setting a bridge up twice does not add rules.
	before := countRules(t)
	must(t, SetupBridge("hullnfta", "hullnfta", netip.MustParsePrefix("10.82.0.0/24"), false))
	if after := countRules(t); after != before {
		t.Errorf("SetupBridge twice: %d rules, then %d", before, after)
	}
	ctrs, brs, err := Owners()
	must(t, err)
	if !slices.Equal(ctrs, []string{"cb"}) || !slices.Equal(brs, []string{"hullnfta", "hullnftb", "hullnfti"}) {
		t.Errorf("Owners: %v %v", ctrs, brs)
	}
	must(t, RemoveBridge("hullnftb"))
	must(t, RemoveBridge("hullnftb"))
	_, brs, _ = Owners()
	if !slices.Equal(brs, []string{"hullnfta", "hullnfti"}) {
		t.Errorf("Owners after RemoveBridge: %v", brs)
	}
	for _, br := range []string{"hullnfta", "hullnfti"} {
		must(t, RemoveBridge(br))
	}
	must(t, Unpublish("cb"))
	if n := countRules(t); n != 0 {
		t.Errorf("%d rules left", n)
	}
	// Without the internal network's rules its members reach out again:
	// the rules, not something else, did the blocking.
	h.wantFetch(in, outsideAddr.String()+":80", "10.84.0.2")
}

func countRules(t *testing.T) int {
	t.Helper()
	rules, _, err := listRules()
	must(t, err)
	return len(rules)
}

// TestNFTConcurrentProcesses: many writers (goroutines on their own
// threads, each its own netlink socket, like separate processes) create
// the table and add and remove rules at once; nothing is lost or doubled.
func TestNFTConcurrentWriters(t *testing.T) {
	host := inFreshNetns(t)
	for i := range 8 {
		_, err := EnsureBridge(fmt.Sprintf("hullcc%d", i), netip.MustParsePrefix(fmt.Sprintf("10.90.%d.0/24", i)),
			netip.MustParseAddr(fmt.Sprintf("10.90.%d.1", i)))
		must(t, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread retires with the goroutine
			if err := netns.Set(host); err != nil {
				errs <- err
				return
			}
			br := fmt.Sprintf("hullcc%d", i)
			for j := range 3 {
				if err := SetupBridge(br, br, netip.MustParsePrefix(fmt.Sprintf("10.90.%d.0/24", i)), j%2 == 1); err != nil {
					errs <- err
				}
				id := fmt.Sprintf("ctr%d", i)
				if err := Publish(id, []PortRule{{Proto: "tcp", HostPort: uint16(10000 + i), Addr: netip.MustParseAddr("10.90.0.2"), Port: 80}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ctrs, brs, err := Owners()
	must(t, err)
	if len(ctrs) != 8 || len(brs) != 8 {
		t.Errorf("owners %v %v", ctrs, brs)
	}
	pp, _ := PublishedPorts()
	if len(pp) != 8 {
		t.Errorf("%d published ports, want 8", len(pp))
	}
	// The last round (j=2) was not internal: 5 rules per bridge, 2 per port.
	if n := countRules(t); n != 8*5+8*2 {
		t.Errorf("%d rules, want %d", n, 8*5+8*2)
	}
}

// TestNFTReadableByNFT checks that the nft CLI (if present) sees hull's
// rules with their owner comments, and parses them.
func TestNFTReadableByNFT(t *testing.T) {
	inFreshNetns(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft CLI not installed")
	}
	_, err = EnsureBridge("hullnftc", netip.MustParsePrefix("10.85.0.0/24"), netip.MustParseAddr("10.85.0.1"))
	must(t, err)
	must(t, SetupBridge("hullnftc", "hullnftc", netip.MustParsePrefix("10.85.0.0/24"), false))
	must(t, Publish("abc", []PortRule{{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 53, Addr: netip.MustParseAddr("10.85.0.2"), Port: 5353}}))
	// nft runs in the thread's namespace only if started from it: Go forks
	// from the calling thread, which is locked in the test namespace.
	out, err := exec.Command(nft, "list", "table", "ip", TableName).CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	for _, want := range []string{
		`oifname "hullnftc" iifname != "hullnftc" ct state ! established,related ct status ! dnat drop`,
		`ip saddr 10.85.0.0/24 oifname != "hullnftc" masquerade`,
		`iifname "hullnftc" ip daddr 127.0.0.0/8 drop`,
		`fib daddr type local ip daddr 127.0.0.1 udp dport 53 dnat to 10.85.0.2:5353 comment "hull ctr abc udp 127.0.0.1:53 10.85.0.2:5353"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list lacks %q:\n%s", want, out)
		}
	}
	must(t, Unpublish("abc"))
	must(t, RemoveBridge("hullnftc"))
	out, _ = exec.Command(nft, "list", "table", "ip", TableName).CombinedOutput()
	if strings.Contains(string(out), "comment") {
		t.Errorf("rules left:\n%s", out)
	}
}

// inPrivateNetns skips a benchmark unless the process runs in a network
// namespace of its own (no default route: `unshare --net`). Benchmarks run
// there directly rather than on a thread locked into a fresh namespace:
// the locked thread's hand-offs around every netlink wait cost more than
// the work measured.
func inPrivateNetns(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		b.Skip(err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			b.Skip("needs a private network namespace: run inside `unshare --net`")
		}
	}
}

// benchBridge makes a bridge with rules, removed when b ends.
func benchBridge(b *testing.B, name string, n int) (netip.Prefix, netip.Addr) {
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.95.%d.0/24", n))
	gw := netip.MustParseAddr(fmt.Sprintf("10.95.%d.1", n))
	if _, err := EnsureBridge(name, subnet, gw); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { RemoveBridge(name); DeleteLink(name) })
	if err := SetupBridge(name, name, subnet, false); err != nil {
		b.Fatal(err)
	}
	return subnet, gw
}

// BenchmarkNFTPublish measures installing and removing one container's
// published port while 50 other containers and 10 bridges have rules.
func BenchmarkNFTPublish(b *testing.B) {
	inPrivateNetns(b)
	for i := range 10 {
		benchBridge(b, fmt.Sprintf("hullbn%d", i), i)
	}
	for i := range 50 {
		id := fmt.Sprintf("other%d", i)
		b.Cleanup(func() { Unpublish(id) })
		if err := Publish(id, []PortRule{{Proto: "tcp", HostPort: uint16(20000 + i), Addr: netip.MustParseAddr("10.95.0.2"), Port: 80}}); err != nil {
			b.Fatal(err)
		}
	}
	port := []PortRule{{Proto: "tcp", HostPort: 8080, Addr: netip.MustParseAddr("10.95.0.3"), Port: 80}}
	for b.Loop() {
		if err := Publish("bench", port); err != nil {
			b.Fatal(err)
		}
		if err := Unpublish("bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNFTThroughput streams data from the host to a server in a
// "container" namespace through a published port on 127.0.0.1 (DNAT and
// masquerade in the kernel: no proxy process copies the bytes).
func BenchmarkNFTThroughput(b *testing.B) {
	inPrivateNetns(b)
	_, gw := benchBridge(b, "hullbt0", 20)
	runtime.LockOSThread()
	host, err := netns.Get()
	if err != nil {
		b.Fatal(err)
	}
	ctr, err := netns.New()
	if err != nil {
		b.Fatal(err)
	}
	defer ctr.Close()
	ln, err := net.Listen("tcp4", ":80")
	netns.Set(host)
	runtime.UnlockOSThread()
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	addr := netip.MustParseAddr("10.95.20.2")
	if err := Attach(ctr, Attachment{Bridge: "hullbt0", HostName: "hvbt0", IfName: "eth0", Addr: addr, Bits: 24, Gateway: gw}); err != nil {
		b.Fatal(err)
	}
	defer DeleteLink("hvbt0")
	if err := Publish("bt", []PortRule{{Proto: "tcp", HostPort: 8080, Addr: addr, Port: 80}}); err != nil {
		b.Fatal(err)
	}
	defer Unpublish("bt")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp4", "127.0.0.1:8080")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// ensureTables creates hull's table and its chains if they are missing.
// It is idempotent and safe to call from several processes at once. Rules
// live in the caller's network namespace (the calling thread's).
func ensureTables() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	ensure(c)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: create table %s: %w", TableName, err)
	}
	return nil
}

// TestNFTRemoveOwned: one batch removes the port and bridge rules of the
// owners chosen (a gone root's, by tag) and keeps every other owner's.
func TestNFTRemoveOwned(t *testing.T) {
	inFreshNetns(t)
	for i, owner := range []string{"aaaa:br", "bbbb:br"} {
		br := fmt.Sprintf("hullro%d", i)
		subnet := netip.MustParsePrefix(fmt.Sprintf("10.86.%d.0/24", i))
		_, err := EnsureBridge(br, subnet, netip.MustParseAddr(fmt.Sprintf("10.86.%d.1", i)))
		must(t, err)
		must(t, SetupBridge(owner, br, subnet, false))
	}
	for i, owner := range []string{"aaaa:c1", "aaaa:c2", "bbbb:c1"} {
		must(t, Publish(owner, []PortRule{{Proto: "tcp", HostPort: uint16(11000 + i), Addr: netip.MustParseAddr("10.86.0.2"), Port: 80}}))
	}
	must(t, RemoveOwned(func(o string) bool { return strings.HasPrefix(o, "aaaa:") }))
	ctrs, brs, err := Owners()
	must(t, err)
	if !slices.Equal(ctrs, []string{"bbbb:c1"}) || !slices.Equal(brs, []string{"bbbb:br"}) {
		t.Errorf("owners left: %q %q", ctrs, brs)
	}
	if n := countRules(t); n != 5+2 {
		t.Errorf("%d rules left, want 7", n)
	}
}
