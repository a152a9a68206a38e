package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/vishvananda/netns"
)

// The name service of an owned container (dns_linux.go says who serves
// which container): this process listens on 127.0.0.11:53 inside the
// container's network namespace, from the moment its init is attached to
// its networks until the init is reaped. A socket stays in the namespace
// it was made in, so only making the sockets (and the connections to the
// upstreams) needs a thread in that namespace.

// dnsFileName is the file in a container's directory that says its owner
// serves its DNS, and with which upstreams. Without it, the container's
// init serves (DNSConfig in its config) or no one does.
const dnsFileName = "dns.json"

type dnsFile struct {
	Upstreams []string `json:"upstreams"`
}

// writeDNSFile records that the owner of the container in dir serves its
// DNS, forwarding to ups.
func writeDNSFile(dir string, ups []string) error {
	return os.WriteFile(filepath.Join(dir, dnsFileName), mustJSON(dnsFile{Upstreams: ups}), 0o600)
}

// readDNSFile returns the upstreams of the container in dir, and false if
// its owner does not serve its DNS.
func readDNSFile(dir string) ([]string, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, dnsFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var f dnsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, false, fmt.Errorf("%s: %w", dnsFileName, err)
	}
	return f.Upstreams, true, nil
}

// ownerDNS is the DNS a run of a container (a liveProcess) gets from its
// owner. Under the container's mu.
type ownerDNS struct {
	srv     *dnsServer
	stopped bool // the init is gone: serve no more
}

// serveDNS starts serving the container's DNS from this process, if this
// process owns its live init and the container's directory has a DNS file
// (enableDNS, connectDNS). It does nothing if it serves already, or once
// the init has been reaped. Create and respawn call it after
// attachNetworks; Connect after attaching a user-defined network.
func (c *Container) serveDNS() error {
	c.mu.Lock()
	lp, pid, start := c.lp, c.st.Pid, c.st.PidStart
	busy := lp == nil || c.st.Detached || lp.dns.srv != nil || lp.dns.stopped
	c.mu.Unlock()
	if busy {
		return nil
	}
	ups, ok, err := readDNSFile(c.rt.containerDir(c.id))
	if err != nil || !ok {
		return err
	}
	s, err := startDNSServer(pid, start, c.rt.namesPath(), c.id, ups)
	if err != nil {
		return fmt.Errorf("embedded DNS: %w", err)
	}
	c.mu.Lock()
	if lp.dns.srv != nil || lp.dns.stopped {
		c.mu.Unlock()
		s.stop() // another serveDNS won, or the init is gone
		return nil
	}
	lp.dns.srv = s
	c.mu.Unlock()
	initproc.Trace("P dns served")
	return nil
}

// stopDNS stops the DNS this process serves for lp's run, if any, and
// closes its sockets (they hold the container's network namespace). The
// reaper calls it once the init has exited.
func (c *Container) stopDNS(lp *liveProcess) {
	c.mu.Lock()
	s := lp.dns.srv
	lp.dns.srv, lp.dns.stopped = nil, true
	c.mu.Unlock()
	if s != nil {
		s.stop()
		initproc.Trace("P dns stopped")
	}
}

// dnsServer is a dns.Server run by this process for one container.
type dnsServer struct {
	ns     netns.NsHandle // the container's: upstreams are asked from there
	table  *dns.Table
	pc     net.PacketConn
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve has returned

	mu     sync.Mutex
	conns  map[*upstreamConn]bool // to the upstreams, in flight
	closed bool
}

