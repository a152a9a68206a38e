package netsetup

import "net/netip"

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
