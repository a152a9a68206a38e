package hull

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/netsetup"
)

// DefaultNetworkName is the network containers join when Create is given
// no network option: like Docker's "bridge", it has no name resolution.
// It is created on first use, on the bridge device hull0.
const DefaultNetworkName = "bridge"

// Keys of NetworkInspect.Options about the host's iptables filter table.
// Docker sets its FORWARD policy to DROP, which would drop hull's bridges'
// traffic too (with br_netfilter even between containers of one network);
// where it does, CreateNetwork inserts rules accepting the bridge's
// traffic at the top of Docker's DOCKER-USER chain (of FORWARD if there is
// none), and Remove deletes them. hull's own table still isolates the
// network.
const (
	// NetworkOptionFirewall lists the rules added, "; "-separated, each as
	// `iptables -S` prints it after its backend ("iptables-nft: -A
	// DOCKER-USER -i hull-0123456789 -j ACCEPT").
	NetworkOptionFirewall = "com.hullbox.hull.firewall"
	// NetworkOptionFirewallWarning says why the network's traffic may
	// still be dropped there (rules missing, no iptables-legacy binary).
	NetworkOptionFirewallWarning = "com.hullbox.hull.firewall.warning"
)

// NetworkMode is how a container is networked (Docker's
// HostConfig.NetworkMode): one of the constants below, or
// "container:<name|id>" to share a running container's network namespace.
type NetworkMode string

// Network modes for WithNetworkMode.
const (
	NetworkModeBridge NetworkMode = "bridge" // the default network
	NetworkModeNone   NetworkMode = "none"   // only a loopback interface
	NetworkModeHost   NetworkMode = "host"   // the host's network namespace
)

// Network is a user-defined (or the default) network: a Linux bridge with
// its own subnet, whose containers reach each other and, unless it is
// internal, the outside through NAT. Its state lives in the Runtime's root
// under networks/<id>/, so every process using the root sees it. A network
// lives until Removed; it is not tied to the process that created it.
type Network struct {
	rt  *Runtime
	rec networkRecord
}

// networkRecord is what the root keeps of a network (netsetup.Record:
// networks/<id>/network.json).
type networkRecord = netsetup.Record

// NetworkInspect describes a network. Its JSON form uses Docker's field
// names (`docker network inspect`).
type NetworkInspect struct {
	Name     string            `json:"Name"`     // "bridge" for the default network
	ID       string            `json:"Id"`       // 64 hex digits
	Created  time.Time         `json:"Created"`  // when CreateNetwork made it
	Scope    string            `json:"Scope"`    // always "local"
	Driver   string            `json:"Driver"`   // always "bridge"
	Internal bool              `json:"Internal"` // WithInternal
	Labels   map[string]string `json:"Labels"`   // WithNetworkLabels
	IPAM     NetworkIPAM       `json:"IPAM"`     // its subnet
	// Options name the bridge device (com.docker.network.bridge.name) and,
	// on a host whose iptables filter table drops forwarded traffic
	// (Docker's), the rules hull added there for the bridge
	// (NetworkOptionFirewall) or why it could not (NetworkOptionFirewallWarning).
	Options    map[string]string          `json:"Options"`
	Containers map[string]NetworkEndpoint `json:"Containers"` // running containers attached, by ID
}

// NetworkIPAM is the address part of NetworkInspect.
type NetworkIPAM struct {
	Driver string              `json:"Driver"` // always "default"
	Config []NetworkIPAMConfig `json:"Config"` // one subnet
}

// NetworkIPAMConfig is one subnet of a network.
type NetworkIPAMConfig struct {
	Subnet  string `json:"Subnet"`            // CIDR
	Gateway string `json:"Gateway"`           // the bridge's address
	IPRange string `json:"IPRange,omitempty"` // WithIPRange
}

// NetworkEndpoint is a container attached to a network, as NetworkInspect
// lists it.
type NetworkEndpoint struct {
	Name        string `json:"Name"`        // the container's
	MacAddress  string `json:"MacAddress"`  // of its interface on the network
	IPv4Address string `json:"IPv4Address"` // address/prefix length, e.g. "172.18.0.2/16"
}

// NetworkSettings is the network part of ContainerInspect.
type NetworkSettings struct {
	// IPAddress, Gateway and MacAddress are those of the first network,
	// for convenience (Docker fills them for the default network only).
	IPAddress  string `json:"IPAddress"`
	Gateway    string `json:"Gateway"`
	MacAddress string `json:"MacAddress"`
	// Networks are the container's networks by name.
	Networks map[string]EndpointSettings `json:"Networks"`
	// Ports are the published ports (WithPublish).
	Ports []PortBinding `json:"Ports"`
}

