//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/netsetup"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/vishvananda/netlink"
)

// requirePrivateNetns skips tests that make bridges and rules unless they
// run in a network namespace of their own (scripts/test.sh: unshare --net),
// so that they never touch the host's network. A namespace with a default
// route is taken for the host's.
func requirePrivateNetns(t testing.TB) {
	t.Helper()
	requireRoot(t)
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Skipf("cannot list routes: %v", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			t.Skip("needs a private network namespace (this one has a default route): run inside `unshare --net` (scripts/test.sh)")
		}
	}
}

// removeTestNetworks removes every network of rt's root, the default one
// too, so that the tests of one run do not use up the address pools of
// their shared network namespace. openTest registers it.
func removeTestNetworks(t testing.TB, rt *Runtime) {
	t.Helper()
	recs, err := rt.readNetworks()
	if err != nil {
		t.Errorf("networks: %v", err)
		return
	}
	for _, r := range recs {
		if err := rt.removeNetwork(r.ID); err != nil {
			t.Errorf("remove network %s: %v", r.Name, err)
		}
	}
}

// netTest opens a runtime with a busybox image ("busybox:test") that also
// has nc, ip and ping, in a private network namespace.
func netTest(t *testing.T) *Runtime {
	t.Helper()
	requirePrivateNetns(t)
	rt := openTest(t)
	files := testutil.BusyboxFiles(t)
	for _, a := range []string{"nc", "ip", "ping"} {
		files = append(files, testutil.File{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), "busybox:test", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	return rt
}

// runBG runs a busybox command in the background; it is removed when the
// test ends.
func runBG(t *testing.T, rt *Runtime, out *syncBuffer, opts ...RunOption) *Container {
	t.Helper()
	if out != nil {
		opts = append([]RunOption{WithStdout(out), WithStderr(out)}, opts...)
	}
	c, err := rt.Run(t.Context(), "busybox:test", opts...)
	if c != nil {
		// Not t.Context(): it is cancelled before cleanups run.
		t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// netExec runs a command in c and returns its exit code and output.
func netExec(t *testing.T, c *Container, argv ...string) (int, string) {
	t.Helper()
	return execOut(t, c, argv)
}

func TestNetworkCreateInspectRemove(t *testing.T) {
	requirePrivateNetns(t)
	rt := openTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "front", WithSubnet("10.77.0.0/16"), WithGateway("10.77.0.254"),
		WithIPRange("10.77.5.0/24"), WithNetworkLabels(map[string]string{"team": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	in := inspect(t, n)
	if in.Name != "front" || in.ID != n.ID() || in.Driver != "bridge" || in.Internal || in.Labels["team"] != "a" {
		t.Errorf("inspect: %+v", in)
	}
	want := NetworkIPAMConfig{Subnet: "10.77.0.0/16", Gateway: "10.77.0.254", IPRange: "10.77.5.0/24"}
	if len(in.IPAM.Config) != 1 || in.IPAM.Config[0] != want {
		t.Errorf("IPAM config %+v, want %+v", in.IPAM.Config, want)
	}
	br, err := netlink.LinkByName("hull-" + n.ID()[:10])
	if err != nil {
		t.Fatalf("bridge: %v", err)
	}
	addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.77.0.254/16" {
		t.Errorf("bridge addresses %v", addrs)
	}
	for _, q := range []string{"front", n.ID(), n.ID()[:5]} {
		if got, err := rt.Network(ctx, q); err != nil || got.ID() != n.ID() {
			t.Errorf("Network(%q) = %v, %v", q, got, err)
		}
	}
	auto, err := rt.CreateNetwork(ctx, "back", WithInternal())
	if err != nil {
		t.Fatal(err)
	}
	if s := inspect(t, auto).IPAM.Config[0]; s.Subnet != "172.17.0.0/16" && !strings.HasPrefix(s.Subnet, "172.") {
		t.Errorf("default pool subnet %s", s.Subnet)
	}
	if !inspect(t, auto).Internal {
		t.Error("internal not recorded")
	}
	all, err := rt.Networks(ctx)
	if err != nil || len(all) != 2 || all[0].Name() != "back" || all[1].Name() != "front" {
		t.Errorf("Networks = %v, %v", all, err)
	}
	if err := n.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("hull-" + n.ID()[:10]); err == nil {
		t.Error("bridge left after Remove")
	}
	if _, err := rt.Network(ctx, "front"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after remove: %v", err)
	}
	if err := n.Remove(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	rep, err := rt.PruneNetworks(ctx)
	if pruned := rep.NetworksDeleted; err != nil || len(pruned) != 1 || pruned[0] != "back" {
		t.Errorf("prune = %v, %v", rep, err)
	}
}

func TestNetworkBadInput(t *testing.T) {
	requirePrivateNetns(t)
	rt := openTest(t)
	ctx := t.Context()
	if _, err := rt.CreateNetwork(ctx, "used", WithSubnet("10.78.0.0/16")); err != nil {
		t.Fatal(err)
	}
	before := rootListing(t, rt.Root())
	for _, tc := range []struct {
		name string
		opts []NetworkOption
		want error
	}{
		{"bad", []NetworkOption{WithSubnet("10.0.0.0")}, ErrInvalidArgument},
		{"bad", []NetworkOption{WithSubnet("10.0.0.1/8")}, ErrInvalidArgument},
		{"bad", []NetworkOption{WithSubnet("fd00::/64")}, ErrInvalidArgument},
		{"bad", []NetworkOption{WithSubnet("10.9.0.0/16"), WithGateway("10.10.0.1")}, ErrInvalidArgument},
		{"bad", []NetworkOption{WithSubnet("10.9.0.0/16"), WithIPRange("10.10.0.0/24")}, ErrInvalidArgument},
		{"bad", []NetworkOption{WithGateway("10.9.0.1")}, ErrInvalidArgument},
		{"bad", []NetworkOption{WithGateway("nope")}, ErrInvalidArgument},
		{"-bad", nil, ErrInvalidArgument},
		{"used", nil, ErrConflict},
		{"host", nil, ErrConflict},
		{"bridge", nil, ErrConflict},
		{"other", []NetworkOption{WithSubnet("10.78.128.0/17")}, ErrConflict},
	} {
		if _, err := rt.CreateNetwork(ctx, tc.name, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("CreateNetwork(%q): %v, want %v", tc.name, err, tc.want)
		}
	}
	if after := rootListing(t, rt.Root()); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("failed creates changed the root:\n%v\n%v", before, after)
	}
	if _, err := rt.Network(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Network(nope): %v", err)
	}
	for _, o := range []RunOption{WithNetworkMode("bogus"), WithNetworkMode("container:"), WithNetwork(nil)} {
		if err := o(&runConfig{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("run option: %v", err)
		}
	}
	if err := WithAlias("bad name")(&endpointConfig{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Alias: %v", err)
	}
	if err := WithIP("300.1.1.1")(&endpointConfig{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("IP: %v", err)
	}
}

func TestNetworkContainersReachEachOther(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "app", WithSubnet("10.80.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := rt.CreateNetwork(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	var srvOut syncBuffer
	// busybox nc -l quits as soon as its stdin ends, even before it reads
	// a connection's data: its stdin is a FIFO it holds open itself.
	srv := runBG(t, rt, &srvOut, WithNetwork(n, WithAlias("db"), WithIP("10.80.0.50")),
		WithCmd("sh", "-c", "mkfifo /in && exec nc -l -p 7000 0<>/in"))
	in := inspect(t, srv)
	ns := in.NetworkSettings
	ep := ns.Networks["app"]
	if ep.IPAddress != "10.80.0.50" || ep.IPPrefixLen != 24 || ep.Gateway != "10.80.0.1" ||
		ep.MacAddress != "02:42:0a:50:00:32" || ep.NetworkID != n.ID() || in.HostConfig.NetworkMode != NetworkModeBridge || ns.IPAddress != "10.80.0.50" {
		t.Errorf("network settings %+v", ns)
	}
	if c, ok := inspect(t, n).Containers[srv.ID()]; !ok || c.IPv4Address != "10.80.0.50/24" || c.Name != srv.Name() {
		t.Errorf("network's containers %+v", inspect(t, n).Containers)
	}
	if code, out := netExec(t, srv, "cat", "/etc/hosts"); code != 0 || !strings.Contains(out, "10.80.0.50\t"+srv.ID()[:12]) {
		t.Errorf("/etc/hosts: %q", out)
	}
	// The server's own write (its FIFO in its upper dir) before the
	// listing: only the failed creates may not change the root.
	for i := 0; i < 200; i++ {
		if code, _ := netExec(t, srv, "test", "-p", "/in"); code == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := rootListing(t, rt.Root())
	if _, err := rt.Create(ctx, "busybox:test", WithNetwork(n, WithIP("10.80.0.50"))); !errors.Is(err, ErrConflict) {
		t.Errorf("an address in use: %v", err)
	}
	if _, err := rt.Create(ctx, "busybox:test", WithNetwork(n, WithIP("10.81.0.50"))); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("an address outside the subnet: %v", err)
	}
	if after := rootListing(t, rt.Root()); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("failed creates changed the root:\n%v\n%v", before, after)
	}
	// A container on another network cannot reach it (NFT's isolation).
	st, out, _ := run(t, rt, WithNetwork(other), WithCmd("sh", "-c", "echo nope | nc -w 2 10.80.0.50 7000"))
	if st.ExitCode == 0 {
		t.Errorf("a container on another network reached the server: %s", out)
	}
	// A container on the same network can.
	st, out, err = run(t, rt, WithNetwork(n), WithCmd("sh", "-c", "ping -c1 -W2 10.80.0.1 >/dev/null && echo hello | nc -w 2 10.80.0.50 7000"))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("client: %v %+v %s", err, st, out)
	}
	if _, err := srv.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(srvOut.String(), "hello") || strings.Contains(srvOut.String(), "nope") {
		t.Errorf("server got %q", srvOut.String())
	}
	if in := inspect(t, srv).NetworkSettings.Networks["app"]; in.IPAddress != "" {
		t.Errorf("exited container still has an address: %+v", in)
	}
	if err := n.Remove(ctx); err != nil {
		t.Errorf("remove with only exited containers: %v", err)
	}
}

func TestNetworkModes(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	_, out, err := run(t, rt, WithNetworkMode("none"), WithCmd("ls", "/sys/class/net"))
	if err != nil || strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 1 {
		t.Errorf("none: %q %v", out, err)
	}
	// Default: the default network, eth0 with a default route.
	_, out, err = run(t, rt, WithCmd("ip", "route"))
	if err != nil || !strings.Contains(out, "default via 172.") || !strings.Contains(out, "eth0") {
		t.Errorf("default network: %q %v", out, err)
	}
	def, err := rt.Network(ctx, "bridge")
	if err != nil {
		t.Fatal(err)
	}
	if err := def.Remove(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("removing the default network: %v", err)
	}
	// host: the bridges of this namespace are visible.
	bridge := inspect(t, def).Options["com.docker.network.bridge.name"]
	_, out, err = run(t, rt, WithNetworkMode("host"), WithCmd("ls", "/sys/class/net"))
	if err != nil || !strings.Contains(out, bridge) {
		t.Errorf("host: %q (want %s) %v", out, bridge, err)
	}
	// container:<name>: the same interfaces as the other container.
	first := runBG(t, rt, nil, WithName("first"), WithCmd("sleep", "60"))
	mac := inspect(t, first).NetworkSettings.MacAddress
	st, out, err := run(t, rt, WithNetworkMode("container:first"), WithCmd("cat", "/sys/class/net/eth0/address"))
	if err != nil || st.ExitCode != 0 || strings.TrimSpace(out) != mac {
		t.Errorf("container mode: %q (want %s) %v", out, mac, err)
	}
	if _, err := rt.Create(ctx, "busybox:test", WithNetworkMode("container:nosuch")); !errors.Is(err, ErrNotFound) {
		t.Errorf("container:nosuch: %v", err)
	}
	n, err := rt.CreateNetwork(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Create(ctx, "busybox:test", WithNetworkMode("none"), WithNetwork(n)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("none + network: %v", err)
	}
	if _, err := rt.Create(ctx, "busybox:test", WithNetwork(def, WithIP("172.17.0.9"))); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("fixed IP on the default network: %v", err)
	}
}

func TestNetworkConnectDisconnect(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	a, err := rt.CreateNetwork(ctx, "a", WithSubnet("10.81.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.CreateNetwork(ctx, "b", WithSubnet("10.82.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	c := runBG(t, rt, nil, WithNetwork(a), WithCmd("sleep", "60"))
	peer := runBG(t, rt, nil, WithNetwork(b, WithIP("10.82.0.9")), WithCmd("sleep", "60"))
	if err := b.Connect(ctx, c, WithAlias("web"), WithIP("10.82.0.10")); err != nil {
		t.Fatal(err)
	}
	if code, out := netExec(t, c, "ip", "-4", "addr", "show", "eth1"); code != 0 || !strings.Contains(out, "10.82.0.10/24") {
		t.Errorf("eth1 after connect: %d %q", code, out)
	}
	if code, out := netExec(t, c, "ping", "-c1", "-W2", "10.82.0.9"); code != 0 {
		t.Errorf("ping peer over the connected network: %q", out)
	}
	if eps := inspect(t, c).NetworkSettings.Networks; len(eps) != 2 || eps["b"].IPAddress != "10.82.0.10" || eps["b"].Aliases[0] != "web" {
		t.Errorf("networks after connect %+v", eps)
	}
	if err := b.Connect(ctx, c); !errors.Is(err, ErrConflict) {
		t.Errorf("second connect: %v", err)
	}
	if err := b.Remove(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("remove while attached: %v", err)
	}
	if err := b.Disconnect(ctx, c); err != nil {
		t.Fatal(err)
	}
	if code, out := netExec(t, c, "ls", "/sys/class/net"); code != 0 || strings.Contains(out, "eth1") || !strings.Contains(out, "eth0") {
		t.Errorf("interfaces after disconnect: %q", out)
	}
	if err := b.Disconnect(ctx, c); !errors.Is(err, ErrNotFound) {
		t.Errorf("second disconnect: %v", err)
	}
	if _, ok := inspect(t, b).Containers[c.ID()]; ok {
		t.Error("network still lists the disconnected container")
	}
	// The address is free again.
	if err := b.Connect(ctx, peer, WithIP("10.82.0.10")); !errors.Is(err, ErrConflict) {
		t.Errorf("connect an attached container again: %v", err)
	}
	if err := peer.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx); err != nil {
		t.Errorf("remove after the last container left: %v", err)
	}
}

func TestNetworkIPAMSharedByRuntimes(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "shared", WithSubnet("10.83.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	c1 := runBG(t, rt, nil, WithNetwork(n), WithCmd("sleep", "60"))
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	n2, err := rt2.Network(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	c2 := runBG(t, rt2, nil, WithNetwork(n2), WithCmd("sleep", "60"))
	ip1 := inspect(t, c1).NetworkSettings.IPAddress
	ip2 := inspect(t, c2).NetworkSettings.IPAddress
	if ip1 == "" || ip1 == ip2 {
		t.Errorf("addresses %q and %q", ip1, ip2)
	}
	if got := inspect(t, n2).Containers; len(got) != 2 {
		t.Errorf("containers seen by the second runtime: %+v", got)
	}
	if code, out := netExec(t, c2, "ping", "-c1", "-W2", ip1); code != 0 {
		t.Errorf("ping across runtimes: %q", out)
	}
}

// TestNetworkOwnerKilled: a process with a container on a network is
// SIGKILLed; the next Open leaves no veth and no address behind.
func TestNetworkOwnerKilled(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "crash", WithSubnet("10.84.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, id, pid := startOwner(t, rt.Root(), "net-owner")
	if _, err := netlink.LinkByName(netsetup.HostVeth(id, "eth0")); err != nil {
		t.Errorf("no host veth while the container runs: %v", err)
	}
	killOwner(t, cmd, pid)
	if tb, err := dns.Open(rt.namesPath()); err == nil {
		recs, _ := tb.Records()
		tb.Close()
		if len(recs) != 1 || recs[0].Container != id {
			t.Errorf("names of the running container: %+v", recs)
		}
	} else {
		t.Fatal(err)
	}
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	for _, ifName := range []string{"eth0", "eth1"} {
		if _, err := netlink.LinkByName(netsetup.HostVeth(id, ifName)); err == nil {
			t.Errorf("veth %s left after recovery", netsetup.HostVeth(id, ifName))
		}
	}
	for _, net := range []string{"crash", "bridge"} {
		rec, err := rt2.Network(ctx, net)
		if err != nil {
			t.Fatal(err)
		}
		ipam, err := netsetup.OpenIPAM(filepath.Join(rt2.networkDir(rec.ID()), "ipam.json"))
		if err != nil {
			t.Fatal(err)
		}
		if addrs, _, _ := ipam.Allocations(); len(addrs) != 0 {
			t.Errorf("network %s: addresses left: %v", net, addrs)
		}
	}
	tb, err := dns.Open(rt2.namesPath())
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if recs, err := tb.Records(); err != nil || len(recs) != 0 {
		t.Errorf("names left after recovery: %+v %v", recs, err)
	}
	if err := n.Remove(ctx); err != nil {
		t.Errorf("remove after recovery: %v", err)
	}
}

// TestNetworkDefaultBridgeLifecycle: the default network's bridge goes
// away when the last Runtime using it closes and comes back on next use;
// a restarted container gets an address again.
func TestNetworkDefaultBridgeLifecycle(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	c := runBG(t, rt, nil, WithCmd("sleep", "60"))
	def, err := rt.Network(ctx, DefaultNetworkName)
	if err != nil {
		t.Fatal(err)
	}
	bridge := inspect(t, def).Options["com.docker.network.bridge.name"]
	if !ownBridge(&def.rec) {
		t.Fatalf("bridge %s missing or not marked as ours", bridge)
	}
	if err := c.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if ip := inspect(t, c).NetworkSettings.IPAddress; ip != "" {
		t.Errorf("stopped container has address %s", ip)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ip := inspect(t, c).NetworkSettings.IPAddress
	if code, out := netExec(t, c, "ip", "-4", "addr", "show", "eth0"); code != 0 || ip == "" || !strings.Contains(out, ip+"/") {
		t.Errorf("after restart: address %q, eth0: %q", ip, out)
	}
	if code, out := netExec(t, c, "ping", "-c1", "-W2", inspect(t, def).IPAM.Config[0].Gateway); code != 0 {
		t.Errorf("ping the gateway after restart: %q", out)
	}
	if err := c.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(bridge); err == nil {
		t.Errorf("bridge %s left after the last Runtime closed", bridge)
	}
	c2 := runBG(t, rt, nil, WithCmd("sleep", "60"))
	def2, err := rt.Network(ctx, DefaultNetworkName)
	if err != nil || def2.ID() != def.ID() || !ownBridge(&def2.rec) {
		t.Errorf("default network after its bridge came back: %v %v", def2, err)
	}
	if inspect(t, c2).NetworkSettings.IPAddress == "" {
		t.Error("no address on the re-made default network")
	}
}

// TestNetworkConcurrentAttach: containers started at once on one network
// get distinct addresses; a container connected while stopped is
// attached when it starts; an internal network gives no default route.
func TestNetworkConcurrentAttach(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "busy", WithSubnet("10.85.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	const count = 6
	ctrs := make([]*Container, count)
	errs := make(chan error, count)
	for i := range count {
		go func() {
			c, err := rt.Run(ctx, "busybox:test", WithNetwork(n), WithCmd("sleep", "60"))
			if c != nil {
				ctrs[i] = c
				t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
			}
			errs <- err
		}()
	}
	for range count {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, c := range ctrs {
		ip := inspect(t, c).NetworkSettings.IPAddress
		if ip == "" || seen[ip] {
			t.Errorf("address %q given twice or missing", ip)
		}
		seen[ip] = true
	}
	if got := len(inspect(t, n).Containers); got != count {
		t.Errorf("network lists %d containers, want %d", got, count)
	}

	internal, err := rt.CreateNetwork(ctx, "closed", WithInternal())
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Create(ctx, "busybox:test", WithNetwork(n), WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := internal.Connect(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	code, out := netExec(t, c, "sh", "-c", "ls /sys/class/net; ip route")
	if code != 0 || !strings.Contains(out, "eth1") || strings.Count(out, "default via") != 1 || !strings.Contains(out, "default via 10.85.0.1 dev eth0") {
		t.Errorf("after connecting while stopped: %q", out)
	}
	only, err := rt.Run(ctx, "busybox:test", WithNetwork(internal), WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { only.Remove(context.Background(), WithForce()) })
	if code, out := netExec(t, only, "ip", "route"); code != 0 || strings.Contains(out, "default") {
		t.Errorf("internal network routes: %q", out)
	}
}

// TestDefaultBridgeNameReused: once a root's default bridge is gone its
// device name goes to the next root that needs one; removing the first
// root's default network then must not delete the second root's bridge
// (which stranded that root's rules: found by scripts/leakcheck.sh).
func TestDefaultBridgeNameReused(t *testing.T) {
	requirePrivateNetns(t)
	a, b := openTest(t), openTest(t)
	recA, err := a.defaultNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.closeNetworks(); err != nil { // as a's Close with no container
		t.Fatal(err)
	}
	recB, err := b.defaultNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if recB.Bridge != recA.Bridge {
		t.Skipf("the second root got %s, not the freed %s: nothing to check", recB.Bridge, recA.Bridge)
	}
	if err := a.removeNetwork(recA.ID); err != nil {
		t.Fatal(err)
	}
	if !ownBridge(recB) {
		t.Fatalf("removing root a's default network deleted root b's bridge %s", recB.Bridge)
	}
	_, bridges, err := netsetup.Owners()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(bridges, b.ruleOwner(recB.Bridge)) {
		t.Errorf("root b's rules for %s are gone: %v", recB.Bridge, bridges)
	}
	if slices.Contains(bridges, a.ruleOwner(recA.Bridge)) {
		t.Errorf("root a's rules for %s are left: %v", recA.Bridge, bridges)
	}
}
