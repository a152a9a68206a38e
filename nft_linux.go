package hull

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/netsetup"
	"golang.org/x/sys/unix"
)

// The networking hooks of port publishing and network rules: NET-CORE's
// network code calls them; internal/netsetup writes the nftables rules.
// Rules are tagged with an owner "<root tag>:<container id or bridge>", so
// several roots can share a host (or a network namespace) and each one's
// recovery only drops its own.

// ruleOwner names a container or bridge of this root in rule comments.
func (rt *Runtime) ruleOwner(name string) string {
	root, err := filepath.Abs(rt.cfg.root)
	if err != nil {
		root = rt.cfg.root
	}
	sum := sha256.Sum256([]byte(root))
	return hex.EncodeToString(sum[:4]) + ":" + name
}

// setupNetworkRules installs a bridge's NAT, isolation and (internal)
// confinement rules; see netsetup.SetupBridge. Idempotent.
func (rt *Runtime) setupNetworkRules(bridge string, subnet netip.Prefix, internal bool) error {
	return netsetup.SetupBridge(rt.ruleOwner(bridge), bridge, subnet, internal)
}

// removeNetworkRules deletes a bridge's rules; idempotent.
func (rt *Runtime) removeNetworkRules(bridge string) error {
	return netsetup.RemoveBridge(rt.ruleOwner(bridge))
}

// unpublishPorts deletes a container's published-port rules; idempotent.
func (rt *Runtime) unpublishPorts(id string) error {
	return netsetup.Unpublish(rt.ruleOwner(id))
}

// recoverNetRules drops this root's rules whose container or bridge is gone.
func (rt *Runtime) recoverNetRules(liveContainers map[string]bool, liveBridges map[string]bool) error {
	ctrs, brs, err := netsetup.Owners()
	if err != nil {
		return err
	}
	prefix := rt.ruleOwner("")
	var errs []error
	for _, o := range ctrs {
		if id, ok := strings.CutPrefix(o, prefix); ok && !liveContainers[id] {
			errs = append(errs, netsetup.Unpublish(o))
		}
	}
	for _, o := range brs {
		if br, ok := strings.CutPrefix(o, prefix); ok && !liveBridges[br] {
			errs = append(errs, netsetup.RemoveBridge(o))
		}
	}
	return errors.Join(errs...)
}

// publishPorts allocates the host ports rc asks for and installs their
// DNAT rules towards ip, the container's address on the network whose
// bridge port is veth. It runs under a host-wide lock, so two processes
// never pick the same free port.
func (rt *Runtime) publishPorts(id string, ip netip.Addr, veth string, rc *runConfig) (_ []PortBinding, retErr error) {
	unlock, err := lockPorts()
	if err != nil {
		return nil, err
	}
	defer unlock()
	owner := rt.ruleOwner(id)
	existing, err := netsetup.PublishedPorts()
	if err != nil {
		return nil, err
	}
	a := portAllocator{}
	for _, p := range existing {
		if p.Owner != owner {
			a.taken = append(a.taken, p)
		}
	}
	var rules []netsetup.PortRule
	for _, ps := range rc.publish {
		rs, err := a.allocate(ps, ip)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rs...)
	}
	if err := netsetup.Publish(owner, rules); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, netsetup.Unpublish(owner))
		}
	}()
	var udp []uint16
	for _, r := range rules {
		if r.Proto == "udp" {
			udp = append(udp, r.HostPort)
		}
	}
	if err := netsetup.FlushUDPConntrack(udp...); err != nil {
		return nil, err
	}
	// The container's own port needs hairpin mode to reach itself through
	// a host address (see netsetup.SetHairpin).
	if err := netsetup.SetHairpin(veth); err != nil {
		return nil, err
	}
	out := make([]PortBinding, len(rules))
	for i, r := range rules {
		hostIP := "0.0.0.0"
		if r.HostIP.IsValid() {
			hostIP = r.HostIP.String()
		}
		out[i] = PortBinding{HostIP: hostIP, HostPort: r.HostPort, ContainerPort: r.Port, Proto: r.Proto}
	}
	return out, nil
}

// portAllocator picks host ports that no other container publishes (the
// rules of every hull root in this network namespace) and no host process
// has bound.
type portAllocator struct {
	taken []netsetup.PortRule
}