// EndpointSettings is a container's attachment to one network. IPAddress,
// Gateway and MacAddress are empty while the container is not running.
type EndpointSettings struct {
	NetworkID   string   `json:"NetworkID"`   // Network.ID
	Aliases     []string `json:"Aliases"`     // WithAlias
	IPAddress   string   `json:"IPAddress"`   // IPv4, without the prefix
	IPPrefixLen int      `json:"IPPrefixLen"` // the subnet's prefix length
	Gateway     string   `json:"Gateway"`     // the bridge's address
	MacAddress  string   `json:"MacAddress"`  // of the container's interface
}

// NetworkPruneReport is what PruneNetworks removed.
type NetworkPruneReport struct {
	NetworksDeleted []string // names, in name order
}

// ID returns the network's ID: 64 hex digits.
func (n *Network) ID() string { return n.rec.ID }

// Name returns the network's name.
func (n *Network) Name() string { return n.rec.Name }

// Inspect describes the network and the running containers attached to
// it. It fails with ErrNotFound if the network has been removed.
func (n *Network) Inspect(ctx context.Context) (NetworkInspect, error) {
	if err := ctx.Err(); err != nil {
		return NetworkInspect{}, fmt.Errorf("inspect network %s: %w", n.rec.Name, err)
	}
	recs, err := n.rt.readNetworks()
	if err != nil {
		return NetworkInspect{}, fmt.Errorf("inspect network %s: %w", n.rec.Name, err)
	}
	i := slices.IndexFunc(recs, func(r networkRecord) bool { return r.ID == n.rec.ID })
	if i < 0 {
		return NetworkInspect{}, fmt.Errorf("inspect network %s: %w", n.rec.Name, ErrNotFound)
	}
	r := recs[i]
	in := NetworkInspect{
		Name: r.Name, ID: r.ID, Created: r.Created, Scope: "local", Driver: "bridge",
		Internal: r.Internal, Labels: cloneLabels(r.Labels),
		IPAM:       NetworkIPAM{Driver: "default"},
		Options:    map[string]string{"com.docker.network.bridge.name": r.Bridge},
		Containers: map[string]NetworkEndpoint{},
	}
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	n.rt.firewallOptions(r.Bridge, in.Options)
	cfg := NetworkIPAMConfig{Subnet: r.Subnet.String(), Gateway: r.Gateway.String()}
	if r.IPRange.IsValid() {
		cfg.IPRange = r.IPRange.String()
	}
	in.IPAM.Config = []NetworkIPAMConfig{cfg}
	states, err := n.rt.readUnsettled(nil) // every live one is unsettled
	if err != nil {
		return NetworkInspect{}, fmt.Errorf("inspect network %s: %w", r.Name, err)
	}
	for _, st := range states {
		if !st.netLive() {
			continue
		}
		for _, ep := range st.Networks {
			if ep.NetworkID == r.ID && ep.IP.IsValid() {
				in.Containers[st.ID] = NetworkEndpoint{
					Name: st.Name, MacAddress: ep.MAC,
					IPv4Address: netip.PrefixFrom(ep.IP, ep.Bits).String(),
				}
			}
		}
	}
	return in, nil
}

// NetworkOption configures CreateNetwork.
type NetworkOption func(*networkConfig) error

type networkConfig struct {
	subnet   netip.Prefix
	gateway  netip.Addr
	ipRange  netip.Prefix
	internal bool
	labels   map[string]string
}

// check refuses a gateway or IP range that does not fit the subnet
// (ErrInvalidArgument), before anything is made.
func (c *networkConfig) check() error {
	if !c.subnet.IsValid() {
		if c.gateway.IsValid() || c.ipRange.IsValid() {
			return fmt.Errorf("%w: a gateway or IP range needs a subnet", ErrInvalidArgument)
		}
		return nil
	}
	if err := netsetup.CheckLayout(c.subnet, c.gateway, c.ipRange); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}

// parseV4Prefix is netsetup.ParsePrefix, its refusals ErrInvalidArgument.
func parseV4Prefix(what, s string) (netip.Prefix, error) {
	p, err := netsetup.ParsePrefix(what, s)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return p, nil
}

