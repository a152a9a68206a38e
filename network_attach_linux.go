package hull

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/netsetup"
	specpkg "github.com/hullbox/hull/internal/spec"
	"github.com/vishvananda/netns"
)

// The life of a container's networks (bridge mode):
//   Create: resolveNetworks (before the spec: names -> IDs, hostname),
//   prepareNetworks (addresses from IPAM, /etc/hosts, DNS), spawn,
//   attachNetworks (veths into the init's netns, names, published ports).
//   Exit (reap) and Remove (cleanup): releaseNetworks gives everything
//   back; a restart prepares and attaches again. Open's recoverNetworks
//   does it for containers whose owner died.

// resolveNetworks turns the run options into the container's network mode
// and endpoints. It creates the default network on first use.
func (rt *Runtime) resolveNetworks(ctx context.Context, rc *runConfig) (NetworkMode, []endpointState, error) {
	mode, attach := rc.net.mode, rc.net.attach
	if mode != "" && mode != NetworkModeBridge && len(attach) > 0 {
		return "", nil, fmt.Errorf("%w: network mode %s excludes WithNetwork", ErrInvalidArgument, mode)
	}
	switch {
	case mode == NetworkModeNone:
		return mode, nil, nil
	case mode == NetworkModeHost:
		if rc.hostname == "" {
			rc.hostname, _ = os.Hostname()
		}
		return mode, nil, nil
	case strings.HasPrefix(string(mode), "container:"):
		other, err := rt.Container(ctx, strings.TrimPrefix(string(mode), "container:"))
		if err != nil {
			return "", nil, fmt.Errorf("network mode %s: %w", mode, err)
		}
		ost := other.stateCopy()
		if !ost.alive() || ost.Status == StatusExited {
			return "", nil, fmt.Errorf("%w: network mode %s: container is not running", ErrConflict, mode)
		}
		if rc.hostname == "" {
			rc.hostname = ost.Hostname
		}
		return NetworkMode("container:" + ost.ID), nil, nil
	}
	var eps []endpointState
	if mode == NetworkModeBridge || len(attach) == 0 {
		def, err := rt.defaultNetwork()
		if err != nil {
			return "", nil, err
		}
		eps = append(eps, endpointState{NetworkID: def.ID, Name: def.Name})
	}
	recs, err := rt.readNetworks()
	if err != nil {
		return "", nil, err
	}
	for _, a := range attach {
		rec, err := findNetwork(recs, a.net.ID())
		if err != nil {
			return "", nil, err
		}
		if err := checkEndpoint(rec, a.ep); err != nil {
			return "", nil, err
		}
		if slices.ContainsFunc(eps, func(e endpointState) bool { return e.NetworkID == rec.ID }) {
			continue
		}
		eps = append(eps, endpointState{NetworkID: rec.ID, Name: rec.Name, Aliases: a.ep.aliases, StaticIP: a.ep.ip})
	}
	return NetworkModeBridge, eps, nil
}

func checkEndpoint(rec *networkRecord, ep endpointConfig) error {
	if rec.Default && (len(ep.aliases) > 0 || ep.ip.IsValid()) {
		return fmt.Errorf("%w: aliases and fixed IPs need a user-defined network, not %s", ErrInvalidArgument, rec.Name)
	}
	if ep.ip.IsValid() && !rec.Subnet.Contains(ep.ip) {
		return fmt.Errorf("%w: IP %s is not in network %s's subnet %s", ErrInvalidArgument, ep.ip, rec.Name, rec.Subnet)
	}
	return nil
}

