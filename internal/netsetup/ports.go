package netsetup

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortSpec is one port publication as `docker run -p` states it. A zero
// HostLo means "pick a free port from the ephemeral range for each
// container port"; a host range with a single container port means "the
// first free port of the range", as Docker.
type PortSpec struct {
	Raw            string     // as given, for errors
	HostIP         netip.Addr // invalid: every address
	HostLo, HostHi uint16
	CtrLo, CtrHi   uint16
	Proto          string // "tcp" or "udp"
}

// ParsePortSpec parses one `docker run -p` argument:
// [hostIP:][hostPort:]containerPort[/tcp|udp], each port possibly a range
// ("8000-8010"), an IPv6 host address in brackets. Only IPv4 host
// addresses are accepted, and 0.0.0.0 reads as every address (an invalid
// HostIP). Errors name the spec.
func ParsePortSpec(spec string) (PortSpec, error) {
	ps := PortSpec{Raw: spec, Proto: "tcp"}
	bad := func(format string, args ...any) (PortSpec, error) {
		return PortSpec{}, fmt.Errorf("publish %q: %s", spec, fmt.Sprintf(format, args...))
	}
	rest := spec
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		ps.Proto = strings.ToLower(rest[i+1:])
		rest = rest[:i]
		if ps.Proto != "tcp" && ps.Proto != "udp" {
			return bad("protocol %q: want tcp or udp", ps.Proto)
		}
	}
	var host, hostPorts, ctrPorts string
	if strings.HasPrefix(rest, "[") { // [IPv6]:hostPort:containerPort
		end := strings.Index(rest, "]")
		if end < 0 {
			return bad("unclosed [")
		}
		host, rest = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
		parts := strings.Split(rest, ":")
		if len(parts) != 2 {
			return bad("want [hostIP]:[hostPort]:containerPort")
		}
		hostPorts, ctrPorts = parts[0], parts[1]
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			ctrPorts = parts[0]
		case 2:
			hostPorts, ctrPorts = parts[0], parts[1]
		case 3:
			host, hostPorts, ctrPorts = parts[0], parts[1], parts[2]
		default:
			return bad("want [hostIP:][hostPort:]containerPort[/tcp|udp]")
		}
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return bad("host address %q is not an IP address", host)
		}
		if !a.Unmap().Is4() {
			return bad("IPv6 host address %s: only IPv4 is supported", a)
		}
		if a = a.Unmap(); !a.IsUnspecified() {
			ps.HostIP = a
		}
	}
	var err error
	if ps.CtrLo, ps.CtrHi, err = parsePortRange(ctrPorts, false); err != nil {
		return bad("container port: %v", err)
	}
	if hostPorts != "" {
		if ps.HostLo, ps.HostHi, err = parsePortRange(hostPorts, true); err != nil {
			return bad("host port: %v", err)
		}
	}
	if n := ps.HostHi - ps.HostLo; ps.HostLo != 0 && ps.CtrHi != ps.CtrLo && n != ps.CtrHi-ps.CtrLo {
		return bad("host range %d-%d and container range %d-%d differ in length", ps.HostLo, ps.HostHi, ps.CtrLo, ps.CtrHi)
	}
	return ps, nil
}

// parsePortRange parses "80" or "8000-8010". Port 0 is allowed on the host
// side only, meaning "any" (Docker's "0:80").
func parsePortRange(s string, host bool) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, fmt.Errorf("missing")
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %s ends before it starts", s)
		}
	}
	if lo == 0 && (!host || isRange) {
		return 0, 0, fmt.Errorf("port 0")
	}
	return lo, hi, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number (0-65535)", s)
	}
	return uint16(n), nil
}
