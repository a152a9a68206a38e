//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/netsetup"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestParsePortSpec(t *testing.T) {
	want := portSpec{Raw: "127.0.0.1::80", HostIP: netip.MustParseAddr("127.0.0.1"), CtrLo: 80, CtrHi: 80, Proto: "tcp"}
	if got, err := parsePortSpec(want.Raw); err != nil || got != want {
		t.Errorf("parsePortSpec(%q) = %+v, %v; want %+v", want.Raw, got, err, want)
	}
	// The table of specs is netsetup's (TestParsePortSpec there); here,
	// that a bad one is an ErrInvalidArgument naming it.
	for _, spec := range []string{"", "80/sctp", "[::1]:80:80"} {
		_, err := parsePortSpec(spec)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), fmt.Sprintf("%q", spec)) {
			t.Errorf("parsePortSpec(%q): %v, want ErrInvalidArgument naming the spec", spec, err)
		}
	}
	var rc runConfig
	if err := WithPublish("80")(&rc); err != nil || !rc.wantsPublish() {
		t.Errorf("WithPublish: %v, %+v", err, rc.publish)
	}
}

// pubServerSource is a static Go program serving TCP and UDP on the ports
// given as arguments: it answers each connection (and each datagram) with
// the client's address as it sees it. "pubsrv connect HOST:PORT" is its
// client.
const pubServerSource = `package main

import (
	"io"
	"net"
	"os"
	"time"
)

func main() {
	if os.Args[1] == "connect" { // connect HOST:PORT: print what the server says
		c, err := net.DialTimeout("tcp", os.Args[2], 2*time.Second)
		if err != nil {
			os.Stdout.WriteString(err.Error())
			os.Exit(1)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.Copy(os.Stdout, c)
		return
	}
	for _, p := range os.Args[1:] {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			panic(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					os.Exit(1)
				}
				c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
				c.Close()
			}
		}()
		pc, err := net.ListenPacket("udp", ":"+p)
		if err != nil {
			panic(err)
		}
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					os.Exit(1)
				}
				pc.WriteTo([]byte(from.(*net.UDPAddr).IP.String()), from)
			}
		}()
	}
	select {}
}
`

var pubServer struct {
	once sync.Once
	bin  []byte
	err  error
}

// publishTest is netTest with bin/pubsrv (pubServerSource) in busybox:test.
func publishTest(t *testing.T) *Runtime {
	t.Helper()
	requirePrivateNetns(t)
	pubServer.once.Do(func() {
		dir, err := os.MkdirTemp("", "pubsrv")
		if err != nil {
			pubServer.err = err
			return
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(pubServerSource), 0o644); err != nil {
			pubServer.err = err
			return
		}
		build := exec.Command("go", "build", "-o", "pubsrv", "main.go")
		build.Dir = dir
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
		if out, err := build.CombinedOutput(); err != nil {
			pubServer.err = fmt.Errorf("%v\n%s", err, out)
			return
		}
		pubServer.bin, pubServer.err = os.ReadFile(filepath.Join(dir, "pubsrv"))
	})
	if pubServer.err != nil {
		t.Skipf("cannot build the test server (no Go toolchain?): %v", pubServer.err)
	}
	rt := openTest(t)
	files := append(testutil.BusyboxFiles(t), testutil.File{Name: "bin/pubsrv", Mode: 0o755, Body: pubServer.bin})
	files = append(files, testutil.File{Name: "bin/ip", Type: tar.TypeSymlink, Linkname: "busybox"})
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"pubsrv", "80"}}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), "busybox:test", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	return rt
}

// dialPub connects to addr and returns what the server said (the client
// address it saw). ready: retry while the server is starting (refused).
func dialPub(addr string, ready bool) (string, error) {
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
		if err != nil {
			if ready && i < 200 && errors.Is(err, syscall.ECONNREFUSED) {
				time.Sleep(25 * time.Millisecond)
				continue
			}
			return "", err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		return string(b), err
	}
}

