package hull

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Hull's networks on a host where Docker runs: Docker's iptables backend
// sets the filter table's FORWARD policy to DROP, and br_netfilter sends
// bridged frames through it too. These tests set that up (by hand with
// each iptables backend, and once with a real dockerd) in a network
// namespace of their own: the DROP would break every other test's
// traffic in the suite's shared namespace. So each runs again as a child
// process (ownNetns) in new network and mount namespaces.

// ownNetns runs the calling test again in a child process, in new
// network and mount namespaces, and reports true in the parent (which
// returns: the child's result is its result) and false in the child,
// which runs the test's body.
func ownNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("HULL_TEST_OWN_NETNS") == t.Name() {
		if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo"}}); err != nil {
			t.Fatal(err)
		}
		return false
	}
	requirePrivateNetns(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux) to run in a network namespace of its own")
	}
	cmd := exec.CommandContext(t.Context(), unshare, "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "HULL_TEST_OWN_NETNS="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test, in its own network namespace: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("in its own network namespace:\n%s", out)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		var why []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, " ") {
				why = append(why, strings.TrimSpace(l))
			}
		}
		t.Skip(strings.Join(why, "\n"))
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the child test did not pass")
	}
	return true
}

// bridgeNfCall turns on net.bridge.bridge-nf-call-iptables in this
// network namespace, loading br_netfilter if needed (its sysctls are per
// namespace, and ours is the test's own), or skips t.
func bridgeNfCall(t *testing.T) {
	t.Helper()
	const path = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(path); err != nil {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			t.Skipf("no br_netfilter (%s missing) and modprobe br_netfilter failed: %v: %s", path, err, out)
		}
	}
	if err := os.WriteFile(path, []byte("1"), 0); err != nil {
		t.Skipf("cannot set bridge-nf-call-iptables: %v", err)
	}
}

// dockerIptables reproduces what Docker's iptables backend does to the
// filter table, with bin (iptables-nft or iptables-legacy): FORWARD
// policy DROP and a DOCKER-USER chain, jumped to first, ending in RETURN.
func dockerIptables(t *testing.T, bin string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("%s is not installed", bin)
	}
	for i, args := range [][]string{
		{"-P", "FORWARD", "DROP"}, {"-N", "DOCKER-USER"}, {"-A", "DOCKER-USER", "-j", "RETURN"},
		{"-I", "FORWARD", "-j", "DOCKER-USER"},
	} {
		if out, err := exec.Command(bin, append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
			if i == 0 {
				t.Skipf("%s cannot change the filter table here: %v: %s", bin, err, out)
			}
			t.Fatalf("%s %v: %v: %s", bin, args, err, out)
		}
	}
}

func TestNetworkDockerFirewallNft(t *testing.T) {
	if ownNetns(t) {
		return
	}
	dockerIptables(t, "iptables-nft")
	dockerFirewall(t, "iptables-nft")
}

func TestNetworkDockerFirewallLegacy(t *testing.T) {
	if ownNetns(t) {
		return
	}
	dockerIptables(t, "iptables-legacy")
	dockerFirewall(t, "iptables-legacy")
}

// TestNetworkDockerFirewallDockerd: a real dockerd, started first in the
// test's own namespace, sets FORWARD's policy to DROP as it does on a
// host (it enables forwarding); hull's networks still work.
func TestNetworkDockerFirewallDockerd(t *testing.T) {
	if ownNetns(t) {
		return
	}
	bin := startTestDockerd(t)
	dockerFirewall(t, bin)
}

// outsideNetns makes a veth pair from this namespace (10.99.0.1/24) to a
// new one (10.99.0.2/24), "a machine outside", and returns that
// namespace, closed when the test ends.
func outsideNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fwout0"}, PeerName: "fwout1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	out, err := netns.New() // the thread is now in it
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		panic(err) // the thread must not go back to the pool in another namespace
	}
	t.Cleanup(func() { out.Close() })
	peer, err := netlink.LinkByName("fwout1")
	if err == nil {
		err = netlink.LinkSetNsFd(peer, int(out))
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(out)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, step := range []func() error{
		func() error { return addrUp(netlink.AddrAdd, netlink.LinkSetUp, "fwout0", "10.99.0.1/24") },
		func() error { return addrUp(h.AddrAdd, h.LinkSetUp, "fwout1", "10.99.0.2/24") },
		func() error { return h.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo"}}) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// addrUp gives the link name the address cidr and brings it up, with
// the calls of one namespace's handle.
func addrUp(addAddr func(netlink.Link, *netlink.Addr) error, up func(netlink.Link) error, name, cidr string) error {
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := addAddr(l, a); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return up(l)
}

// inNetns runs fn on a thread in ns; sockets fn makes live there.
func inNetns(t *testing.T, ns netns.NsHandle, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err)
		}
	}()
	fn()
}

