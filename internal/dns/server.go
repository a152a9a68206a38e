package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DefaultPort is the port upstreams without one are asked on.
const DefaultPort = 53

// Limits on what a server takes on at once; beyond them UDP questions are
// dropped (the client asks again) and TCP connections closed.
const (
	maxUDPInFlight = 128
	maxTCPConns    = 64
	tcpIdle        = 10 * time.Second
	udpReplyMax    = 512 // what a client without EDNS takes over UDP
	ttl            = 600 // Docker's, for container names
)

// Server answers the DNS questions of one container: the names of the
// containers that share a network with it (Table.Lookup with Self) from
// the table, every other name from the upstream resolvers.
type Server struct {
	Table *Table
	Self  string // the container whose view of the table is served
	// Upstreams are the resolvers unknown names go to, tried in order
	// ("ip" or "ip:port"; port 53 by default). None: unknown names get
	// NXDOMAIN.
	Upstreams []string
	// Timeout is how long one upstream gets to answer. Default: 2s.
	Timeout time.Duration
	// Dial connects to an upstream ("udp" or "tcp"). Default: a
	// net.Dialer's, from the network namespace of the thread that asks (a
	// server run by another process than the container's init sets it to
	// dial from the container's network namespace).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	upstreams []netip.AddrPort
}

// Serve answers questions on the UDP sockets pcs and the TCP listeners
// lns until ctx ends, then closes them, waits for the questions in flight
// and returns nil. It returns an error at once for an upstream address
// it cannot parse.
func (s *Server) Serve(ctx context.Context, pcs []net.PacketConn, lns []net.Listener) error {
	ups, err := ParseUpstreams(s.Upstreams)
	if err != nil {
		return err
	}
	// Never forward to ourselves.
	s.upstreams = nil
	self := map[string]bool{}
	for _, pc := range pcs {
		self[pc.LocalAddr().String()] = true
	}
	for _, up := range ups {
		if !self[up.String()] {
			s.upstreams = append(s.upstreams, up)
		}
	}
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, ln := range lns {
			ln.Close()
		}
	})
	defer stop()
	for _, pc := range pcs {
		wg.Go(func() { s.serveUDP(pc) })
	}
	for _, ln := range lns {
		wg.Go(func() { s.serveTCP(ctx, ln) })
	}
	wg.Wait()
	return nil
}

// ParseUpstreams parses upstream resolvers' addresses, "ip" (port 53) or
// "ip:port".
func ParseUpstreams(list []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, u := range list {
		if ap, err := netip.ParseAddrPort(u); err == nil {
			out = append(out, ap)
			continue
		}
		a, err := netip.ParseAddr(u)
		if err != nil {
			return nil, errors.New("dns: upstream " + u + ": not an IP address")
		}
		out = append(out, netip.AddrPortFrom(a, DefaultPort))
	}
	return out, nil
}

func (s *Server) serveUDP(pc net.PacketConn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxUDPInFlight)
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ECONNREFUSED of an earlier reply
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // too busy: the client will ask again
		}
		msg := append([]byte(nil), buf[:n]...)
		wg.Go(func() {
			defer func() { <-sem }()
			if reply := s.answer(msg, false); reply != nil {
				_, _ = pc.WriteTo(reply, from)
			}
		})
	}
}

func (s *Server) serveTCP(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxTCPConns)
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: don't spin
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			s.serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		})
	}
}

// serveConn answers length-prefixed questions on one TCP connection until
// the client closes it or stays idle.
func (s *Server) serveConn(c net.Conn) {
	var lb [2]byte
	for {
		_ = c.SetDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, lb[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		reply := s.answer(q, true)
		if reply == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reply)), uint16(len(reply)))
		if _, err := c.Write(append(out, reply...)); err != nil {
			return
		}
	}
}

// answer returns the reply to the question msg, or nil to say nothing.
func (s *Server) answer(msg []byte, tcp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return reply(h, nil, dnsmessage.RCodeFormatError, nil)
	}
	if h.OpCode != 0 {
		return reply(h, &q, dnsmessage.RCodeNotImplemented, nil)
	}
	if q.Class == dnsmessage.ClassINET {
		if r, ok := s.local(h, q, tcp); ok {
			return r
		}
	}
	if len(s.upstreams) == 0 {
		return reply(h, &q, dnsmessage.RCodeNameError, nil)
	}
	if r := s.forward(msg, h.ID, tcp); r != nil {
		return r
	}
	return reply(h, &q, dnsmessage.RCodeServerFailure, nil)
}