// WithSubnet sets the network's IPv4 subnet in CIDR form ("172.30.0.0/16").
// It must be between /8 and /30 and clear of the special blocks (0/8,
// loopback, link-local, multicast, 240/4), else ErrInvalidArgument; and
// CreateNetwork refuses one that overlaps an address or route of the host
// (ErrConflict). Unlike Docker, which takes any subnet given and so can
// cut the host off its own LAN. Default: the first of Docker's default
// pools (172.17.0.0/16 ... 172.31.0.0/16, then /20s of 192.168.0.0/16)
// that overlaps no address or route of the host and no other network.
func WithSubnet(cidr string) NetworkOption {
	return func(c *networkConfig) error {
		p, err := parseV4Prefix("subnet", cidr)
		if err == nil {
			if err = netsetup.CheckSubnet(p); err != nil {
				err = fmt.Errorf("%w: %w", ErrInvalidArgument, err)
			}
		}
		c.subnet = p
		return err
	}
}

// WithGateway sets the address of the bridge, which containers use as
// their default route. It needs WithSubnet, and must be a host address of
// it (neither its network nor its broadcast address), else
// ErrInvalidArgument. Default: the subnet's first host address.
func WithGateway(ip string) NetworkOption {
	return func(c *networkConfig) error {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%w: gateway %q: want an IPv4 address", ErrInvalidArgument, ip)
		}
		c.gateway = a
		return nil
	}
}

// WithIPRange restricts the addresses handed out to containers to a part
// of the subnet (CIDR), like `docker network create --ip-range`. It needs
// WithSubnet. Default: the whole subnet.
func WithIPRange(cidr string) NetworkOption {
	return func(c *networkConfig) error {
		p, err := parseV4Prefix("ip range", cidr)
		c.ipRange = p
		return err
	}
}

// WithInternal makes the network internal: its containers reach each
// other but nothing outside it, and nothing outside reaches them. Default:
// outbound traffic is masqueraded to the host's address.
func WithInternal() NetworkOption {
	return func(c *networkConfig) error {
		c.internal = true
		return nil
	}
}

// WithNetworkLabels adds labels to the network. Default: none.
func WithNetworkLabels(labels map[string]string) NetworkOption {
	return func(c *networkConfig) error {
		for k := range labels {
			if k == "" {
				return fmt.Errorf("%w: empty network label key", ErrInvalidArgument)
			}
		}
		if c.labels == nil {
			c.labels = map[string]string{}
		}
		maps.Copy(c.labels, labels)
		return nil
	}
}

// EndpointOption configures a container's attachment to a network
// (WithNetwork, Network.Connect).
type EndpointOption func(*endpointConfig) error

type endpointConfig struct {
	aliases []string
	ip      netip.Addr
}

// WithAlias adds names under which the container is found on this network,
// besides its name and short ID. Only user-defined networks resolve names.
// Default: none.
func WithAlias(names ...string) EndpointOption {
	return func(c *endpointConfig) error {
		for _, n := range names {
			if !validName(n) {
				return fmt.Errorf("%w: alias %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", ErrInvalidArgument, n)
			}
		}
		c.aliases = append(c.aliases, names...)
		return nil
	}
}

// WithIP gives the container a fixed IPv4 address in this network's subnet;
// the default network refuses it (ErrInvalidArgument), and an address in
// use is ErrConflict. Unlike Docker, a network whose subnet was chosen by
// hull allows it too. Default: the next free address.
func WithIP(addr string) EndpointOption {
	return func(c *endpointConfig) error {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%w: IP %q: want an IPv4 address", ErrInvalidArgument, addr)
		}
		c.ip = a
		return nil
	}
}

// netRunConfig is the network part of runConfig.
type netRunConfig struct {
	mode   NetworkMode // "", "bridge", "none", "host", "container:<name|id>"
	attach []netAttach
}

type netAttach struct {
	net *Network
	ep  endpointConfig
}

// WithNetwork attaches the container to n; repeat it for several networks
// (the first gives the default route). On a user-defined network the
// container is found by its name, its short ID and WithAlias names. Default:
// the default network "bridge" (see WithNetworkMode).
func WithNetwork(n *Network, opts ...EndpointOption) RunOption {
	return func(c *runConfig) error {
		if n == nil {
			return fmt.Errorf("%w: WithNetwork(nil)", ErrInvalidArgument)
		}
		var ep endpointConfig
		for _, o := range opts {
			if err := o(&ep); err != nil {
				return err
			}
		}
		for _, a := range c.net.attach {
			if a.net.ID() == n.ID() {
				return fmt.Errorf("%w: network %s given twice", ErrInvalidArgument, n.Name())
			}
		}
		c.net.attach = append(c.net.attach, netAttach{net: n, ep: ep})
		return nil
	}
}