func dialPubUDP(addr string) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b := make([]byte, 64)
	for range 10 { // a datagram sent before the server listens is lost
		c.Write([]byte("hi"))
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(b)
		if err == nil {
			return string(b[:n]), nil
		}
	}
	return "", fmt.Errorf("udp %s: no answer", addr)
}

// ourRules lists the owners of rt's rules in hull's nftables table.
func ourRules(t *testing.T, rt *Runtime) []string {
	t.Helper()
	ctrs, brs, err := netsetup.Owners()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range append(ctrs, brs...) {
		if strings.HasPrefix(o, rt.ruleOwner("")) {
			out = append(out, o)
		}
	}
	return out
}

func findPort(ports []PortBinding, ctr uint16, proto, hostIP string) (PortBinding, bool) {
	i := slices.IndexFunc(ports, func(p PortBinding) bool {
		return p.ContainerPort == ctr && p.Proto == proto && p.HostIP == hostIP
	})
	if i < 0 {
		return PortBinding{}, false
	}
	return ports[i], true
}

func TestPublishReachableFromHost(t *testing.T) {
	rt := publishTest(t)
	ctx := t.Context()
	c := runBG(t, rt, nil, WithCmd("pubsrv", "80", "81"),
		WithPublish("18080:80"), WithPublish("81/udp"), WithPublish("127.0.0.1::80"), WithPublish("18090-18091:80-81"))
	in := inspect(t, c)
	ports := in.NetworkSettings.Ports
	if len(ports) != 5 {
		t.Fatalf("ports %+v, want 5", ports)
	}
	gw := in.NetworkSettings.Gateway
	if gw == "" {
		t.Fatalf("no gateway in %+v", in.NetworkSettings)
	}
	lo, hi := netsetup.EphemeralRange()
	udp, ok := findPort(ports, 81, "udp", "0.0.0.0")
	if !ok || udp.HostPort < lo || udp.HostPort > hi {
		t.Errorf("random udp port %+v not in %d-%d", udp, lo, hi)
	}
	loop, ok := findPort(ports, 80, "tcp", "127.0.0.1")
	if !ok || loop.HostPort < lo || loop.HostPort > hi || loop.HostPort == udp.HostPort {
		t.Errorf("random loopback port %+v", loop)
	}
	if p, _ := findPort(ports, 81, "tcp", "0.0.0.0"); p.HostPort != 18091 {
		t.Errorf("range: %+v", ports)
	}
	// 127.0.0.1 from the host: masqueraded to the gateway so replies return.
	if got, err := dialPub("127.0.0.1:18080", true); err != nil || got != gw {
		t.Errorf("127.0.0.1:18080: %q, %v (want client %s)", got, err, gw)
	}
	// The host's own bridge address keeps its source.
	if got, err := dialPub(net.JoinHostPort(gw, "18080"), false); err != nil || got != gw {
		t.Errorf("%s:18080: %q, %v", gw, got, err)
	}
	if got, err := dialPub(fmt.Sprintf("127.0.0.1:%d", loop.HostPort), false); err != nil || got != gw {
		t.Errorf("random port on 127.0.0.1: %q, %v", got, err)
	}
	// Bound to 127.0.0.1 only: not on the bridge address (nothing listens:
	// refused at once).
	if _, err := dialPub(fmt.Sprintf("%s:%d", gw, loop.HostPort), false); err == nil {
		t.Error("port published on 127.0.0.1 answers on the bridge address")
	}
	if got, err := dialPub("127.0.0.1:18091", false); err != nil || got != gw {
		t.Errorf("range 18091: %q, %v", got, err)
	}
	if got, err := dialPubUDP(fmt.Sprintf("127.0.0.1:%d", udp.HostPort)); err != nil || got != gw {
		t.Errorf("udp: %q, %v", got, err)
	}
	// A container reaches c's published port through the host (hairpin for
	// c itself).
	other := runBG(t, rt, nil, WithCmd("sleep", "60"))
	for _, cc := range []*Container{c, other} {
		code, out := netExec(t, cc, "pubsrv", "connect", net.JoinHostPort(gw, "18080"))
		if code != 0 || out != gw {
			t.Errorf("%s -> %s:18080: exit %d %q", cc.Name(), gw, code, out)
		}
	}
	if len(ourRules(t, rt)) == 0 {
		t.Fatal("no rules of ours while the container runs")
	}
	owner := rt.ruleOwner(c.ID())
	if err := c.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ourRules(t, rt), owner) {
		t.Error("port rules left after Remove")
	}
	if _, err := dialPub("127.0.0.1:18080", false); err == nil {
		t.Error("published port still answers after Remove")
	}
	if err := other.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	removeTestNetworks(t, rt)
	if left := ourRules(t, rt); len(left) != 0 {
		t.Errorf("rules left after the network is removed: %v", left)
	}
}