// local answers from the table if the name is a container's.
func (s *Server) local(h dnsmessage.Header, q dnsmessage.Question, tcp bool) ([]byte, bool) {
	name := q.Name.String()
	if q.Type == dnsmessage.TypePTR {
		ip, ok := reverseAddr(name)
		if !ok {
			return nil, false
		}
		target, err := s.Table.LookupAddr(s.Self, ip)
		if err != nil {
			return reply(h, &q, dnsmessage.RCodeServerFailure, nil), true
		}
		if target == "" {
			return nil, false
		}
		tn, err := dnsmessage.NewName(target + ".")
		if err != nil {
			return nil, false
		}
		return reply(h, &q, dnsmessage.RCodeSuccess, func(b *dnsmessage.Builder) error {
			return b.PTRResource(rrHeader(q), dnsmessage.PTRResource{PTR: tn})
		}), true
	}
	addrs, found, err := s.Table.Lookup(s.Self, name)
	if err != nil {
		return reply(h, &q, dnsmessage.RCodeServerFailure, nil), true
	}
	if !found {
		return nil, false
	}
	if q.Type != dnsmessage.TypeA && q.Type != dnsmessage.TypeALL {
		// A known name with no such record (AAAA...): NOERROR, empty.
		return reply(h, &q, dnsmessage.RCodeSuccess, nil), true
	}
	answers := func(b *dnsmessage.Builder) error {
		for _, a := range addrs {
			if a.Is4() {
				if err := b.AResource(rrHeader(q), dnsmessage.AResource{A: a.As4()}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	r := reply(h, &q, dnsmessage.RCodeSuccess, answers)
	if !tcp && len(r) > udpReplyMax {
		h.Truncated = true // the client asks again over TCP
		r = reply(h, &q, dnsmessage.RCodeSuccess, nil)
	}
	return r, true
}

func rrHeader(q dnsmessage.Question) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: ttl}
}

// reply builds a response to the question q (nil: none could be parsed)
// of header h, with answers added by add.
func reply(h dnsmessage.Header, q *dnsmessage.Question, rc dnsmessage.RCode, add func(*dnsmessage.Builder) error) []byte {
	rh := dnsmessage.Header{
		ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, Truncated: h.Truncated, RCode: rc,
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), rh)
	b.EnableCompression()
	if q != nil {
		if err := b.StartQuestions(); err != nil {
			return nil
		}
		if err := b.Question(*q); err != nil {
			return nil
		}
	}
	if add != nil {
		if err := b.StartAnswers(); err != nil {
			return nil
		}
		if err := add(&b); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// reverseAddr parses "d.c.b.a.in-addr.arpa." into a.b.c.d.
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(strings.ToLower(name), ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	for i, j := 0, 3; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	a, err := netip.ParseAddr(strings.Join(parts, "."))
	return a, err == nil && a.Is4()
}

// forward asks the upstreams in turn and returns the first answer, or nil.
// A question that came over UDP goes over UDP and gets the upstream's
// answer as it is, truncated or not (its client retries over TCP); one
// that came over TCP goes over TCP when the UDP answer is truncated.
func (s *Server) forward(msg []byte, id uint16, tcp bool) []byte {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	for _, up := range s.upstreams {
		r, err := s.exchangeUDP(up, msg, id, timeout)
		if err == nil && tcp && truncated(r) {
			r, err = s.exchangeTCP(up, msg, id, timeout)
		}
		if err == nil {
			return r
		}
	}
	return nil
}

func truncated(msg []byte) bool {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	return err == nil && h.Truncated
}

// dial connects to the upstream up over network, within timeout.
func (s *Server) dial(network string, up netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.Dial != nil {
		return s.Dial(ctx, network, up.String())
	}
	var d net.Dialer
	return d.DialContext(ctx, network, up.String())
}

func (s *Server) exchangeUDP(up netip.AddrPort, msg []byte, id uint16, timeout time.Duration) ([]byte, error) {
	c, err := s.dial("udp", up, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		if n >= 12 && binary.BigEndian.Uint16(buf) == id {
			return buf[:n:n], nil
		}
		// Not the answer to this question: keep waiting.
	}
}

func (s *Server) exchangeTCP(up netip.AddrPort, msg []byte, id uint16, timeout time.Duration) ([]byte, error) {
	c, err := s.dial("tcp", up, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := c.Write(append(out, msg...)); err != nil {
		return nil, err
	}
	var lb [2]byte
	if _, err := io.ReadFull(c, lb[:]); err != nil {
		return nil, err
	}
	r := make([]byte, binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(c, r); err != nil {
		return nil, err
	}
	if len(r) < 12 || binary.BigEndian.Uint16(r) != id {
		return nil, errors.New("dns: upstream answered another question")
	}
	return r, nil
}