// WithNetworkMode sets how the container is networked: "bridge" (the
// default network, created on first use), "none" (a network namespace
// with only loopback), "host" (the host's network namespace, no
// isolation) or "container:<name|id>" (the network namespace of that
// running container). "none", "host" and "container:" exclude WithNetwork.
// Default: "bridge" unless WithNetwork is given.
func WithNetworkMode(mode NetworkMode) RunOption {
	return func(c *runConfig) error {
		switch {
		case mode == NetworkModeBridge || mode == NetworkModeNone || mode == NetworkModeHost:
		case strings.HasPrefix(string(mode), "container:") && len(mode) > len("container:"):
		default:
			return fmt.Errorf("%w: network mode %q: want bridge, none, host or container:<name|id>", ErrInvalidArgument, mode)
		}
		c.net.mode = mode
		return nil
	}
}

// endpointState is one network of a container, in its state file.
type endpointState struct {
	NetworkID string     `json:"networkID"`
	Name      string     `json:"name"` // the network's name
	Aliases   []string   `json:"aliases,omitempty"`
	StaticIP  netip.Addr `json:"staticIP,omitzero"` // WithIP()
	// Set while attached (the container runs):
	IP      netip.Addr `json:"ip,omitzero"`
	Bits    int        `json:"bits,omitempty"`
	Gateway netip.Addr `json:"gateway,omitzero"`
	MAC     string     `json:"mac,omitempty"`
	IfName  string     `json:"ifName,omitempty"`
}

// netLive reports whether a container holds (or is about to hold) network
// resources: its init runs, or it is created (its addresses taken, no
// process yet) and its owner lives: its creator, or the process whose
// Start is launching it (launchCreated). A created one whose owner died
// gives its addresses back (Open's recoverNetworks); its Start takes new
// ones.
func (st *containerState) netLive() bool {
	return st.alive() || st.unstarted() && st.ownerAlive()
}

// networkSettings is the NetworkSettings of ContainerInspect.
func (st *containerState) networkSettings() NetworkSettings {
	ns := NetworkSettings{Networks: map[string]EndpointSettings{}, Ports: slices.Clone(st.Ports)}
	live := st.Status != StatusExited && st.netLive()
	for i, ep := range st.Networks {
		es := EndpointSettings{NetworkID: ep.NetworkID, Aliases: slices.Clone(ep.Aliases)}
		if live && ep.IP.IsValid() {
			es.IPAddress, es.IPPrefixLen, es.MacAddress = ep.IP.String(), ep.Bits, ep.MAC
			if ep.Gateway.IsValid() {
				es.Gateway = ep.Gateway.String()
			}
		}
		if i == 0 {
			ns.IPAddress, ns.Gateway, ns.MacAddress = es.IPAddress, es.Gateway, es.MacAddress
		}
		ns.Networks[ep.Name] = es
	}
	return ns
}

func (rt *Runtime) networksDir() string { return filepath.Join(rt.cfg.root, "networks") }

func (rt *Runtime) networkDir(id string) string { return filepath.Join(rt.networksDir(), id) }

// readNetworks reads every network's record, sorted by name
// (netsetup.ReadRecords).
func (rt *Runtime) readNetworks() ([]networkRecord, error) {
	return netsetup.ReadRecords(rt.networksDir())
}

// findNetwork looks a network up by full ID, name or unique ID prefix
// (netsetup.Find).
func findNetwork(recs []networkRecord, idOrName string) (*networkRecord, error) {
	rec, err := netsetup.Find(recs, idOrName)
	return rec, alsoIs(alsoIs(err, netsetup.ErrNoNetwork, ErrNotFound), netsetup.ErrAmbiguous, ErrConflict)
}

// Network finds a network by ID, unique ID prefix or name; the error wraps
// ErrNotFound if there is none. The default network "bridge" exists once
// a container has used it.
func (rt *Runtime) Network(ctx context.Context, idOrName string) (*Network, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	recs, err := rt.readNetworks()
	if err != nil {
		return nil, err
	}
	rec, err := findNetwork(recs, idOrName)
	if err != nil {
		return nil, err
	}
	return &Network{rt: rt, rec: *rec}, nil
}

// Networks lists the networks, sorted by name.
func (rt *Runtime) Networks(ctx context.Context) ([]*Network, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	recs, err := rt.readNetworks()
	if err != nil {
		return nil, err
	}
	out := make([]*Network, len(recs))
	for i := range recs {
		out[i] = &Network{rt: rt, rec: recs[i]}
	}
	return out, nil
}
