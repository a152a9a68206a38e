package hull

import (
	"fmt"
	"net"
	"strconv"

	"github.com/hullbox/hull/internal/netsetup"
)

// PortBinding is one published port of a container: connections to
// HostIP:HostPort on the host are forwarded to ContainerPort in the
// container. ContainerInspect.NetworkSettings.Ports lists them.
type PortBinding struct {
	// HostIP is the host address the port is published on; "0.0.0.0"
	// means every address of the host, 127.0.0.1 included.
	HostIP string
	// HostPort is the port on the host; when WithPublish left it out, it is
	// the port hull picked from the host's ephemeral range.
	HostPort uint16
	// ContainerPort is the port in the container.
	ContainerPort uint16
	// Proto is "tcp" or "udp".
	Proto string
}

// String formats the binding like `docker port`: "80/tcp -> 0.0.0.0:32768".
func (p PortBinding) String() string {
	return fmt.Sprintf("%d/%s -> %s", p.ContainerPort, p.Proto, net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort))))
}

// portSpec is one parsed WithPublish argument (netsetup allocates its
// host ports).
type portSpec = netsetup.PortSpec

// WithPublish publishes container ports on the host, like `docker run -p`:
//
//	"80"                  container port 80/tcp on a free host port, every address
//	"8080:80"             host port 8080
//	"127.0.0.1:8080:80"   only on 127.0.0.1
//	"127.0.0.1::80"       a free host port on 127.0.0.1
//	"8000-8001:80-81/udp" ranges of equal length; "8000-8010:80" takes the
//	                      first free port of the host range
//
// The protocol is tcp unless "/udp" is given. Published ports answer on
// the host's addresses (from other machines and from the host itself,
// 127.0.0.1 included) and from containers through a host address. A free
// port is taken from the host's ephemeral range (ip_local_port_range),
// never one another container publishes or a host process has bound; the
// choice is reported by Container.Inspect (NetworkSettings.Ports). An
// explicit host port that is taken makes Create fail with ErrConflict. The
// option may be repeated. Ports are published on the container's first
// non-internal network; containers without one (WithNetworkMode "none" or
// "host", internal networks only) publish nothing, as with Docker.
// Only IPv4 is supported. Default: nothing published.
func WithPublish(spec string) RunOption {
	return func(c *runConfig) error {
		ps, err := parsePortSpec(spec)
		if err != nil {
			return err
		}
		c.publish = append(c.publish, ps)
		return nil
	}
}

// wantsPublish reports whether WithPublish was given.
func (rc *runConfig) wantsPublish() bool { return len(rc.publish) > 0 }

// publishSpecs are the WithPublish arguments, kept in the container's
// state so that a start by another process publishes the same ports.
func (rc *runConfig) publishSpecs() []string {
	var out []string
	for _, ps := range rc.publish {
		out = append(out, ps.Raw)
	}
	return out
}

// parsePublishSpecs parses the specs publishSpecs kept; they were checked
// when given, so one that no longer parses is skipped.
func parsePublishSpecs(specs []string) []portSpec {
	var out []portSpec
	for _, s := range specs {
		if ps, err := parsePortSpec(s); err == nil {
			out = append(out, ps)
		}
	}
	return out
}

// parsePortSpec parses one WithPublish argument (netsetup.ParsePortSpec).
func parsePortSpec(spec string) (portSpec, error) {
	ps, err := netsetup.ParsePortSpec(spec)
	if err != nil {
		return portSpec{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return ps, nil
}