// stateCopy returns a copy of the container's state, from disk when
// another process owns it.
func (c *Container) stateCopy() containerState {
	if c.live() == nil {
		if st, err := readState(c.rt.containerDir(c.id)); err == nil {
			c.mu.Lock()
			c.st = st
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.Networks = slices.Clone(st.Networks)
	return st
}

// prepareNetworks runs at Create (fresh) and before each init is spawned:
// it allocates the endpoints' addresses (those not held still: Create's
// are its first Start's), writes /etc/hosts (and resolv.conf, fresh),
// enables the embedded DNS on user-defined networks (fresh) and, for
// container:<id>, tells the init which netns to join. On error, the
// addresses taken are released.
func (rt *Runtime) prepareNetworks(st *containerState, cfg *initproc.Config, rc *runConfig, fresh bool) (retErr error) {
	dir := rt.containerDir(st.ID)
	switch mode := st.NetworkMode; {
	case mode == NetworkModeHost:
		if !fresh {
			return nil
		}
		return fsutil.CopyFiles(dir, map[string]string{"hosts": "/etc/hosts", "resolv.conf": "/etc/resolv.conf"}, 0o644)
	case strings.HasPrefix(string(mode), "container:"):
		ost, err := readState(rt.containerDir(strings.TrimPrefix(string(mode), "container:")))
		if err != nil || !ost.alive() || ost.Status == StatusExited {
			return fmt.Errorf("%w: network mode %s: container is not running", ErrConflict, mode)
		}
		cfg.NetNS = "/proc/" + strconv.Itoa(ost.Pid) + "/ns/net"
		odir := rt.containerDir(ost.ID)
		return fsutil.CopyFiles(dir, map[string]string{"hosts": filepath.Join(odir, "hosts"), "resolv.conf": filepath.Join(odir, "resolv.conf")}, 0o644)
	case mode != NetworkModeBridge || len(st.Networks) == 0:
		return nil
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, rt.releaseAddresses(st.ID))
		}
	}()
	initproc.Trace("P prepare networks")
	user := false
	err := rt.withNetworks(func(recs []networkRecord) error {
		for i := range st.Networks {
			ep := &st.Networks[i]
			rec, err := findNetwork(recs, ep.NetworkID)
			if err != nil {
				return fmt.Errorf("network %s: %w", ep.Name, ErrNotFound)
			}
			if err := allocate(rt, rec, st.ID, ep, i); err != nil {
				return err
			}
			user = user || !rec.Default
		}
		return nil
	})
	if err != nil {
		return err
	}
	initproc.Trace("P addresses allocated")
	if err := os.WriteFile(filepath.Join(dir, "hosts"), specpkg.EtcHosts(st.Hostname, st.Networks[0].IP.String()), 0o644); err != nil {
		return err
	}
	if !user || !fresh {
		return nil
	}
	if err := rt.enableDNS(cfg, rc); err != nil {
		return fmt.Errorf("embedded DNS: %w", err)
	}
	up, err := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), dns.ResolvConf(up), 0o644)
}

// withNetworks runs fn with the network records under the networks lock.
func (rt *Runtime) withNetworks(fn func([]networkRecord) error) error {
	unlock, err := rt.lockNetworks()
	if err != nil {
		return err
	}
	defer unlock()
	recs, err := rt.readNetworks()
	if err != nil {
		return err
	}
	return fn(recs)
}

// allocate gives the endpoint (the container's index-th) an address on
// rec, unless it holds one already (Create took it for the first Start).
func allocate(rt *Runtime, rec *networkRecord, id string, ep *endpointState, index int) error {
	ipam, err := netsetup.OpenIPAM(filepath.Join(rt.networkDir(rec.ID), "ipam.json"))
	if err != nil {
		return fmt.Errorf("network %s: %w", rec.Name, err)
	}
	if ep.IP.IsValid() {
		if _, owners, err := ipam.Allocations(); err == nil && owners[ep.IP] == id {
			return nil
		}
	}
	ip, err := ipam.Allocate(id, ep.StaticIP)
	switch {
	case errors.Is(err, netsetup.ErrInUse):
		return fmt.Errorf("network %s: %w: %w", rec.Name, ErrConflict, err)
	case ep.StaticIP.IsValid() && err != nil:
		return fmt.Errorf("network %s: %w: %w", rec.Name, ErrInvalidArgument, err)
	case err != nil:
		return fmt.Errorf("network %s: %w", rec.Name, err)
	}
	ep.Name = rec.Name
	ep.IP, ep.Bits, ep.Gateway = ip, rec.Subnet.Bits(), rec.Gateway
	ep.MAC = netsetup.MAC(ip).String()
	ep.IfName = "eth" + strconv.Itoa(index)
	return nil
}

// attachNetworks plugs the container's init, which waits for Start, into
// its networks: a veth per endpoint (the first one that leaves its
// network gives the default route), its names on user-defined networks,
// and its published ports. The state is updated but not written.
func (c *Container) attachNetworks(ctx context.Context, rc *runConfig) error {
	st := c.stateCopy()
	if st.NetworkMode != NetworkModeBridge || len(st.Networks) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath("/proc/" + strconv.Itoa(st.Pid) + "/ns/net")
	if err != nil {
		return fmt.Errorf("container network namespace: %w", err)
	}
	defer ns.Close()
	recs, err := c.rt.readNetworks()
	if err != nil {
		return err
	}
	routed := false
	var first *networkRecord
	for _, ep := range st.Networks {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := findNetwork(recs, ep.NetworkID)
		if err != nil {
			return fmt.Errorf("network %s: %w", ep.Name, ErrNotFound)
		}
		if err := c.rt.attachEndpoint(ns, &st, rec, ep, !routed); err != nil {
			return fmt.Errorf("attach to network %s: %w", rec.Name, err)
		}
		if !rec.Internal && !routed {
			routed, first = true, rec
		}
	}
	if first == nil || !rc.wantsPublish() {
		return nil
	}
	ep := st.Networks[slices.IndexFunc(st.Networks, func(e endpointState) bool { return e.NetworkID == first.ID })]
	initproc.Trace("P names registered")
	ports, err := c.rt.publishPorts(st.ID, ep.IP, netsetup.HostVeth(st.ID, ep.IfName), rc)
	if err != nil {
		return fmt.Errorf("publish ports: %w", err)
	}
	initproc.Trace("P ports published")
	c.mu.Lock()
	c.st.Ports = ports
	c.mu.Unlock()
	return nil
}

