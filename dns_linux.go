package hull

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/initproc"
)

// The name service of user-defined networks: every container attached to
// one gets a resolver on 127.0.0.11:53 in its network namespace, for its
// whole life, which answers from one name table per root (internal/dns)
// that registerNames and unregisterNames keep current. Who runs it depends
// on who the container must outlive:
//   - an owned container (not Detached: the default) dies with the
//     process that owns it, so that process serves its DNS
//     (dns_serve_linux.go);
//   - a Detached container has a shim on the host anyway (spawn.Spawner.StartShim):
//     that shim serves (initproc's DNSConfig), so a Detached container
//     keeps its DNS after its creator is gone.

// namesPath is the root's name table file.
func (rt *Runtime) namesPath() string {
	return filepath.Join(rt.cfg.root, "networks", "names")
}

// enableDNS gives the container the embedded DNS (Create calls it for a
// container on at least one user-defined network, before the init
// starts). A Detached container gets it from its shim. Any other
// container gets it from its owner:
// enableDNS records the upstreams in the container's directory, and
// serveDNS starts serving once the init is attached to its networks (and
// again on every restart).
func (rt *Runtime) enableDNS(cfg *initproc.Config, rc *runConfig) error {
	if err := dns.Create(rt.namesPath()); err != nil {
		return fmt.Errorf("name table: %w", err)
	}
	ups := rc.dns
	if len(ups) == 0 {
		ups = dns.HostNameservers()
	}
	if !rc.stdio.detached {
		return dns.WriteServeFile(rt.containerDir(cfg.ID), ups)
	}
	cfg.DNS = &initproc.DNSConfig{Names: rt.namesPath(), Self: cfg.ID, Upstreams: ups}
	return nil
}

// registerNames records names (container name, aliases, short id) for
// containerID at ip on network (NET-CORE calls it on attach to a
// user-defined network).
func (rt *Runtime) registerNames(network, containerID string, names []string, ip netip.Addr) error {
	if err := dns.SetAt(rt.namesPath(), dns.Record{Network: network, Container: containerID, Names: names, IP: ip}); err != nil {
		return fmt.Errorf("register names of %s: %w", shortContainerID(containerID), err)
	}
	return nil
}

// unregisterNames drops the names of containerID on network, or on every
// network when network is "". Idempotent.
func (rt *Runtime) unregisterNames(containerID, network string) error {
	if err := dns.RemoveAt(rt.namesPath(), containerID, network); err != nil {
		return fmt.Errorf("unregister names of %s: %w", shortContainerID(containerID), err)
	}
	return nil
}

// unregisterAllNames drops the names of every container in ids, in one
// update of the table (Open's recovery).
func (rt *Runtime) unregisterAllNames(ids map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	if err := dns.RemoveIfAt(rt.namesPath(), func(r dns.Record) bool { return ids[r.Container] }); err != nil {
		return fmt.Errorf("unregister names: %w", err)
	}
	return nil
}
