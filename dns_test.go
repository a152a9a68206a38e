//go:build linux

package hull

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// probeSource is a static Go program for the DNS tests: Debian's busybox
// is linked against glibc and its name lookups crash without glibc's NSS
// in the image. With CGO_ENABLED=0 it uses Go's own resolver, which reads
// the container's /etc/resolv.conf.
const probeSource = `package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	switch os.Args[1] {
	case "lookup": // one line per name: name=ip,ip | name=NOTFOUND | name=ERR:...
		for _, name := range os.Args[2:] {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			addrs, err := net.DefaultResolver.LookupHost(ctx, name)
			cancel()
			var de *net.DNSError
			switch {
			case errors.As(err, &de) && de.IsNotFound:
				fmt.Printf("%s=NOTFOUND\n", name)
			case err != nil:
				fmt.Printf("%s=ERR:%v\n", name, err)
			default:
				fmt.Printf("%s=%s\n", name, joinAddrs(addrs))
			}
		}
	case "hammer": // hammer N name: N lookups, prints how many succeeded
		n, ok := 0, 0
		fmt.Sscan(os.Args[2], &n)
		for range n {
			if _, err := net.DefaultResolver.LookupHost(context.Background(), os.Args[3]); err == nil {
				ok++
			}
		}
		fmt.Println(ok)
	case "connect": // prints what the server at host:port says
		c, err := net.DialTimeout("tcp", os.Args[2], 10*time.Second)
		if err != nil {
			fmt.Println("ERR:", err)
			os.Exit(1)
		}
		io.Copy(os.Stdout, c)
	case "serve": // answers each connection on port with its hostname
		ln, err := net.Listen("tcp", ":"+os.Args[2])
		if err != nil {
			fmt.Println("ERR:", err)
			os.Exit(1)
		}
		h, _ := os.Hostname()
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			fmt.Fprintf(c, "hello from %s\n", h)
			c.Close()
		}
	}
}

func joinAddrs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return s
}
`

// dnsTest is netTest with the probe in the image ("busybox:test" has
// bin/probe).
func dnsTest(t *testing.T) *Runtime {
	t.Helper()
	requirePrivateNetns(t)
	rt := openTest(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", "probe", "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build the probe (no Go toolchain?): %v\n%s", err, out)
	}
	probe, err := os.ReadFile(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	files := append(testutil.BusyboxFiles(t), testutil.File{Name: "bin/probe", Mode: 0o755, Body: probe})
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), "busybox:test", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	return rt
}

// lookups runs the probe's lookup in c and returns name -> answer.
func lookups(t *testing.T, c *Container, names ...string) map[string]string {
	t.Helper()
	code, out := execOut(t, c, append([]string{"probe", "lookup"}, names...))
	if code != 0 {
		t.Fatalf("probe lookup in %s: exit %d: %s", c.Name(), code, out)
	}
	res := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			res[k] = v
		}
	}
	return res
}