// attachEndpoint makes one veth and registers the container's names on a
// user-defined network.
func (rt *Runtime) attachEndpoint(ns netns.NsHandle, st *containerState, rec *networkRecord, ep endpointState, route bool) error {
	// Recorded (again: after a reboot the registry is empty) before
	// Ensure may make the bridge.
	if err := rt.objs.root.Network(rec.ID, rec.Bridge); err != nil {
		return err
	}
	if err := rt.bridge(rec).Ensure(); err != nil {
		return err
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return err
	}
	host := netsetup.HostVeth(st.ID, ep.IfName)
	_ = netsetup.DeleteLink(host) // a previous run's, if its netns is not gone yet
	a := netsetup.Attachment{
		Bridge: rec.Bridge, HostName: host, IfName: ep.IfName,
		Addr: ep.IP, Bits: ep.Bits, MAC: mac,
	}
	if route && !rec.Internal {
		a.Gateway = rec.Gateway
	}
	if err := netsetup.Attach(ns, a); err != nil {
		return err
	}
	initproc.Trace("P veth attached")
	if rec.Default {
		return nil
	}
	names := append([]string{st.Name}, ep.Aliases...)
	names = append(names, st.ID[:12])
	return rt.registerNames(rec.ID, st.ID, names, ep.IP)
}

// releaseNetworks gives back what the container's run held: addresses,
// names, published ports, host veths. It is idempotent; reap and cleanup
// call it.
func (c *Container) releaseNetworks() error {
	c.mu.Lock()
	eps := slices.Clone(c.st.Networks)
	mode := c.st.NetworkMode
	// A new slice: snapshots taken before (Inspect's) share the old one.
	cleared := slices.Clone(c.st.Networks)
	for i := range cleared {
		ep := &cleared[i]
		ep.IP, ep.Bits, ep.Gateway, ep.MAC = netip.Addr{}, 0, netip.Addr{}, ""
	}
	c.st.Networks, c.st.Ports = cleared, nil
	c.mu.Unlock()
	if mode != NetworkModeBridge {
		return nil
	}
	rt := c.rt
	initproc.Trace("P release networks")
	errs := []error{rt.releaseAddresses(c.id)}
	initproc.Trace("P release addresses")
	errs = append(errs, rt.unregisterNames(c.id, ""))
	initproc.Trace("P release names")
	errs = append(errs, rt.unpublishPorts(c.id))
	initproc.Trace("P release ports")
	var veths []string
	for _, ep := range eps {
		if ep.IfName != "" {
			veths = append(veths, netsetup.HostVeth(c.id, ep.IfName))
		}
	}
	errs = append(errs, netsetup.DeleteLinksLater(veths, &rt.ctrs.linkDel))
	initproc.Trace("P release veths")
	return errors.Join(errs...)
}

// releaseExited is releaseNetworks for a run that ended (reap), unless
// another process has already started the container again: the
// addresses and veths are then that run's.
func (c *Container) releaseExited(pid int) error {
	if st, err := readState(c.rt.containerDir(c.id)); err == nil && st.Pid != pid && st.alive() {
		return nil
	}
	return c.releaseNetworks()
}

// releaseAddresses frees every address id holds, on every network.
func (rt *Runtime) releaseAddresses(id string) error {
	recs, err := rt.readNetworks()
	if err != nil {
		return err
	}
	paths := make([]string, len(recs))
	for i, rec := range recs {
		paths[i] = filepath.Join(rt.networkDir(rec.ID), "ipam.json")
	}
	return netsetup.ReleaseFrom(paths, id)
}