// dialOutside connects from the outside namespace to addr, sends msg and
// returns what comes back before the other end closes.
func dialOutside(t *testing.T, out netns.NsHandle, addr, msg string) (string, error) {
	t.Helper()
	var c net.Conn
	var err error
	inNetns(t, out, func() { c, err = net.DialTimeout("tcp", addr, 3*time.Second) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

// foreignRules lists the lines of `bin -S` (all chains) naming bridge.
func foreignRules(t *testing.T, bin, bridge string) []string {
	t.Helper()
	out, err := exec.Command(bin, "-w", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -S: %v: %s", bin, err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "hull br") && (bridge == "" || strings.Contains(l, bridge)) {
			lines = append(lines, l)
		}
	}
	return lines
}

// dropForeignRules deletes, behind hull's back, its rules for bridge in
// the filter table of bin's backend.
func dropForeignRules(t *testing.T, bin, bridge string) {
	t.Helper()
	if bin == "iptables-legacy" {
		for _, l := range foreignRules(t, bin, bridge) {
			// -A CHAIN -i BR -m comment --comment "hull br OWNER" -j ACCEPT
			pre, post, _ := strings.Cut(l, `--comment "`)
			comment, rest, _ := strings.Cut(post, `" `)
			argv := append(append(strings.Fields(pre), "--comment", comment), strings.Fields(rest)...)
			argv[0] = "-D"
			if out, err := exec.Command(bin, append([]string{"-w"}, argv...)...).CombinedOutput(); err != nil {
				t.Fatalf("%s %v: %v: %s", bin, argv, err, out)
			}
		}
		return
	}
	out, err := exec.Command("nft", "-a", "list", "table", "ip", "filter").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	chain := ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "chain" {
			chain = f[1]
		}
		if strings.Contains(l, `"`+bridge+`"`) && strings.Contains(l, "hull br") {
			handle := f[len(f)-1]
			if out, err := exec.Command("nft", "delete", "rule", "ip", "filter", chain, "handle", handle).CombinedOutput(); err != nil {
				t.Fatalf("nft delete rule: %v: %s", err, out)
			}
		}
	}
}

// dockerFirewall checks hull's networks where the filter table of bin's
// backend drops forwarded traffic (Docker's rules are in place): two
// containers of a network talk TCP by name (bridged, through iptables
// with br_netfilter), a container reaches a machine outside, and that
// machine a published port; Inspect and the create event say what was
// added to the firewall. With those rules deleted behind hull's back, the
// same connection fails (so the test can fail), and Inspect warns.
// Removing the networks leaves no rule of hull's there.
func dockerFirewall(t *testing.T, bin string) {
	bridgeNfCall(t)
	out := outsideNetns(t)
	rt := netTest(t)
	ctx := t.Context()
	evs := events(t, rt, WithEventsFilter("type", string(EventNetwork)))
	n, err := rt.CreateNetwork(ctx, "fw")
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.CreateNetwork(ctx, "fw2")
	if err != nil {
		t.Fatal(err)
	}
	br := n.rec.Bridge
	opts := inspect(t, n).Options
	if fw := opts[NetworkOptionFirewall]; !strings.Contains(fw, bin+": -A DOCKER-USER -i "+br) ||
		!strings.Contains(fw, bin+": -A DOCKER-USER -o "+br) || opts[NetworkOptionFirewallWarning] != "" {
		t.Errorf("Inspect's Options %q: want the two rules added to DOCKER-USER", opts)
	}
	if ev := nextEvents(t, evs, 1)[0]; ev.Action != "create" || ev.ID != n.ID() || ev.Attributes["name"] != "fw" ||
		!strings.Contains(ev.Attributes[NetworkOptionFirewall], "-i "+br) {
		t.Errorf("create event %+v", ev)
	}
	if rules := foreignRules(t, bin, br); len(rules) != 2 {
		t.Errorf("%s -S: want 2 rules of %s: %q", bin, br, rules)
	}

	var srvOut syncBuffer
	// One connection after another (nc -l ends with each); its stdin is
	// a FIFO it holds open itself (nc quits when stdin ends).
	srv := runBG(t, rt, &srvOut, WithNetwork(n, WithAlias("db")), WithPublish("8080:7000"),
		WithCmd("sh", "-c", "mkfifo /in; while true; do nc -l -p 7000 0<>/in; done"))
	client := runBG(t, rt, nil, WithNetwork(n), WithCmd("sleep", "600"))
	talk := func() (int, string) {
		return netExec(t, client, "sh", "-c", "echo hello | nc -w 3 db 7000")
	}
	var code int
	var msg string
	for range 50 { // until the server listens (refused before); a drop times out
		if code, msg = talk(); code == 0 || strings.Contains(msg, "timed out") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 100 && code == 0 && !strings.Contains(srvOut.String(), "hello"); i++ {
		time.Sleep(20 * time.Millisecond) // the server's output is copied on its own time
	}
	if code != 0 || !strings.Contains(srvOut.String(), "hello") {
		t.Fatalf("a container could not reach another of its network by name: %d %s; server got %q", code, msg, srvOut.String())
	}
	// The outside, and a published port from outside.
	var ln net.Listener
	inNetns(t, out, func() { ln, err = net.Listen("tcp", "10.99.0.2:7100") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	if code, msg := netExec(t, client, "sh", "-c", "echo out | nc -w 3 10.99.0.2 7100"); code != 0 {
		t.Errorf("a container could not reach the outside: %d %s", code, msg)
	}
	if s := <-got; s != "out\n" {
		t.Errorf("the outside got %q", s)
	}
	for i := 0; ; i++ { // the server's nc may be between two connections
		_, err := dialOutside(t, out, "10.99.0.1:8080", "from-outside\n")
		if err == nil {
			break
		}
		if i == 20 {
			x, _ := exec.Command("nft", "list", "ruleset").CombinedOutput()
			t.Errorf("the outside could not reach a published port: %v\n%s", err, x)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 50 && !strings.Contains(srvOut.String(), "from-outside"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(srvOut.String(), "from-outside") {
		t.Errorf("the server got %q, not the outside's message", srvOut.String())
	}

	// Without hull's rules there, Docker's drop wins.
	dropForeignRules(t, bin, br)
	if rules := foreignRules(t, bin, br); len(rules) != 0 {
		t.Fatalf("rules left after deleting them: %q", rules)
	}
	if w := inspect(t, n).Options[NetworkOptionFirewallWarning]; !strings.Contains(w, "missing") {
		t.Errorf("Inspect does not warn that the rules are missing: %q", w)
	}
	if code, msg := talk(); code == 0 {
		t.Errorf("the connection passed without hull's rules (the test cannot fail): %s", msg)
	}
	if bin != "iptables-legacy" {
		// A container attached now puts them back (Bridge.Ensure).
		runBG(t, rt, nil, WithNetwork(n), WithCmd("true"))
		if rules := foreignRules(t, bin, br); len(rules) != 2 {
			t.Errorf("after an attach: want 2 rules of %s: %q", br, rules)
		}
	}
	for _, c := range []*Container{client, srv} {
		if err := c.Remove(ctx, WithForce()); err != nil {
			t.Fatal(err)
		}
	}
	for _, nw := range []*Network{n, m} {
		if err := nw.Remove(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rules := foreignRules(t, bin, ""); len(rules) != 0 {
		t.Errorf("rules left after the networks were removed: %q", rules)
	}
	if ev := nextEvents(t, evs, 3); ev[1].Action != "destroy" || ev[1].ID != n.ID() {
		t.Errorf("events %+v: want create fw2, destroy fw, destroy fw2", ev)
	}
}

// startTestDockerd starts dockerd in this (the test's own) network and
// mount namespaces, with every state of its own in a temporary
// directory and a tmpfs on /run (it and the containerd it starts write
// there whatever their flags), waits until it has set up its firewall,
// and returns the iptables backend it used. It is stopped when the test
// ends.
func startTestDockerd(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed (scripts/setup.sh installs docker.io)")
	}
	if os.Getenv("HULL_TEST_OWN_NETNS") != t.Name() {
		t.Fatal("startTestDockerd outside ownNetns's child: its tmpfs on /run would hide the host's")
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		t.Skipf("tmpfs on /run: %v", err)
	}
	t.Cleanup(func() { unix.Unmount("/run", unix.MNT_DETACH) })
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "{%q: %q}\n", "deprecated-key-path", filepath.Join(dir, "key.json")), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	sock := "unix://" + filepath.Join(dir, "docker.sock")
	cmd := exec.Command("dockerd", "--config-file", conf, "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", sock, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited := make(chan error, 1)
	started := make(chan error)
	go func() {
		// Pdeathsig follows the thread that started it: keep that one.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	logText := func() string { b, _ := os.ReadFile(log.Name()); return string(b) }
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("dockerd ignored SIGTERM for 30s")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, bin := range []string{"iptables-nft", "iptables-legacy"} {
			out, err := exec.Command(bin, "-w", "-S", "FORWARD").Output()
			if err == nil && strings.Contains(string(out), "-P FORWARD DROP") && strings.Contains(string(out), "-j DOCKER-USER") {
				if _, err := os.Stat(strings.TrimPrefix(sock, "unix://")); err == nil {
					return bin
				}
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("dockerd exited (%v):\n%s", err, logText())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd set no FORWARD DROP and DOCKER-USER in 60s:\n%s", logText())
		}
	}
}