// startDNSServer listens on initproc.DNSAddr in the network namespace of
// pid (which must still be the process that started at start, not a
// reused pid) and serves the names of container self from the table at
// names, and other names from ups, until stop.
func startDNSServer(pid int, start uint64, names, self string, ups []string) (_ *dnsServer, retErr error) {
	if _, err := dns.ParseUpstreams(ups); err != nil {
		return nil, err
	}
	ns, err := netns.GetFromPath("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("container network namespace: %w", err)
	}
	defer func() {
		if retErr != nil {
			ns.Close()
		}
	}()
	if start == 0 || procStartTime(pid) != start {
		return nil, fmt.Errorf("container network namespace: %w: the container's init has exited", ErrConflict)
	}
	f, err := os.Open(names) // read-only: this server only reads the table
	if err != nil {
		return nil, fmt.Errorf("name table: %w", err)
	}
	s := &dnsServer{ns: ns, table: dns.NewReader(f), conns: map[*upstreamConn]bool{}, done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			s.table.Close()
		}
	}()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	err = inNetns(ns, func() error {
		var lc net.ListenConfig
		var err error
		if s.pc, err = lc.ListenPacket(s.ctx, "udp4", initproc.DNSAddr); err != nil {
			return fmt.Errorf("listen %s/udp: %w", initproc.DNSAddr, err)
		}
		if s.ln, err = lc.Listen(s.ctx, "tcp4", initproc.DNSAddr); err != nil {
			s.pc.Close()
			return fmt.Errorf("listen %s/tcp: %w", initproc.DNSAddr, err)
		}
		return nil
	})
	if err != nil {
		s.cancel()
		return nil, err
	}
	srv := &dns.Server{Table: s.table, Self: self, Upstreams: ups, Dial: s.dial}
	go func() {
		defer close(s.done)
		_ = srv.Serve(s.ctx, []net.PacketConn{s.pc}, []net.Listener{s.ln})
	}()
	return s, nil
}

// stop closes the listeners and the connections to upstreams, waits for
// the questions in flight (which then fail at once) and releases the
// table and the namespace.
func (s *dnsServer) stop() {
	s.cancel()
	// At once, not when Serve gets to it: the sockets keep the
	// container's network namespace (and its veths) alive.
	s.pc.Close()
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for uc := range conns {
		uc.Conn.Close()
	}
	<-s.done
	s.table.Close()
	s.ns.Close()
}

// dial connects to an upstream from the container's network namespace
// (dns.Server.Dial), as the container's own resolver would: a loopback
// upstream is the container's loopback, and the route out is its.
func (s *dnsServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	var c net.Conn
	err := inNetns(s.ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	uc := &upstreamConn{Conn: c, s: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	s.conns[uc] = true
	return uc, nil
}

// upstreamConn is a connection to an upstream, closed by stop if it is
// still open then.
type upstreamConn struct {
	net.Conn
	s *dnsServer
}

func (uc *upstreamConn) Close() error {
	uc.s.mu.Lock()
	delete(uc.s.conns, uc)
	uc.s.mu.Unlock()
	return uc.Conn.Close()
}

// inNetns runs fn on an OS thread in the network namespace ns. The thread
// goes back to this process's namespace before other goroutines may run on
// it; if it cannot, it is never unlocked, and ends with the goroutine.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter the container's network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- ferr // what fn made is in ns all the same; this thread dies
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// connectDNS gives the container the embedded DNS once it is on a
// user-defined network (Connect) if it had none: its resolv.conf names
// 127.0.0.11 from now on (forwarding to the nameservers it named), and
// its owner serves it, at once if this process owns the running init,
// else from its next start. A Detached container, or a running one that
// another process owns, keeps its resolv.conf (no one would serve it).
func (c *Container) connectDNS(running bool) error {
	c.mu.Lock()
	detached, owned := c.st.Detached, c.lp != nil
	c.mu.Unlock()
	if detached || running && !owned {
		return nil
	}
	dir := c.rt.containerDir(c.id)
	path := filepath.Join(dir, "resolv.conf")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !usesEmbeddedDNS(data) {
		t, err := c.rt.openNames() // so that it exists, initialised
		if err != nil {
			return fmt.Errorf("name table: %w", err)
		}
		t.Close()
		ups, loopback := nameservers(path)
		if len(ups) == 0 && loopback {
			ups = hostNameservers()
		}
		if err := writeDNSFile(dir, ups); err != nil {
			return err
		}
		// In place: the file is bind-mounted into the container.
		if err := os.WriteFile(path, dnsResolvConf(data), 0o644); err != nil {
			return err
		}
	}
	if !running {
		return nil
	}
	return c.serveDNS()
}

// usesEmbeddedDNS reports whether a container's resolv.conf names the
// embedded resolver.
func usesEmbeddedDNS(resolvConf []byte) bool {
	want := strings.TrimSuffix(initproc.DNSAddr, ":53")
	for _, line := range strings.Split(string(resolvConf), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" && f[1] == want {
			return true
		}
	}
	return false
}