func TestPublishConflictsAndBadSpecs(t *testing.T) {
	rt := publishTest(t)
	ctx := t.Context()
	before, _ := rt.Containers(ctx, WithAllContainers())
	if _, err := rt.Create(ctx, "busybox:test", WithPublish("80:80:80")); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "80:80:80") {
		t.Errorf("bad spec: %v", err)
	}
	if after, _ := rt.Containers(ctx, WithAllContainers()); len(after) != len(before) {
		t.Errorf("a refused spec left a container")
	}
	a := runBG(t, rt, nil, WithPublish("18100:80"))
	if _, err := dialPub("127.0.0.1:18100", true); err != nil {
		t.Fatal(err)
	}
	// The same host port again: refused, and the refused container leaves
	// no rules (the first one keeps working).
	c, err := rt.Run(ctx, "busybox:test", WithPublish("127.0.0.1:18100:80"))
	if c != nil {
		defer c.Remove(ctx, WithForce())
	}
	if !errors.Is(err, ErrConflict) {
		t.Errorf("second publish of 18100: %v, want ErrConflict", err)
	}
	if c != nil && slices.Contains(ourRules(t, rt), rt.ruleOwner(c.ID())) {
		t.Error("the refused container has rules")
	}
	// A port a host process has bound is refused too.
	ln, err := net.Listen("tcp4", "127.0.0.1:18101")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if c, err := rt.Run(ctx, "busybox:test", WithPublish("18101:80")); !errors.Is(err, ErrConflict) {
		t.Errorf("port bound by the host: %v, want ErrConflict", err)
		if c != nil {
			c.Remove(ctx, WithForce())
		}
	}
	// A host range skips taken ports.
	b := runBG(t, rt, nil, WithPublish("18100-18102:80"))
	if p := inspect(t, b).NetworkSettings.Ports; len(p) != 1 || p[0].HostPort != 18102 {
		t.Errorf("range 18100-18102 with 18100 and 18101 taken: %+v", p)
	}
	if got, err := dialPub("127.0.0.1:18100", false); err != nil || got == "" {
		t.Errorf("first container after the refusals: %q, %v", got, err)
	}
	for _, c := range []*Container{a, b} {
		if err := c.Remove(ctx, WithForce()); err != nil {
			t.Fatal(err)
		}
	}
	removeTestNetworks(t, rt)
	if left := ourRules(t, rt); len(left) != 0 {
		t.Errorf("rules left: %v", left)
	}
}

