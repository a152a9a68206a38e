package initproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"

	"github.com/hullbox/hull/internal/dns"
)

// DNSAddr is where a container's init answers DNS (udp and tcp), as
// Docker's embedded resolver does; the container's resolv.conf names it.
const DNSAddr = "127.0.0.11:53"

// DNSConfig makes a resident init serve DNS for the container's whole
// life (user-defined networks): the names of the containers that share a
// network with it, from the host's name table, and other names from the
// upstream resolvers.
type DNSConfig struct {
	// Names is the path of the name table file (internal/dns) on the
	// host. The init opens it read-only before pivot_root and keeps that
	// file: the table is rewritten in place, so it stays current. (A
	// regular file only: a directory fd of the host would let the
	// container's side walk out of its root through "..".)
	Names     string   `json:"names"`
	Self      string   `json:"self"`                // the container's id in the table
	Upstreams []string `json:"upstreams,omitempty"` // "ip" or "ip:port"; none: NXDOMAIN
}

// dnsService is the DNS part of a resident init, between openDNS and
// start.
type dnsService struct {
	cfg   *DNSConfig
	table *dns.Table
}

// openDNS opens the name table while the host's paths are reachable; nil
// without cfg.DNS. The init is not dumpable, so the container cannot reach
// the file through /proc/1/fd.
func openDNS(cfg *Config) (*dnsService, error) {
	if cfg.DNS == nil {
		return nil, nil
	}
	if !cfg.Resident {
		return nil, errors.New("dns needs a resident init")
	}
	f, err := os.Open(cfg.DNS.Names) // O_RDONLY|O_CLOEXEC
	if err != nil {
		return nil, err
	}
	return &dnsService{cfg: cfg.DNS, table: dns.NewReader(f)}, nil
}

// collect turns the garbage collector on, once the user's process runs
// (runResident). The parent starts inits with GOGC=off, for a fast start
// of a process that execs; one that serves for the container's life must
// collect, and its memory counts against the container's limit: a small
// percentage also lowers the minimum heap goal (4 MiB at 100) to 1 MiB,
// which a server whose live heap is tiny collects cheaply. Not sooner: the
// heap the config left is above that goal, and the first collection would
// delay the start. Nil-safe.
func (d *dnsService) collect() {
	if d != nil {
		debug.SetGCPercent(25)
	}
}

// start listens on DNSAddr in the container's network namespace (after
// setupContainer has brought lo up) and serves in the background until the
// init exits. Nil-safe: no DNS, nothing to do.
func (d *dnsService) start() error {
	if d == nil {
		return nil
	}
	if _, err := dns.ParseUpstreams(d.cfg.Upstreams); err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp4", DNSAddr)
	if err != nil {
		return fmt.Errorf("listen %s/udp: %w", DNSAddr, err)
	}
	ln, err := net.Listen("tcp4", DNSAddr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen %s/tcp: %w", DNSAddr, err)
	}
	srv := &dns.Server{Table: d.table, Self: d.cfg.Self, Upstreams: d.cfg.Upstreams}
	go func() { _ = srv.Serve(context.Background(), []net.PacketConn{pc}, []net.Listener{ln}) }()
	return nil
}
