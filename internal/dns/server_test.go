package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// The servers listen on 127.0.0.x with random ports: no root needed, and
// nothing leaves loopback (scripts/test.sh runs the suite in its own
// network namespace besides).

// listen opens UDP and TCP on ip with one port.
func listen(t *testing.T, ip string) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			t.Skipf("cannot listen on %s (no 127/8 on lo?): %v", ip, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue // the port is taken for TCP: another one
		}
		return pc, ln
	}
	t.Fatal("no port free for both UDP and TCP")
	return nil, nil
}

// upstream is a test resolver: upstream.example. has 192.0.2.1, big.example.
// is truncated over UDP and has three addresses over TCP, the rest NXDOMAIN.
type upstream struct {
	addr      string
	questions atomic.Int32
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	pc, ln := listen(t, "127.0.0.12")
	u := &upstream{addr: pc.LocalAddr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := u.answer(buf[:n], false); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var lb [2]byte
				if _, err := io.ReadFull(c, lb[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(lb[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				r := u.answer(q, true)
				c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		pc.Close()
		ln.Close()
		<-done
		<-done
	})
	_ = ctx
	return u
}

func (u *upstream) answer(msg []byte, tcp bool) []byte {
	u.questions.Add(1)
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	var ips []string
	rc := dnsmessage.RCodeSuccess
	switch q.Name.String() {
	case "upstream.example.":
		ips = []string{"192.0.2.1"}
	case "big.example.":
		if tcp {
			ips = []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"}
		} else {
			h.Truncated = true
		}
	default:
		rc = dnsmessage.RCodeNameError
	}
	if q.Type != dnsmessage.TypeA {
		ips = nil
	}
	return reply(h, &q, rc, func(b *dnsmessage.Builder) error {
		for _, ip := range ips {
			if err := b.AResource(rrHeader(q), dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()}); err != nil {
				return err
			}
		}
		return nil
	})
}

type testServer struct {
	udp, tcp string
	table    *Table // the host's side
}

// startServer serves self's view of a fresh table, read through a
// read-only file as the init does.
func startServer(t *testing.T, self string, upstreams ...string) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "names")
	w := openTable(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(f)
	pc, ln := listen(t, "127.0.0.11")
	s := &Server{Table: r, Self: self, Upstreams: upstreams, Timeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, []net.PacketConn{pc}, []net.Listener{ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		r.Close()
	})
	return &testServer{udp: pc.LocalAddr().String(), tcp: ln.Addr().String(), table: w}
}

// resolver is Go's own resolver, pointed at the server.
func (s *testServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		if network == "tcp" || network == "tcp4" {
			return d.DialContext(ctx, "tcp", s.tcp)
		}
		return d.DialContext(ctx, "udp", s.udp)
	}}
}

