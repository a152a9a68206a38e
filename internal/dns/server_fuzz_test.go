package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// memConn is a connection to an upstream resolver held in memory: what is
// written to it is dropped, reads return its reply, then time out.
type memConn struct {
	net.Conn // the methods answer does not call: nil
	r        *bytes.Reader
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return c.r.Read(p)
}
func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServerAnswer feeds the server's question handling (answer, what both
// the UDP and the TCP loops call) any message, with a table of a few
// containers and, when up is not empty, an upstream in memory that answers
// up (with the question's ID; over TCP length-prefixed), so nothing leaves
// the process. Properties: it never panics; it says nothing to a message
// without a DNS header or to a response; every question gets a reply:
// either the upstream's, as it came, or its own, which unpacks, carries
// the question's ID, opcode and RD bit with QR set, repeats the question
// when it parsed (FORMERR otherwise), answers only the name asked, and
// fits in 512 bytes over UDP.
func FuzzServerAnswer(f *testing.F) {
	path := filepath.Join(f.TempDir(), "names")
	w, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	set := func(network, ctr, ip string, names ...string) {
		if err := w.Set(Record{Network: network, Container: ctr, Names: names, IP: netip.MustParseAddr(ip)}); err != nil {
			f.Fatal(err)
		}
	}
	set("n1", "self", "10.1.0.2", "self", "me")
	set("n1", "web", "10.1.0.3", "web", "www", "0123456789ab")
	set("n2", "db", "10.2.0.2", "db") // not on a network self is on
	for i := range 60 {               // more A records than 512 bytes hold
		set("n1", fmt.Sprint("m", i), fmt.Sprintf("10.1.1.%d", i+1), "many")
	}
	rf, err := os.Open(path)
	if err != nil {
		f.Fatal(err)
	}
	r := NewReader(rf)
	defer r.Close()

	question := func(h dnsmessage.Header, name string, typ dnsmessage.Type, class dnsmessage.Class) []byte {
		b := dnsmessage.NewBuilder(nil, h)
		_ = b.StartQuestions()
		_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: class})
		msg, err := b.Finish()
		if err != nil {
			f.Fatal(err)
		}
		return msg
	}
	rd := dnsmessage.Header{ID: 4242, RecursionDesired: true}
	for _, q := range []struct {
		name  string
		typ   dnsmessage.Type
		class dnsmessage.Class
	}{
		{"web.", dnsmessage.TypeA, dnsmessage.ClassINET},
		{"WWW.", dnsmessage.TypeALL, dnsmessage.ClassINET},
		{"web.", dnsmessage.TypeAAAA, dnsmessage.ClassINET},
		{"many.", dnsmessage.TypeA, dnsmessage.ClassINET},
		{"db.", dnsmessage.TypeA, dnsmessage.ClassINET},
		{"nowhere.example.", dnsmessage.TypeMX, dnsmessage.ClassINET},
		{"3.0.1.10.in-addr.arpa.", dnsmessage.TypePTR, dnsmessage.ClassINET},
		{"2.0.2.10.in-addr.arpa.", dnsmessage.TypePTR, dnsmessage.ClassINET},
		{"1.0.1.10.0.in-addr.arpa.", dnsmessage.TypePTR, dnsmessage.ClassINET},
		{"web.", dnsmessage.TypeA, dnsmessage.ClassCHAOS},
	} {
		msg := question(rd, q.name, q.typ, q.class)
		f.Add(msg, false, []byte(nil))
		f.Add(msg, true, []byte(nil))
	}
	// Upstream answers: a good one, a truncated one (TCP asks again), one
	// too short to hold an ID, garbage.
	up := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, Response: true, RecursionAvailable: true})
	_ = up.StartQuestions()
	_ = up.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("up.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	_ = up.StartAnswers()
	_ = up.AResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("up.example."), Class: dnsmessage.ClassINET, TTL: 60},
		dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
	good, err := up.Finish()
	if err != nil {
		f.Fatal(err)
	}
	tc := bytes.Clone(good)
	tc[2] |= 0x02 // TC
	upq := question(rd, "up.example.", dnsmessage.TypeA, dnsmessage.ClassINET)
	for _, answer := range [][]byte{good, tc, good[:11], []byte("not a dns message at all")} {
		f.Add(upq, false, answer)
		f.Add(upq, true, answer)
	}
	f.Add(question(dnsmessage.Header{ID: 1, OpCode: 2}, "web.", dnsmessage.TypeA, dnsmessage.ClassINET), false, good)
	f.Add(question(dnsmessage.Header{ID: 1, Response: true}, "web.", dnsmessage.TypeA, dnsmessage.ClassINET), false, good)
	f.Add(question(dnsmessage.Header{ID: 1, Truncated: true}, "many.", dnsmessage.TypeA, dnsmessage.ClassINET), false, []byte(nil))
	f.Add([]byte{0x10, 0x92, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, false, good) // a name pointing at itself
	f.Add([]byte{0x10, 0x92, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, good)                       // no question
	f.Add([]byte{0x10, 0x92, 1}, true, good)
	f.Add([]byte{}, false, []byte(nil))

	f.Fuzz(func(t *testing.T, msg []byte, tcp bool, up []byte) {
		s := &Server{Table: r, Self: "self"}
		if len(up) > 0 {
			up = up[:min(len(up), 65535)]
			if len(msg) >= 2 && len(up) >= 2 {
				up = append(bytes.Clone(msg[:2]), up[2:]...) // the question's ID
			}
			s.upstreams = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53")} // never dialled: Dial below
			s.Dial = func(_ context.Context, network, _ string) (net.Conn, error) {
				if network == "tcp" {
					return &memConn{r: bytes.NewReader(append(binary.BigEndian.AppendUint16(nil, uint16(len(up))), up...))}, nil
				}
				return &memConn{r: bytes.NewReader(up)}, nil
			}
		}
		out := s.answer(msg, tcp)
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err != nil || h.Response {
			if out != nil {
				t.Fatalf("a reply to a message without a question header: %x", out)
			}
			return
		}
		if out == nil {
			t.Fatalf("no reply to %x", msg)
		}
		if len(up) > 0 && bytes.Equal(out, up) {
			return // the upstream's, as it came
		}
		q, qerr := p.Question()
		var m dnsmessage.Message
		if err := m.Unpack(out); err != nil {
			t.Fatalf("reply %x does not unpack: %v", out, err)
		}
		if m.ID != h.ID || !m.Response || m.OpCode != h.OpCode || m.RecursionDesired != h.RecursionDesired {
			t.Fatalf("reply header %+v to %+v", m.Header, h)
		}
		if !tcp && len(out) > udpReplyMax {
			t.Fatalf("a %d-byte reply over UDP", len(out))
		}
		switch {
		case qerr != nil:
			if m.RCode != dnsmessage.RCodeFormatError || len(m.Questions) != 0 {
				t.Fatalf("reply %+v to a message with no question that parses", m)
			}
		case len(m.Questions) != 1 || m.Questions[0] != q:
			t.Fatalf("reply's questions %v, asked %v", m.Questions, q)
		}
		for _, a := range m.Answers {
			if qerr != nil || a.Header.Name != q.Name || (a.Header.Type != dnsmessage.TypeA && a.Header.Type != dnsmessage.TypePTR) {
				t.Fatalf("answer %v to question %v", a, q)
			}
		}
	})
}
