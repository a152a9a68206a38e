package hull

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

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
//   - a Detached container has a shim on the host anyway (startShim):
//     that shim serves (initproc's DNSConfig), so a Detached container
//     keeps its DNS after its creator is gone.

// namesPath is the root's name table file.
func (rt *Runtime) namesPath() string {
	return filepath.Join(rt.cfg.root, "networks", "names")
}

// openNames opens the name table, creating it (and the networks
// directory) if needed.
func (rt *Runtime) openNames() (*dns.Table, error) {
	path := rt.namesPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return dns.Open(path)
}

// enableDNS gives the container the embedded DNS (Create calls it for a
// container on at least one user-defined network, before the init
// starts). A Detached container gets it from its shim. Any other
// container gets it from its owner:
// enableDNS records the upstreams in the container's directory, and
// serveDNS starts serving once the init is attached to its networks (and
// again on every restart).
func (rt *Runtime) enableDNS(cfg *initproc.Config, rc *runConfig) error {
	t, err := rt.openNames() // so that it exists, initialised
	if err != nil {
		return fmt.Errorf("name table: %w", err)
	}
	t.Close()
	ups := rc.dns
	if len(ups) == 0 {
		ups = hostNameservers()
	}
	if !rc.stdio.detached {
		return writeDNSFile(rt.containerDir(cfg.ID), ups)
	}
	cfg.DNS = &initproc.DNSConfig{Names: rt.namesPath(), Self: cfg.ID, Upstreams: ups}
	return nil
}

// registerNames records names (container name, aliases, short id) for
// containerID at ip on network (NET-CORE calls it on attach to a
// user-defined network).
func (rt *Runtime) registerNames(network, containerID string, names []string, ip netip.Addr) error {
	t, err := rt.openNames()
	if err != nil {
		return fmt.Errorf("register names of %s: %w", shortContainerID(containerID), err)
	}
	defer t.Close()
	if err := t.Set(dns.Record{Network: network, Container: containerID, Names: names, IP: ip}); err != nil {
		return fmt.Errorf("register names of %s: %w", shortContainerID(containerID), err)
	}
	return nil
}

// unregisterNames drops the names of containerID on network, or on every
// network when network is "". Idempotent.
func (rt *Runtime) unregisterNames(containerID, network string) error {
	if _, err := os.Stat(rt.namesPath()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	t, err := rt.openNames()
	if err != nil {
		return fmt.Errorf("unregister names of %s: %w", shortContainerID(containerID), err)
	}
	defer t.Close()
	if err := t.Remove(containerID, network); err != nil {
		return fmt.Errorf("unregister names of %s: %w", shortContainerID(containerID), err)
	}
	return nil
}

// dnsResolvConf turns upstreamsConf (the resolv.conf the container would
// have had) into that of a container on a user-defined network: its only
// nameserver is the init's resolver, the search and other options are
// kept, and ndots:0 is added unless an ndots option is there (as Docker:
// a bare name is first asked as it is, which is what container names
// are).
func dnsResolvConf(upstreamsConf []byte) []byte {
	var b bytes.Buffer
	b.WriteString("nameserver " + strings.TrimSuffix(dns.Addr, ":53") + "\n")
	ndots := false
	for _, line := range strings.Split(string(upstreamsConf), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "nameserver" {
			continue
		}
		if f[0] == "options" {
			for _, o := range f[1:] {
				ndots = ndots || strings.HasPrefix(o, "ndots:")
			}
		}
		b.WriteString(line + "\n")
	}
	if !ndots {
		b.WriteString("options ndots:0\n")
	}
	return b.Bytes()
}

// hostNameservers are the upstreams by default: the host's IPv4
// nameservers that are not loopback ones; under systemd-resolved (only
// loopback ones) those it forwards to.
func hostNameservers() []string {
	ups, loopback := nameservers("/etc/resolv.conf")
	if len(ups) == 0 && loopback {
		ups, _ = nameservers("/run/systemd/resolve/resolv.conf")
	}
	return ups
}

// nameservers lists the usable nameservers of a resolv.conf file, and
// whether it had loopback ones.
func nameservers(path string) (ups []string, loopback bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		switch {
		case err != nil || !a.Is4():
		case a.IsLoopback():
			loopback = true
		default:
			ups = append(ups, a.String())
		}
	}
	return ups, loopback
}

// writeDNSServers makes servers (WithDNS) the nameservers of the
// resolv.conf in the container's directory dir, as docker run --dns does;
// the rest of the file stays. On a user-defined network the file then
// names 127.0.0.11 instead (dnsResolvConf) and the init forwards to them.
func writeDNSServers(dir string, servers []string) error {
	if len(servers) == 0 {
		return nil
	}
	path := filepath.Join(dir, "resolv.conf")
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b bytes.Buffer
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "nameserver" {
			b.WriteString(line + "\n")
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