func lookup4(t *testing.T, r *net.Resolver, name string) ([]string, error) {
	t.Helper()
	addrs, err := r.LookupNetIP(t.Context(), "ip4", name)
	var out []string
	for _, a := range addrs {
		out = append(out, a.Unmap().String())
	}
	slices.Sort(out)
	return out, err
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func TestServerResolves(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, "self", up.addr)
	mustSet(t, s.table, "n1", "self", "10.1.0.2", "me")
	mustSet(t, s.table, "n1", "web", "10.1.0.3", "web", "www", "0123456789ab")
	mustSet(t, s.table, "n2", "db", "10.2.0.2", "db")
	r := s.resolver()

	for _, tc := range []struct {
		name string
		want []string // nil: NXDOMAIN
	}{
		{"web.", []string{"10.1.0.3"}},
		{"WWW.", []string{"10.1.0.3"}},
		{"0123456789ab.", []string{"10.1.0.3"}},
		{"me.", []string{"10.1.0.2"}},
		{"db.", nil},                                                         // not on a shared network: upstream says NXDOMAIN
		{"upstream.example.", []string{"192.0.2.1"}},                         // forwarded
		{"big.example.", []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"}}, // truncated: TCP
		{"nowhere.example.", nil},
	} {
		got, err := lookup4(t, r, tc.name)
		switch {
		case tc.want == nil && !isNotFound(err):
			t.Errorf("%s: %v, %v; want not found", tc.name, got, err)
		case tc.want != nil && (err != nil || !slices.Equal(got, tc.want)):
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	// The table changes under a running server.
	mustSet(t, s.table, "n2", "self", "10.2.0.9", "me")
	if got, err := lookup4(t, r, "db."); err != nil || !slices.Equal(got, []string{"10.2.0.2"}) {
		t.Errorf("db after joining n2: %v, %v", got, err)
	}
	if err := s.table.Remove("web", ""); err != nil {
		t.Fatal(err)
	}
	before := up.questions.Load()
	if _, err := lookup4(t, r, "web."); !isNotFound(err) {
		t.Errorf("web after its removal: %v, want not found", err)
	}
	if up.questions.Load() == before {
		t.Error("a name no longer known was not forwarded")
	}

	// Reverse lookup of a container's address.
	names, err := r.LookupAddr(t.Context(), "10.2.0.2")
	if err != nil || !slices.Equal(names, []string{"db."}) {
		t.Errorf("LookupAddr(10.2.0.2) = %v, %v; want [db.]", names, err)
	}
}

// exchange sends one question over network ("udp" or "tcp") and parses
// the reply.
func exchange(t *testing.T, s *testServer, network, name string, typ dnsmessage.Type) (dnsmessage.Header, []dnsmessage.Resource) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	addr := s.udp
	if network == "tcp" {
		addr = s.tcp
		q = append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	var n int
	if network == "tcp" {
		if _, err = io.ReadFull(c, buf[:2]); err == nil {
			n = int(binary.BigEndian.Uint16(buf))
			_, err = io.ReadFull(c, buf[:n])
		}
	} else {
		n, err = c.Read(buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if m.ID != 4242 || !m.Response {
		t.Fatalf("reply header %+v", m.Header)
	}
	return m.Header, m.Answers
}

func TestServerRecordTypes(t *testing.T) {
	s := startServer(t, "self") // no upstream
	mustSet(t, s.table, "n1", "self", "10.1.0.2", "me")
	mustSet(t, s.table, "n1", "web", "10.1.0.3", "web")
	for _, network := range []string{"udp", "tcp"} {
		h, ans := exchange(t, s, network, "web.", dnsmessage.TypeA)
		if h.RCode != dnsmessage.RCodeSuccess || len(ans) != 1 || ans[0].Body.(*dnsmessage.AResource).A != [4]byte{10, 1, 0, 3} {
			t.Errorf("%s A web: %v %v", network, h.RCode, ans)
		}
		h, ans = exchange(t, s, network, "web.", dnsmessage.TypeAAAA)
		if h.RCode != dnsmessage.RCodeSuccess || len(ans) != 0 {
			t.Errorf("%s AAAA web: %v %v; want NOERROR, empty", network, h.RCode, ans)
		}
		h, ans = exchange(t, s, network, "elsewhere.example.", dnsmessage.TypeA)
		if h.RCode != dnsmessage.RCodeNameError || len(ans) != 0 {
			t.Errorf("%s A of an unknown name without upstreams: %v %v; want NXDOMAIN", network, h.RCode, ans)
		}
	}
}

// TestServerManyAnswers: an alias shared by more containers than a
// 512-byte UDP reply holds is truncated over UDP and whole over TCP, and
// Go's resolver gets them all.
func TestServerManyAnswers(t *testing.T) {
	s := startServer(t, "self")
	mustSet(t, s.table, "n1", "self", "10.1.0.2", "me")
	var want []string
	for i := range 40 {
		ip := netip.AddrFrom4([4]byte{10, 1, 1, byte(10 + i)})
		mustSet(t, s.table, "n1", "w"+ip.String(), ip.String(), "workers")
		want = append(want, ip.String())
	}
	slices.Sort(want)
	h, _ := exchange(t, s, "udp", "workers.", dnsmessage.TypeA)
	if !h.Truncated {
		t.Error("a 40-address UDP reply was not truncated")
	}
	if _, ans := exchange(t, s, "tcp", "workers.", dnsmessage.TypeA); len(ans) != 40 {
		t.Errorf("TCP: %d answers, want 40", len(ans))
	}
	if got, err := lookup4(t, s.resolver(), "workers."); err != nil || !slices.Equal(got, want) {
		t.Errorf("Go resolver: %v, %v", got, err)
	}
}

func TestServerBadUpstream(t *testing.T) {
	s := &Server{Upstreams: []string{"not-an-ip"}}
	if err := s.Serve(t.Context(), nil, nil); err == nil {
		t.Error("Serve with a bad upstream succeeded")
	}
}