func (a *portAllocator) allocate(ps portSpec, ip netip.Addr) ([]netsetup.PortRule, error) {
	rule := func(hostPort, ctrPort uint16) netsetup.PortRule {
		return netsetup.PortRule{Proto: ps.proto, HostIP: ps.hostIP, HostPort: hostPort, Addr: ip, Port: ctrPort}
	}
	var out []netsetup.PortRule
	take := func(r netsetup.PortRule) {
		out = append(out, r)
		a.taken = append(a.taken, r)
	}
	switch {
	case ps.hostLo == 0: // a free port from the ephemeral range for each
		lo, hi := ephemeralRange()
		for p := ps.ctrLo; ; p++ {
			hp, err := a.firstFree(ps, lo, hi, true)
			if err != nil {
				return nil, err
			}
			take(rule(hp, p))
			if p == ps.ctrHi {
				break
			}
		}
	case ps.ctrLo == ps.ctrHi && ps.hostLo != ps.hostHi: // the first free port of the host range
		hp, err := a.firstFree(ps, ps.hostLo, ps.hostHi, false)
		if err != nil {
			return nil, err
		}
		take(rule(hp, ps.ctrLo))
	default: // exactly these ports
		for i := 0; i <= int(ps.ctrHi-ps.ctrLo); i++ {
			hp := ps.hostLo + uint16(i)
			if err := a.check(ps, hp); err != nil {
				return nil, err
			}
			take(rule(hp, ps.ctrLo+uint16(i)))
		}
	}
	return out, nil
}

// firstFree returns a free port in [lo, hi], starting at a random one if
// random is set.
func (a *portAllocator) firstFree(ps portSpec, lo, hi uint16, random bool) (uint16, error) {
	n := int(hi-lo) + 1
	start := 0
	if random {
		start = rand.IntN(n)
	}
	var lastErr error
	for i := range n {
		p := lo + uint16((start+i)%n)
		err := a.check(ps, p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrInvalidArgument) {
			return 0, err
		}
		lastErr = err
	}
	return 0, fmt.Errorf("publish %q: no free host port in %d-%d: %w", ps.raw, lo, hi, lastErr)
}

// check fails with ErrConflict if port is published by another container
// on an overlapping address or bound by a host process.
func (a *portAllocator) check(ps portSpec, port uint16) error {
	for _, t := range a.taken {
		if t.Proto == ps.proto && t.HostPort == port && addrsOverlap(t.HostIP, ps.hostIP) {
			return fmt.Errorf("%w: publish %q: host port %d/%s is already published by another container", ErrConflict, ps.raw, port, ps.proto)
		}
	}
	host := "0.0.0.0"
	if ps.hostIP.IsValid() {
		host = ps.hostIP.String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var err error
	if ps.proto == "udp" {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp4", addr); err == nil {
			pc.Close()
		}
	} else {
		var ln net.Listener
		if ln, err = net.Listen("tcp4", addr); err == nil {
			ln.Close()
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return fmt.Errorf("%w: publish %q: %s is not an address of this host", ErrInvalidArgument, ps.raw, host)
	default:
		return fmt.Errorf("%w: publish %q: host port %s/%s: %v", ErrConflict, ps.raw, addr, ps.proto, err)
	}
}

// addrsOverlap: two host addresses clash if equal or either is "every
// address".
func addrsOverlap(a, b netip.Addr) bool {
	anyAddr := func(x netip.Addr) bool { return !x.IsValid() || x.IsUnspecified() }
	return anyAddr(a) || anyAddr(b) || a == b
}

// ephemeralRange is the host's ip_local_port_range (Docker picks random
// host ports there too); 32768-60999 if unreadable.
func ephemeralRange() (uint16, uint16) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(data))
		if len(f) == 2 {
			lo, err1 := strconv.ParseUint(f[0], 10, 16)
			hi, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && lo > 0 && lo <= hi {
				return uint16(lo), uint16(hi)
			}
		}
	}
	return 32768, 60999
}

// lockPorts serializes port allocation between the processes (and roots)
// of this host: an flock on /run/lock/hull-ports.lock.
func lockPorts() (func(), error) {
	dir := "/run/lock"
	if _, err := os.Stat(dir); err != nil {
		dir = os.TempDir()
	}
	l, err := fsutil.LockFile(filepath.Join(dir, "hull-ports.lock"), fsutil.CreateDir)
	if err != nil {
		return nil, fmt.Errorf("lock host ports: %w", err)
	}
	return l.Unlock, nil
}
