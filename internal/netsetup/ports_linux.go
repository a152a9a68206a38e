package netsetup

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrPortInUse is wrapped by PublishPorts' error for a host port that
// another container publishes or a host process has bound.
var ErrPortInUse = errors.New("host port in use")

// ErrNotHostAddress is wrapped by PublishPorts' error for a host address
// that is not an address of this host.
var ErrNotHostAddress = errors.New("not an address of this host")

// PublishPorts allocates the host ports specs ask for and installs their
// DNAT rules, owned by owner, towards ip, a container's address on the
// bridge whose port is veth (which gets hairpin mode, so the container
// reaches itself through a host address). UDP conntrack entries of the
// ports are flushed. It runs under a host-wide lock, so two processes
// never pick the same free port; a failure leaves no rule of owner.
func PublishPorts(owner string, ip netip.Addr, veth string, specs []PortSpec) (_ []PortRule, retErr error) {
	unlock, err := lockPorts()
	if err != nil {
		return nil, err
	}
	defer unlock()
	existing, err := PublishedPorts()
	if err != nil {
		return nil, err
	}
	a := portAllocator{}
	for _, p := range existing {
		if p.Owner != owner {
			a.taken = append(a.taken, p)
		}
	}
	var rules []PortRule
	for _, ps := range specs {
		rs, err := a.allocate(ps, ip)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rs...)
	}
	if err := Publish(owner, rules); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, Unpublish(owner))
		}
	}()
	var udp []uint16
	for _, r := range rules {
		if r.Proto == "udp" {
			udp = append(udp, r.HostPort)
		}
	}
	if err := FlushUDPConntrack(udp...); err != nil {
		return nil, err
	}
	if err := SetHairpin(veth); err != nil {
		return nil, err
	}
	return rules, nil
}

// portAllocator picks host ports that no other container publishes (the
// rules of every hull root in this network namespace) and no host process
// has bound.
type portAllocator struct {
	taken []PortRule
}

func (a *portAllocator) allocate(ps PortSpec, ip netip.Addr) ([]PortRule, error) {
	rule := func(hostPort, ctrPort uint16) PortRule {
		return PortRule{Proto: ps.Proto, HostIP: ps.HostIP, HostPort: hostPort, Addr: ip, Port: ctrPort}
	}
	var out []PortRule
	take := func(r PortRule) {
		out = append(out, r)
		a.taken = append(a.taken, r)
	}
	switch {
	case ps.HostLo == 0: // a free port from the ephemeral range for each
		lo, hi := EphemeralRange()
		for p := ps.CtrLo; ; p++ {
			hp, err := a.firstFree(ps, lo, hi, true)
			if err != nil {
				return nil, err
			}
			take(rule(hp, p))
			if p == ps.CtrHi {
				break
			}
		}
	case ps.CtrLo == ps.CtrHi && ps.HostLo != ps.HostHi: // the first free port of the host range
		hp, err := a.firstFree(ps, ps.HostLo, ps.HostHi, false)
		if err != nil {
			return nil, err
		}
		take(rule(hp, ps.CtrLo))
	default: // exactly these ports
		for i := 0; i <= int(ps.CtrHi-ps.CtrLo); i++ {
			hp := ps.HostLo + uint16(i)
			if err := a.check(ps, hp); err != nil {
				return nil, err
			}
			take(rule(hp, ps.CtrLo+uint16(i)))
		}
	}
	return out, nil
}

// firstFree returns a free port in [lo, hi], starting at a random one if
// random is set.
func (a *portAllocator) firstFree(ps PortSpec, lo, hi uint16, random bool) (uint16, error) {
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
		if errors.Is(err, ErrNotHostAddress) {
			return 0, err
		}
		lastErr = err
	}
	return 0, fmt.Errorf("publish %q: no free host port in %d-%d: %w", ps.Raw, lo, hi, lastErr)
}

// check fails with ErrPortInUse if port is published by another
// container on an overlapping address or bound by a host process.
func (a *portAllocator) check(ps PortSpec, port uint16) error {
	for _, t := range a.taken {
		if t.Proto == ps.Proto && t.HostPort == port && addrsOverlap(t.HostIP, ps.HostIP) {
			return fmt.Errorf("%w: publish %q: host port %d/%s is already published by another container", ErrPortInUse, ps.Raw, port, ps.Proto)
		}
	}
	host := "0.0.0.0"
	if ps.HostIP.IsValid() {
		host = ps.HostIP.String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var err error
	if ps.Proto == "udp" {
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
		return fmt.Errorf("%w: publish %q: %s", ErrNotHostAddress, ps.Raw, host)
	default:
		return fmt.Errorf("%w: publish %q: host port %s/%s: %v", ErrPortInUse, ps.Raw, addr, ps.Proto, err)
	}
}

// addrsOverlap: two host addresses clash if equal or either is "every
// address".
func addrsOverlap(a, b netip.Addr) bool {
	anyAddr := func(x netip.Addr) bool { return !x.IsValid() || x.IsUnspecified() }
	return anyAddr(a) || anyAddr(b) || a == b
}

// EphemeralRange is the host's ip_local_port_range, where free host
// ports are picked (as Docker does); 32768-60999 if unreadable.
func EphemeralRange() (lo, hi uint16) {
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
	unlock, err := hostLock("hull-ports.lock")
	if err != nil {
		return nil, fmt.Errorf("lock host ports: %w", err)
	}
	return unlock, nil
}