// Connect attaches the container to the network, at once if it runs (or
// is created), else when it next starts, as `docker network connect`. It
// fails with ErrConflict if the container is already on the network or
// uses the host's or another container's network namespace (or none).
func (n *Network) Connect(ctx context.Context, c *Container, opts ...EndpointOption) error {
	if err := n.rt.checkOpen(); err != nil {
		return err
	}
	var epc endpointConfig
	for _, o := range opts {
		if err := o(&epc); err != nil {
			return fmt.Errorf("connect %s to network %s: %w", shortContainerID(c.id), n.rec.Name, err)
		}
	}
	if err := n.connect(ctx, c, epc); err != nil {
		return fmt.Errorf("connect %s to network %s: %w", shortContainerID(c.id), n.rec.Name, err)
	}
	return nil
}

func (n *Network) connect(ctx context.Context, c *Container, epc endpointConfig) (retErr error) {
	if err := checkEndpoint(&n.rec, epc); err != nil {
		return err
	}
	st := c.stateCopy()
	if st.NetworkMode != NetworkModeBridge {
		return fmt.Errorf("%w: the container's network mode is %s", ErrConflict, st.NetworkMode)
	}
	if slices.ContainsFunc(st.Networks, func(e endpointState) bool { return e.NetworkID == n.rec.ID }) {
		return fmt.Errorf("%w: already connected", ErrConflict)
	}
	ep := endpointState{NetworkID: n.rec.ID, Name: n.rec.Name, Aliases: epc.aliases, StaticIP: epc.ip}
	running := st.netLive() && st.Status != StatusExited && st.Pid > 0
	if running {
		used := map[string]bool{}
		routed := false
		recs, err := n.rt.readNetworks()
		if err != nil {
			return err
		}
		for _, e := range st.Networks {
			if e.IP.IsValid() {
				used[e.IfName] = true
				if r, err := findNetwork(recs, e.NetworkID); err == nil && !r.Internal {
					routed = true
				}
			}
		}
		index := 0
		for used["eth"+strconv.Itoa(index)] {
			index++
		}
		err = n.rt.withNetworks(func(recs []networkRecord) error {
			rec, err := findNetwork(recs, n.rec.ID)
			if err != nil {
				return err
			}
			return allocate(n.rt, rec, st.ID, &ep, index)
		})
		if err != nil {
			return err
		}
		defer func() {
			if retErr != nil {
				retErr = errors.Join(retErr, n.releaseOne(st.ID))
			}
		}()
		ns, err := netns.GetFromPath("/proc/" + strconv.Itoa(st.Pid) + "/ns/net")
		if err != nil {
			return err
		}
		defer ns.Close()
		if err := n.rt.attachEndpoint(ns, &st, &n.rec, ep, !routed); err != nil {
			return err
		}
	}
	if !n.rec.Default {
		if err := c.connectDNS(running); err != nil { // dns_serve_linux.go
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Networks = append(c.st.Networks, ep)
	return writeState(n.rt.containerDir(c.id), &c.st)
}

// releaseOne frees the container's address on this network.
func (n *Network) releaseOne(id string) error {
	ipam, err := netsetup.OpenIPAM(filepath.Join(n.rt.networkDir(n.rec.ID), "ipam.json"))
	if err != nil {
		return err
	}
	return ipam.Release(id)
}

// Disconnect detaches the container from the network: its interface is
// deleted at once if it runs, and its address and names are released. It
// fails with ErrNotFound if the container is not on the network.
func (n *Network) Disconnect(ctx context.Context, c *Container) error {
	if err := n.rt.checkOpen(); err != nil {
		return err
	}
	st := c.stateCopy()
	i := slices.IndexFunc(st.Networks, func(e endpointState) bool { return e.NetworkID == n.rec.ID })
	if i < 0 {
		return fmt.Errorf("disconnect %s from network %s: %w: not connected", shortContainerID(c.id), n.rec.Name, ErrNotFound)
	}
	ep := st.Networks[i]
	var errs []error
	if ep.IP.IsValid() && st.netLive() && st.Pid > 0 {
		if ns, err := netns.GetFromPath("/proc/" + strconv.Itoa(st.Pid) + "/ns/net"); err == nil {
			errs = append(errs, netsetup.DeleteLinkAt(ns, ep.IfName))
			ns.Close()
		}
		errs = append(errs, netsetup.DeleteLink(netsetup.HostVeth(st.ID, ep.IfName)))
	}
	errs = append(errs, n.releaseOne(st.ID), n.rt.unregisterNames(st.ID, n.rec.ID))
	c.mu.Lock()
	c.st.Networks = slices.DeleteFunc(c.st.Networks, func(e endpointState) bool { return e.NetworkID == n.rec.ID })
	errs = append(errs, writeState(n.rt.containerDir(c.id), &c.st))
	c.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disconnect %s from network %s: %w", shortContainerID(c.id), n.rec.Name, err)
	}
	return nil
}
