package dns

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"

	"github.com/hullbox/hull/internal/netsetup"
	"github.com/vishvananda/netns"
)

// Addr is where a container's resolver answers (udp and tcp), as
// Docker's embedded resolver does: the container's resolv.conf names it.
const Addr = "127.0.0.11:53"

// NetnsServer is a Server run by a process outside the container, on
// sockets it made in the container's network namespace. Only making
// sockets needs a thread in that namespace: a socket stays in the
// namespace it was made in.
type NetnsServer struct {
	ns     netns.NsHandle // the container's: upstreams are asked from there
	table  *Table
	pc     net.PacketConn
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve has returned

	mu     sync.Mutex
	conns  map[*upstreamConn]bool // to the upstreams, in flight
	closed bool
}

// ServeNetns listens on Addr in the network namespace ns and serves the
// names of container self from table, and other names from ups, until
// Stop, which closes ns and table (ServeNetns does on failure). It
// brings the namespace's lo up if it is not yet (a container's init does
// too), so that the resolver is there from the container's first
// instruction.
func ServeNetns(ns netns.NsHandle, table *Table, self string, ups []string) (_ *NetnsServer, retErr error) {
	s := &NetnsServer{ns: ns, table: table, conns: map[*upstreamConn]bool{}, done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			table.Close()
			ns.Close()
		}
	}()
	if _, err := ParseUpstreams(ups); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	err := InNetns(ns, func() error {
		if err := netsetup.LoopbackUp(); err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		var lc net.ListenConfig
		var err error
		if s.pc, err = lc.ListenPacket(s.ctx, "udp4", Addr); err != nil {
			return fmt.Errorf("listen %s/udp: %w", Addr, err)
		}
		if s.ln, err = lc.Listen(s.ctx, "tcp4", Addr); err != nil {
			s.pc.Close()
			return fmt.Errorf("listen %s/tcp: %w", Addr, err)
		}
		return nil
	})
	if err != nil {
		s.cancel()
		return nil, err
	}
	srv := &Server{Table: s.table, Self: self, Upstreams: ups, Dial: s.dial}
	go func() {
		defer close(s.done)
		_ = srv.Serve(s.ctx, []net.PacketConn{s.pc}, []net.Listener{s.ln})
	}()
	return s, nil
}

// Stop closes the listeners and the connections to upstreams, waits for
// the questions in flight (which then fail at once) and releases the
// table and the namespace.
func (s *NetnsServer) Stop() {
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
// (Server.Dial), as the container's own resolver would: a loopback
// upstream is the container's loopback, and the route out is its.
func (s *NetnsServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	var c net.Conn
	err := InNetns(s.ns, func() (err error) {
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

// upstreamConn is a connection to an upstream, closed by Stop if it is
// still open then.
type upstreamConn struct {
	net.Conn
	s *NetnsServer
}

func (uc *upstreamConn) Close() error {
	uc.s.mu.Lock()
	delete(uc.s.conns, uc)
	uc.s.mu.Unlock()
	return uc.Conn.Close()
}

// InNetns runs fn on an OS thread in the network namespace ns. The thread
// goes back to this process's namespace before other goroutines may run on
// it; if it cannot, it is never unlocked, and ends with the goroutine.
func InNetns(ns netns.NsHandle, fn func() error) error {
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