// TestPublishNetworks: published ports of a user-defined network; other
// networks cannot reach its containers directly; an internal network has
// no way out; a network's rules go with it.
func TestPublishNetworks(t *testing.T) {
	rt := publishTest(t)
	ctx := t.Context()
	lan := newLAN(t)
	netA, err := rt.CreateNetwork(ctx, "puba", WithSubnet("10.91.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	netB, err := rt.CreateNetwork(ctx, "pubb", WithSubnet("10.92.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	netI, err := rt.CreateNetwork(ctx, "pubi", WithSubnet("10.93.0.0/24"), WithInternal())
	if err != nil {
		t.Fatal(err)
	}
	a := runBG(t, rt, nil, WithNetwork(netA), WithPublish("18200:80"))
	b := runBG(t, rt, nil, WithNetwork(netB))
	in := runBG(t, rt, nil, WithNetwork(netI), WithCapAdd("NET_ADMIN"))
	aIP := inspect(t, a).NetworkSettings.Networks["puba"].IPAddress
	bIP := inspect(t, b).NetworkSettings.Networks["pubb"].IPAddress
	if aIP == "" || bIP == "" {
		t.Fatalf("addresses %q %q", aIP, bIP)
	}
	if got, err := dialPub(net.JoinHostPort(aIP, "80"), true); err != nil {
		t.Fatalf("host -> a directly: %q, %v", got, err)
	}
	// Another machine reaches the published port with its own address.
	if got, err := lan.dial("18200"); err != nil || got != lanPeer.String() {
		t.Errorf("LAN -> published port: %q, %v", got, err)
	}
	// Outbound NAT: the LAN sees the host's address.
	if code, out := netExec(t, b, "pubsrv", "connect", net.JoinHostPort(lanPeer.String(), "80")); code != 0 || out != lanHost.String() {
		t.Errorf("b -> LAN: exit %d %q, want client %s", code, out, lanHost)
	}
	// Isolation: b cannot reach a directly, but can through the published
	// port like any other machine.
	if code, out := netExec(t, b, "pubsrv", "connect", net.JoinHostPort(aIP, "80")); code == 0 {
		t.Errorf("b reached a on another network: %q", out)
	}
	if code, out := netExec(t, b, "pubsrv", "connect", net.JoinHostPort(lanHost.String(), "18200")); code != 0 || out == "" {
		t.Errorf("b -> a's published port: exit %d %q", code, out)
	}
	// Internal: no default route, nothing out even given a route.
	if code, out := netExec(t, in, "ip", "route"); code != 0 || strings.Contains(out, "default") {
		t.Errorf("internal container routes: %q", out)
	}
	if code, out := netExec(t, in, "ip", "route", "add", "default", "via", "10.93.0.1"); code != 0 {
		t.Errorf("route add in the internal container: %s", out)
	}
	if code, out := netExec(t, in, "pubsrv", "connect", net.JoinHostPort(lanPeer.String(), "80")); code == 0 {
		t.Errorf("internal container reached the LAN: %q", out)
	}
	if code, out := netExec(t, in, "pubsrv", "connect", net.JoinHostPort(aIP, "80")); code == 0 {
		t.Errorf("internal container reached another network: %q", out)
	}
	// Rules go with the containers and networks.
	for _, c := range []*Container{a, b, in} {
		if err := c.Remove(ctx, WithForce()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*Network{netA, netB, netI} {
		if err := n.Remove(ctx); err != nil {
			t.Fatal(err)
		}
	}
	removeTestNetworks(t, rt)
	if left := ourRules(t, rt); len(left) != 0 {
		t.Errorf("rules left: %v", left)
	}
}

var (
	lanHost = netip.MustParseAddr("198.51.100.1") // TEST-NET-2: in no address pool
	lanPeer = netip.MustParseAddr("198.51.100.2")
)

// testLAN is another machine: a network namespace joined to the test's
// by a veth (lanHost here, lanPeer there), serving pubServerSource's
// protocol on port 80 from inside it.
type testLAN struct {
	t  *testing.T
	ns netns.NsHandle
}

func newLAN(t *testing.T) *testLAN {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	peer, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	func() {
		defer netns.Set(host)
		lo, _ := netlink.LinkByName("lo")
		netlink.LinkSetUp(lo)
		ln, err = net.Listen("tcp4", ":80")
	}()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); peer.Close() })
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
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hvtestlan"}, PeerName: "hvtestlanp"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(netlink.AddrAdd(veth, &netlink.Addr{IPNet: &net.IPNet{IP: lanHost.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
	must(netlink.LinkSetUp(veth))
	p, err := netlink.LinkByName("hvtestlanp")
	must(err)
	must(netlink.LinkSetNsFd(p, int(peer)))
	h, err := netlink.NewHandleAt(peer)
	must(err)
	defer h.Close()
	p, err = h.LinkByName("hvtestlanp")
	must(err)
	must(h.AddrAdd(p, &netlink.Addr{IPNet: &net.IPNet{IP: lanPeer.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
	must(h.LinkSetUp(p))
	return &testLAN{t: t, ns: peer}
}

// dial connects from the LAN machine to the host's port.
func (l *testLAN) dial(port string) (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, err := netns.Get()
	if err != nil {
		return "", err
	}
	defer host.Close()
	if err := netns.Set(l.ns); err != nil {
		return "", err
	}
	var c net.Conn
	c, err = net.DialTimeout("tcp4", net.JoinHostPort(lanHost.String(), port), 3*time.Second)
	if serr := netns.Set(host); serr != nil {
		panic(serr) // the thread must not go back to the pool in the wrong namespace
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestPublishOwnerKilled: a SIGKILLed owner's port rules are gone after
// the next Open.
func TestPublishOwnerKilled(t *testing.T) {
	rt := publishTest(t)
	ctx := t.Context()
	cmd, id, pid := startOwner(t, rt.Root(), "publish-owner")
	if got, err := dialPub("127.0.0.1:18300", true); err != nil || got == "" {
		t.Errorf("published port while the owner lives: %q, %v", got, err)
	}
	if !slices.Contains(ourRules(t, rt), rt.ruleOwner(id)) {
		t.Error("no rules while the owner lives")
	}
	killOwner(t, cmd, pid)
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if slices.Contains(ourRules(t, rt2), rt2.ruleOwner(id)) {
		t.Error("port rules of the dead owner's container left after Open")
	}
	if _, err := dialPub("127.0.0.1:18300", false); err == nil {
		t.Error("port still answers after recovery")
	}
}

// TestPublishKeptAcrossRestart: a container started again by another
// Runtime (another process: `hull start`) publishes the same ports.
func TestPublishKeptAcrossRestart(t *testing.T) {
	rt := publishTest(t)
	ctx := t.Context()
	c := runBG(t, rt, nil, WithPublish("18500:80"), WithDetached())
	if _, err := dialPub("127.0.0.1:18500", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if p := inspect(t, c).NetworkSettings.Ports; len(p) != 0 {
		t.Errorf("ports of a stopped container: %+v", p)
	}
	if slices.Contains(ourRules(t, rt), rt.ruleOwner(c.ID())) {
		t.Error("rules of a stopped container")
	}
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c2, err := rt2.Container(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(ctx, WithForce())
	if p := inspect(t, c2).NetworkSettings.Ports; len(p) != 1 || p[0].HostPort != 18500 {
		t.Errorf("ports after the restart: %+v", p)
	}
	if _, err := dialPub("127.0.0.1:18500", true); err != nil {
		t.Errorf("published port after the restart: %v", err)
	}
}

// TestPublishConcurrentRandomPorts: containers started at once, by two
// Runtimes on one root, never get the same random host port.
func TestPublishConcurrentRandomPorts(t *testing.T) {
	rt := publishTest(t)
	ctx := t.Context()
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	const n = 6
	ctrs := make([]*Container, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		r := rt
		if i%2 == 1 {
			r = rt2
		}
		wg.Go(func() { ctrs[i], errs[i] = r.Run(ctx, "busybox:test", WithPublish("80"), WithPublish("81/udp")) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, c := range ctrs {
		if c != nil {
			defer c.Remove(ctx, WithForce())
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for _, p := range inspect(t, c).NetworkSettings.Ports {
			k := fmt.Sprintf("%d/%s", p.HostPort, p.Proto)
			if seen[k] {
				t.Errorf("host port %s given twice", k)
			}
			seen[k] = true
			if p.Proto == "tcp" {
				ip := inspect(t, c).NetworkSettings.IPAddress
				if got, err := dialPub(fmt.Sprintf("127.0.0.1:%d", p.HostPort), true); err != nil || got == "" {
					t.Errorf("%s (%s): %q, %v", k, ip, got, err)
				}
			}
		}
	}
	if len(seen) != 2*n {
		t.Errorf("%d ports, want %d", len(seen), 2*n)
	}
}