// startUpstream serves upstream.example. (192.0.2.1) and NXDOMAIN for
// anything else on ip:53, udp and tcp, in the test's network namespace:
// the upstream resolver a container's WithDNS points at.
func startUpstream(t *testing.T, ip string) {
	t.Helper()
	srvTable, err := dns.Open(filepath.Join(t.TempDir(), "names"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srvTable.Set(dns.Record{Network: "up", Container: "up", Names: []string{"upstream.example"}, IP: netip.MustParseAddr("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	// The bridge may not have its address yet: bind anyway.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	addr := net.JoinHostPort(ip, "53")
	pc, err := lc.ListenPacket(t.Context(), "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lc.Listen(t.Context(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = (&dns.Server{Table: srvTable, Self: "up"}).Serve(ctx, []net.PacketConn{pc}, []net.Listener{ln})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srvTable.Close()
	})
}

// TestNetworkDNS: containers on a user-defined network resolve each other
// by name, alias and short ID, and connect by name; a container on
// another network does not resolve them; other names go to the upstream
// (WithDNS); a Detached container keeps resolving after the process that
// created it has exited; the names are gone once the containers are.
func TestNetworkDNS(t *testing.T) {
	if root := os.Getenv("HULL_TEST_DNS_ROOT"); root != "" {
		dnsDetachHelper(t, root)
		return
	}
	rt := dnsTest(t)
	ctx := t.Context()
	t.Cleanup(func() {
		// Runs after the containers' removal (cleanups are LIFO).
		tb, err := dns.Open(rt.namesPath())
		if err != nil {
			t.Errorf("name table: %v", err)
			return
		}
		defer tb.Close()
		if recs, err := tb.Records(); err != nil || len(recs) != 0 {
			t.Errorf("names left after the containers are gone: %+v %v", recs, err)
		}
	})
	n1, err := rt.CreateNetwork(ctx, "dns1", WithSubnet("10.81.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	n2, err := rt.CreateNetwork(ctx, "dns2", WithSubnet("10.82.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	startUpstream(t, "10.81.0.1")

	web := runDNS(t, rt, WithName("web"), WithNetwork(n1, WithAlias("www", "Front")), WithCmd("probe", "serve", "8080"))
	webIP := inspect(t, web).NetworkSettings.Networks["dns1"].IPAddress
	client := runDNS(t, rt, WithName("client"), WithNetwork(n1), WithDNS("10.81.0.1"), WithCmd("sleep", "3600"))
	stranger := runDNS(t, rt, WithName("stranger"), WithNetwork(n2), WithDNS("10.81.0.1"), WithCmd("sleep", "3600"))

	if code, out := execOut(t, client, []string{"cat", "/etc/resolv.conf"}); code != 0 || !strings.HasPrefix(out, "nameserver 127.0.0.11\n") || strings.Count(out, "nameserver") != 1 {
		t.Errorf("resolv.conf on a user-defined network: %q", out)
	}
	want := map[string]string{
		"web": webIP, "www": webIP, "front.": webIP, "WEB": webIP,
		"client":           inspect(t, client).NetworkSettings.Networks["dns1"].IPAddress,
		"upstream.example": "192.0.2.1", "nowhere.invalid": "NOTFOUND",
	}
	// Go's resolver refuses all-digit names without asking: skip such a
	// short ID (one in 300).
	if short := web.ID()[:12]; strings.Trim(short, "0123456789") != "" {
		want[short] = webIP
	}
	got := lookups(t, client, slices.Collect(maps.Keys(want))...)
	for name, want := range want {
		if got[name] != want {
			t.Errorf("client: %s = %q, want %q", name, got[name], want)
		}
	}
	if code, out := execOut(t, client, []string{"probe", "connect", "web:8080"}); code != 0 || out != "hello from "+inspect(t, web).Config.Hostname+"\n" {
		t.Errorf("connect web:8080: %d %q", code, out)
	}
	for name, ans := range lookups(t, stranger, "web", "www", "client") {
		if ans != "NOTFOUND" && !strings.HasPrefix(ans, "ERR:") {
			t.Errorf("a container on another network resolved %s: %s", name, ans)
		}
	}
	// On the default network WithDNS servers are the resolv.conf's.
	out := syncBuffer{}
	if st, _, err := run(t, rt, WithDNS("192.0.2.53"), WithStdout(&out), WithCmd("cat", "/etc/resolv.conf")); err != nil || st.ExitCode != 0 ||
		!strings.HasPrefix(out.String(), "nameserver 192.0.2.53\n") || strings.Count(out.String(), "nameserver") != 1 {
		t.Errorf("resolv.conf with WithDNS on the default network: %v %q", err, out.String())
	}
	// The default network has no name service.
	out = syncBuffer{}
	st, _, err := run(t, rt, WithStdout(&out), WithCmd("probe", "lookup", "web"))
	if err != nil || st.ExitCode != 0 || strings.Contains(out.String(), webIP) {
		t.Errorf("default network resolved web: %+v %v %q", st, err, out.String())
	}

	// The owner (this process) serves client.
	start := time.Now()
	if code, out := execOut(t, client, []string{"probe", "hammer", "1000", "web"}); code != 0 || out != "1000\n" {
		t.Errorf("1000 lookups: %d %q", code, out)
	}
	t.Logf("1000 lookups (A+AAAA) of a container name, served by the owner: %v, exec included", time.Since(start).Round(time.Millisecond))

	// A Detached container created by a process that has exited since.
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetworkDNS$")
	cmd.Env = append(os.Environ(), "HULL_TEST_DNS_ROOT="+rt.Root())
	cmd.Stderr = os.Stderr
	idOut, helperErr := cmd.Output()
	// Found by name, so that it is removed even if the helper failed
	// after creating it (a Detached container outlives this test).
	det, err := rt.Container(ctx, "detached")
	if err == nil {
		t.Cleanup(func() {
			if err := det.Remove(context.Background(), WithForce()); err != nil {
				t.Errorf("remove the detached container: %v", err)
			}
		})
	}
	if helperErr != nil {
		t.Fatalf("helper: %v", helperErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(idOut), det.ID()) {
		t.Errorf("helper printed %q, not %s", idOut, det.ID())
	}
	got = lookups(t, det, "web", "upstream.example")
	if got["web"] != webIP || got["upstream.example"] != "192.0.2.1" {
		t.Errorf("detached container after its creator exited: %v", got)
	}
	detIP := inspect(t, det).NetworkSettings.Networks["dns1"].IPAddress
	// A Detached container's shim serves it, from outside: the table file
	// it reads is held by nothing the container can see.
	script := "for f in /proc/[0-9]*/fd/*; do busybox readlink $f; done; true"
	if _, out := execOut(t, det, []string{"sh", "-c", script}); strings.Contains(out, rt.namesPath()) {
		t.Errorf("the container reaches the name table: %s", out)
	}
	start = time.Now()
	if code, out := execOut(t, det, []string{"probe", "hammer", "1000", "web"}); code != 0 || out != "1000\n" {
		t.Errorf("1000 lookups: %d %q", code, out)
	}
	t.Logf("1000 lookups (A+AAAA) of a container name, served by a Detached container's shim: %v, exec included", time.Since(start).Round(time.Millisecond))
	t.Logf("the shim that serves it: %s", procMemory(parentPid(inspect(t, det).State.Pid)))
	if got := lookups(t, client, "detached", "dalias"); got["detached"] != detIP || got["dalias"] != detIP {
		t.Errorf("client resolving the detached container: %v, want %s", got, detIP)
	}

	// A restarted container's new init serves again.
	if err := client.Restart(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := lookups(t, client, "web"); got["web"] != webIP {
		t.Errorf("after a restart: %v", got)
	}

	// Removal takes the names away at once.
	if err := web.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	if got := lookups(t, client, "web", "upstream.example"); got["web"] != "NOTFOUND" || got["upstream.example"] != "192.0.2.1" {
		t.Errorf("after the removal of web: %v", got)
	}
}

// dnsDetachHelper runs in a child process: it starts a Detached container
// on network dns1, prints its ID and closes its Runtime.
func dnsDetachHelper(t *testing.T, root string) {
	rt, err := Open(t.Context(), WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	n, err := rt.Network(t.Context(), "dns1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithName("detached"),
		WithNetwork(n, WithAlias("dalias")), WithDNS("10.81.0.1"), WithCmd("sleep", "3600"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(c.ID())
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
}

// runDNS runs a container in the background, removed when the test ends.
func runDNS(t *testing.T, rt *Runtime, opts ...RunOption) *Container {
	t.Helper()
	c, err := rt.Run(t.Context(), "busybox:test", opts...)
	if c != nil {
		t.Cleanup(func() {
			if err := c.Remove(context.Background(), WithForce()); err != nil {
				t.Errorf("remove %s: %v", c.Name(), err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parentPid returns the parent of pid, or -1.
func parentPid(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procMemory describes the resident memory of pid: anonymous (its own)
// and file-backed or shared memory (the binary, shared by every init).
func procMemory(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "RssAnon:" || f[0] == "RssFile:" || f[0] == "RssShmem:" || f[0] == "Threads:") {
			out = append(out, strings.Join(f, " "))
		}
	}
	return strings.Join(out, " ")
}

func TestDNSOptions(t *testing.T) {
	var rc runConfig
	if err := WithDNS("10.0.0.1", "2001:db8::1")(&rc); err != nil || len(rc.dns) != 2 {
		t.Errorf("WithDNS: %v %v", err, rc.dns)
	}
	for _, bad := range []string{"", "dns.example", "10.0.0.1:53", "fe80::1%eth0"} {
		if err := WithDNS(bad)(&runConfig{}); err == nil {
			t.Errorf("WithDNS(%q) accepted", bad)
		}
	}
}

// TestDNSOwnerServes: an owned container on a user-defined network gets
// plan.c's init, and its DNS from this process, inside its network
// namespace: it resolves the others by name; a container Connected to a
// network later (running, or stopped and started again) resolves them
// too; upstreams are asked from the container's namespace; once a
// container is removed, this
// process holds nothing of its name service (sockets, namespace, table).
func TestDNSOwnerServes(t *testing.T) {
	rt := dnsTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "dnsown", WithSubnet("10.83.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	web := runDNS(t, rt, WithName("oweb"), WithNetwork(n, WithAlias("owww")), WithCmd("sleep", "3600"))
	webIP := inspect(t, web).NetworkSettings.Networks["dnsown"].IPAddress
	client, err := rt.Run(ctx, "busybox:test", WithName("oclient"), WithNetwork(n), WithCmd("sleep", "3600"))
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			_ = client.Remove(context.Background(), WithForce())
		}
	})
	if kind := client.live().kind; kind != "plan" {
		t.Errorf("an owned container on a user-defined network got the %s init", kind)
	}
	if got := lookups(t, client, "oweb", "owww"); got["oweb"] != webIP || got["owww"] != webIP {
		t.Errorf("client: %v, want oweb and owww = %s", got, webIP)
	}
	clientIP := inspect(t, client).NetworkSettings.Networks["dnsown"].IPAddress
	if got := lookups(t, web, "oclient"); got["oclient"] != clientIP {
		t.Errorf("web: oclient = %q, want %s", got["oclient"], clientIP)
	}

	// Connected after Create (from the default network): it gets the
	// embedded resolver at once.
	late := runDNS(t, rt, WithName("olate"), WithCmd("sleep", "3600"))
	if err := n.Connect(ctx, late); err != nil {
		t.Fatal(err)
	}
	if code, out := execOut(t, late, []string{"cat", "/etc/resolv.conf"}); code != 0 || !strings.HasPrefix(out, "nameserver 127.0.0.11\n") {
		t.Errorf("resolv.conf after Connect: %q", out)
	}
	if got := lookups(t, late, "oweb"); got["oweb"] != webIP {
		t.Errorf("connected container: oweb = %q, want %s", got["oweb"], webIP)
	}

	// Connected while stopped: served from its next start.
	stopped := runDNS(t, rt, WithName("ostopped"), WithCmd("sleep", "3600"))
	if err := stopped.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	if err := stopped.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lateIP := inspect(t, late).NetworkSettings.Networks["dnsown"].IPAddress
	if got := lookups(t, stopped, "oweb", "olate"); got["oweb"] != webIP || got["olate"] != lateIP {
		t.Errorf("started after a Connect while stopped: %v, want oweb %s, olate %s", got, webIP, lateIP)
	}

	// Upstreams are asked from the container's namespace: 127.0.0.1 is the
	// container's loopback (nothing there), not this process's, where an
	// upstream answers.
	startUpstream(t, "127.0.0.1")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, "127.0.0.1:53")
	}}
	if addrs, err := r.LookupHost(ctx, "upstream.example"); err != nil || len(addrs) != 1 || addrs[0] != "192.0.2.1" {
		t.Fatalf("the test's upstream on 127.0.0.1: %v %v", addrs, err)
	}
	loop := runDNS(t, rt, WithName("oloop"), WithNetwork(n), WithDNS("127.0.0.1"), WithCmd("sleep", "3600"))
	if got := lookups(t, loop, "upstream.example", "oweb"); got["upstream.example"] == "192.0.2.1" || got["oweb"] != webIP {
		t.Errorf("WithDNS(127.0.0.1): %v: the upstream was asked from outside the container", got)
	}

	// What this process holds for client's name service: the two
	// listeners (found in the container's namespace), the namespace, the
	// name table.
	pid := inspect(t, client).State.Pid
	socks := dnsSocketInodes(t, pid)
	if len(socks) != 2 {
		t.Fatalf("sockets on 127.0.0.11:53 in the container: %v, want udp and tcp", socks)
	}
	nsLink, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	before := fdLinks(t)
	for _, s := range socks {
		if before["socket:["+s+"]"] != 1 {
			t.Errorf("this process does not hold the container's DNS socket %s", s)
		}
	}
	if before[nsLink] == 0 || before[rt.namesPath()] == 0 {
		t.Errorf("this process holds no fd for the container's namespace %s or the name table: %v", nsLink, before)
	}
	if err := client.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	removed = true
	after := fdLinks(t)
	for _, s := range socks {
		if after["socket:["+s+"]"] != 0 {
			t.Errorf("the removed container's DNS socket %s is still open", s)
		}
	}
	if after[nsLink] != 0 {
		t.Errorf("the removed container's network namespace %s is still open", nsLink)
	}
	if after[rt.namesPath()] != before[rt.namesPath()]-1 {
		t.Errorf("name table fds: %d before the removal, %d after", before[rt.namesPath()], after[rt.namesPath()])
	}
	// The others are still served. (Unknown names go to the host's
	// nameservers, out of reach from the test's network namespace.)
	if got := lookups(t, late, "oweb", "oclient"); got["oweb"] != webIP || got["oclient"] == clientIP {
		t.Errorf("after the removal of oclient: %v", got)
	}
}

// dnsSocketInodes returns the inodes of the UDP and TCP sockets bound to
// 127.0.0.11:53 in the network namespace of pid.
func dnsSocketInodes(t *testing.T, pid int) []string {
	t.Helper()
	var out []string
	for _, proto := range []string{"udp", "tcp"} {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/" + proto)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if f := strings.Fields(line); len(f) >= 10 && f[1] == "0B00007F:0035" {
				out = append(out, f[9])
			}
		}
	}
	return out
}

// fdLinks counts this process's open fds by what they link to.
func fdLinks(t *testing.T) map[string]int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]int{}
	for _, e := range entries {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			links[l]++
		}
	}
	return links
}
