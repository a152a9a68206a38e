package netsetup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TableName is hull's nftables table (family ip). hull touches no other
// table, except to accept its bridges' traffic where Docker's iptables
// filter table would drop it (AcceptForeign, foreignfw_linux.go).
//
// Layout (every rule carries a comment naming its owner, so that the rules
// of one container or one bridge can be found and deleted):
//
//	chain guard       filter prerouting raw:   per bridge: iifname BR ip daddr 127.0.0.0/8 drop
//	chain prerouting  nat prerouting dstnat:   per port: fib daddr type local [ip daddr H] l4proto P th dport HP dnat to C:CP
//	chain output      nat output dstnat:       the same, for connections made by the host itself
//	chain postrouting nat postrouting srcnat:  per bridge: masquerade out, of 127/8 sources, and hairpin
//	chain forward     filter forward filter:   per bridge: nothing new enters BR from elsewhere unless DNATed
//	                                           (isolation); internal: nothing enters or leaves BR
//
// All rules are independent of their order: the forward chain holds only
// drops whose conditions name their own bridge, the nat chains hold only
// terminal NAT verdicts whose matches do not overlap between owners. So
// rules of different bridges and containers may be added in any order by
// any number of processes.
const TableName = "hull"

const (
	chainGuard       = "guard"
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainForward     = "forward"

	tagContainer = "hull ctr "
	tagBridge    = "hull br "
)

// PortRule is one published port of a container: connections to
// HostIP:HostPort (HostIP invalid or unspecified: any local address) are
// sent to Addr:Port.
type PortRule struct {
	Owner    string     // container id; filled in by PublishedPorts
	Proto    string     // "tcp" or "udp"
	HostIP   netip.Addr // invalid or 0.0.0.0: every local address
	HostPort uint16
	Addr     netip.Addr // the container's address on its bridge
	Port     uint16
}

func (p PortRule) hostIP() string {
	if !p.HostIP.IsValid() {
		return "0.0.0.0"
	}
	return p.HostIP.String()
}

func (p PortRule) comment(owner string) string {
	return fmt.Sprintf("%s%s %s %s:%d %s:%d", tagContainer, owner, p.Proto, p.hostIP(), p.HostPort, p.Addr, p.Port)
}

func parsePortComment(s string) (PortRule, bool) {
	f := strings.Fields(strings.TrimPrefix(s, tagContainer))
	if len(f) != 4 {
		return PortRule{}, false
	}
	host, err1 := netip.ParseAddrPort(f[2])
	ctr, err2 := netip.ParseAddrPort(f[3])
	if err1 != nil || err2 != nil {
		return PortRule{}, false
	}
	return PortRule{Owner: f[0], Proto: f[1], HostIP: host.Addr(), HostPort: host.Port(),
		Addr: ctr.Addr(), Port: ctr.Port()}, true
}

var table = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}

func chains() []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	mk := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: table, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	return []*nftables.Chain{
		mk(chainGuard, nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw),
		mk(chainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		mk(chainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		mk(chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource),
		mk(chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter),
	}
}

func chainRef(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: table}
}

// ensure queues the creation of hull's table and chains into c's batch.
// Adding an existing table or base chain without NLM_F_EXCL is a no-op, so
// every batch that adds rules carries this: the batch is atomic, and two
// processes racing to create the table both succeed, and a rule is never
// added to a table that is not there.
func ensure(c *nftables.Conn) {
	c.AddTable(table)
	for _, ch := range chains() {
		c.AddChain(ch)
	}
}

// ownedRule is an existing rule with the comment naming its owner.
type ownedRule struct {
	rule    *nftables.Rule
	comment string
}

// listRules returns the rules of the named chains of hull's table (all
// chains if none is named) and whether the table exists. It reads only
// each rule's handle and comment, straight from a netlink dump: decoding
// every expression (nftables.Conn.GetRules) cost milliseconds per hundred
// rules, paid by every container start.
func listRules(names ...string) ([]ownedRule, bool, error) {
	if len(names) == 0 {
		for _, ch := range chains() {
			names = append(names, ch.Name)
		}
	}
	return listTableRules(table, names)
}

// listTableRules is listRules for the named chains of any IPv4 table t.
// A missing table or chain is reported as not existing.
func listTableRules(t *nftables.Table, names []string) ([]ownedRule, bool, error) {
	conn, err := mnl.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, false, fmt.Errorf("nftables: %w", err)
	}
	defer conn.Close()
	var out []ownedRule
	for _, name := range names {
		attrs, err := mnl.MarshalAttributes([]mnl.Attribute{
			{Type: unix.NFTA_RULE_TABLE, Data: []byte(t.Name + "\x00")},
			{Type: unix.NFTA_RULE_CHAIN, Data: []byte(name + "\x00")},
		})
		if err != nil {
			return nil, false, err
		}
		req := mnl.Message{
			Header: mnl.Header{
				Type:  mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
				Flags: mnl.Request | mnl.Dump,
			},
			Data: append([]byte{unix.NFPROTO_IPV4, unix.NFNETLINK_V0, 0, 0}, attrs...),
		}
		msgs, err := conn.Execute(req)
		// A dump that spans several reads is flagged interrupted when the
		// ruleset changed between them: it may miss rules, so read again.
		for i := 0; i < 10 && err == nil && interrupted(msgs); i++ {
			msgs, err = conn.Execute(req)
		}
		if err == nil && interrupted(msgs) {
			err = errors.New("the ruleset kept changing during the dump")
		}
		if errors.Is(err, unix.ENOENT) {
			return nil, false, nil // the table (with its chains) is not there yet
		}
		if err != nil {
			return nil, false, fmt.Errorf("nftables: list %s %s: %w", t.Name, name, err)
		}
		for _, m := range msgs {
			r := ownedRule{rule: &nftables.Rule{Table: t, Chain: &nftables.Chain{Name: name, Table: t}}}
			if len(m.Data) < 4 {
				continue
			}
			ad, err := mnl.NewAttributeDecoder(m.Data[4:])
			if err != nil {
				return nil, false, err
			}
			ad.ByteOrder = binary.BigEndian
			for ad.Next() {
				switch ad.Type() {
				case unix.NFTA_RULE_HANDLE:
					r.rule.Handle = ad.Uint64()
				case unix.NFTA_RULE_USERDATA:
					r.rule.UserData = ad.Bytes()
				}
			}
			if err := ad.Err(); err != nil {
				return nil, false, err
			}
			r.comment, _ = userdata.GetString(r.rule.UserData, userdata.TypeComment)
			out = append(out, r)
		}
	}
	return out, true, nil
}

// interrupted tells whether the kernel flagged a dump as inconsistent.
func interrupted(msgs []mnl.Message) bool {
	return slices.ContainsFunc(msgs, func(m mnl.Message) bool { return m.Header.Flags&mnl.DumpInterrupted != 0 })
}

// replace atomically deletes the rules of the named chains whose comment
// matches drop and adds the rules built by add, retrying when another
// process changed the table between listing and committing (a deleted
// rule that is already gone fails the whole batch, which then changed
// nothing). The table and chains are created in the same batch when
// missing: re-adding existing base chains on every change would cost a
// slow kernel commit each time.
func replace(names []string, drop func(comment string) bool, add func(c *nftables.Conn)) error {
	var err error
	for attempt := range 5 {
		var c *nftables.Conn
		if c, err = nftables.New(); err != nil {
			return err
		}
		rules, exists, lerr := listRules(names...)
		if lerr != nil {
			return lerr
		}
		if !exists || attempt > 0 {
			ensure(c)
		}
		n := 0
		for _, r := range rules {
			if drop(r.comment) {
				if err = c.DelRule(r.rule); err != nil {
					return err
				}
				n++
			}
		}
		if add != nil {
			add(c)
		} else if n == 0 {
			return nil // nothing to do: no commit
		}
		if err = c.Flush(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("nftables: update table %s: %w", TableName, err)
}

var (
	bridgeChains = []string{chainGuard, chainForward, chainPostrouting}
	portChains   = []string{chainPrerouting, chainOutput}
)

func addRule(c *nftables.Conn, chain, comment string, exprs ...[]expr.Any) {
	c.AddRule(&nftables.Rule{
		Table:    table,
		Chain:    chainRef(chain),
		Exprs:    slices.Concat(exprs...),
		UserData: userdata.AppendString(nil, userdata.TypeComment, comment),
	})
}

// SetupBridge installs the rules of one hull bridge, tagged with owner
// (a string without blanks naming the bridge for its user: several hull
// roots may share a network namespace), replacing any owner had:
//
//   - not internal: traffic from the subnet leaving by another interface is
//     masqueraded; nothing enters the bridge from elsewhere unless it belongs
//     to a connection made from inside (established/related) or was
//     addressed to a published port (DNAT), so two hull bridges cannot reach
//     each other; connections from 127.0.0.0/8 that a published port sends
//     into the bridge, and containers reaching a published port via a host
//     address (hairpin), are masqueraded so the replies come back through
//     the host. The bridge gets route_localnet=1 for the former, and packets
//     from the bridge to 127.0.0.0/8 are dropped so containers cannot use it
//     to reach the host's loopback services.
//   - internal: nothing is forwarded into or out of the bridge; members
//     still talk to each other.
//
// It also turns on IPv4 forwarding. The bridge must exist.
func SetupBridge(owner, bridge string, subnet netip.Prefix, internal bool) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	if !subnet.Addr().Is4() {
		return fmt.Errorf("nftables: subnet %s: only IPv4 is supported", subnet)
	}
	subnet = subnet.Masked()
	tag := tagBridge + owner
	if !internal {
		if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
		if err := writeSysctl("net/ipv4/conf/"+bridge+"/route_localnet", "1"); err != nil {
			return err
		}
	}
	return replace(bridgeChains, func(s string) bool { return s == tag }, func(c *nftables.Conn) {
		if internal {
			addRule(c, chainForward, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge),
				ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, bridge), drop())
			addRule(c, chainForward, tag, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge),
				ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, bridge), drop())
			return
		}
		loopback := netip.MustParsePrefix("127.0.0.0/8")
		addRule(c, chainGuard, tag, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge),
			ipInPrefix(16, loopback), drop())
		addRule(c, chainForward, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge),
			ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, bridge),
			ctBitsClear(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED),
			ctBitsClear(expr.CtKeySTATUS, ipsDstNAT), drop())
		addRule(c, chainPostrouting, tag, ipInPrefix(12, subnet),
			ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, bridge), masq())
		addRule(c, chainPostrouting, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge),
			ipInPrefix(12, loopback), masq())
		addRule(c, chainPostrouting, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge),
			ipInPrefix(12, subnet), ctBitsSet(expr.CtKeySTATUS, ipsDstNAT), masq())
	})
}

// RemoveBridge deletes every rule SetupBridge installed for owner, and
// those AcceptForeign added to the iptables filter table; none is not an
// error.
func RemoveBridge(owner string) error {
	tag := tagBridge + owner
	return errors.Join(replace(bridgeChains, func(s string) bool { return s == tag }, nil), removeForeign(owner))
}

// Publish installs the DNAT rules of owner (a container, named by a string
// without blanks), replacing any it had.
// Each port gets one rule for traffic from other hosts (and from
// containers: hairpin) and one for connections the host itself makes,
// including to 127.0.0.1 when HostIP allows it.
func Publish(id string, ports []PortRule) error {
	if err := checkOwner(id); err != nil {
		return err
	}
	for _, p := range ports {
		if p.Proto != "tcp" && p.Proto != "udp" {
			return fmt.Errorf("nftables: port %d: protocol %q: want tcp or udp", p.HostPort, p.Proto)
		}
		if !p.Addr.Is4() || p.HostIP.IsValid() && !p.HostIP.Is4() {
			return fmt.Errorf("nftables: port %d: only IPv4 is supported", p.HostPort)
		}
	}
	prefix := tagContainer + id + " "
	return replace(portChains, func(s string) bool { return strings.HasPrefix(s, prefix) }, func(c *nftables.Conn) {
		for _, p := range ports {
			m := slices.Concat(fibDaddrLocal(), hostIPMatch(p.HostIP), l4Port(p.Proto, p.HostPort), dnat(p.Addr, p.Port))
			if !p.HostIP.IsLoopback() {
				addRule(c, chainPrerouting, p.comment(id), m)
			}
			addRule(c, chainOutput, p.comment(id), m)
		}
	})
}

func checkOwner(owner string) error {
	if owner == "" || len(owner) > 100 || strings.ContainsFunc(owner, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' }) {
		return fmt.Errorf("nftables: bad rule owner %q", owner)
	}
	return nil
}

// Unpublish deletes every rule of owner id; none is not an error.
func Unpublish(id string) error {
	prefix := tagContainer + id + " "
	return replace(portChains, func(s string) bool { return strings.HasPrefix(s, prefix) }, nil)
}

// PublishedPorts lists the ports published by every container, as read
// back from the rules (one entry per port, not per rule).
func PublishedPorts() ([]PortRule, error) {
	rules, _, err := listRules(chainOutput) // every port has exactly one output rule
	if err != nil {
		return nil, err
	}
	var out []PortRule
	for _, r := range rules {
		if p, ok := parsePortComment(r.comment); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Owners lists the owners of published ports (containers) and of bridge
// rules that have rules in hull's table, each once, so recovery can drop
// those that are gone.
func Owners() (containers, bridges []string, err error) {
	rules, _, err := listRules(chainForward, chainOutput) // every owner has one there
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rules {
		switch {
		case strings.HasPrefix(r.comment, tagBridge):
			bridges = append(bridges, strings.TrimPrefix(r.comment, tagBridge))
		case strings.HasPrefix(r.comment, tagContainer):
			if p, ok := parsePortComment(r.comment); ok {
				containers = append(containers, p.Owner)
			}
		}
	}
	slices.Sort(containers)
	slices.Sort(bridges)
	return slices.Compact(containers), slices.Compact(bridges), nil
}

// RemoveOrphans drops the rules of the owners named prefix+name whose
// name is not in containers (published ports) or bridges (bridge rules):
// those a dead process left. Owners of other prefixes (other roots) are
// left alone.
func RemoveOrphans(prefix string, containers, bridges map[string]bool) error {
	ctrs, brs, err := Owners()
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range ctrs {
		if id, ok := strings.CutPrefix(o, prefix); ok && !containers[id] {
			errs = append(errs, Unpublish(o))
		}
	}
	for _, o := range brs {
		if br, ok := strings.CutPrefix(o, prefix); ok && !bridges[br] {
			errs = append(errs, RemoveBridge(o))
		}
	}
	return errors.Join(errs...)
}

// RemoveOwned deletes, in one batch, the rules (published ports and
// bridges alike) of every owner that owned says is to go: a sweep of a
// gone root's owners pays one commit, not one per owner.
func RemoveOwned(owned func(owner string) bool) error {
	all := slices.Concat(portChains, bridgeChains)
	return replace(all, func(c string) bool {
		switch {
		case strings.HasPrefix(c, tagContainer):
			o, _, _ := strings.Cut(strings.TrimPrefix(c, tagContainer), " ")
			return owned(o)
		case strings.HasPrefix(c, tagBridge):
			return owned(strings.TrimPrefix(c, tagBridge))
		}
		return false
	}, nil)
}

// FlushUDPConntrack forgets the kernel's connection tracking entries of UDP
// flows to the given host ports. NAT is decided on a flow's first packet,
// so a client that was already sending to a port before it was published
// (or while it belonged to a container now gone) would otherwise keep
// missing the new DNAT rule until its entry times out. Docker does the
// same when it publishes UDP ports.
func FlushUDPConntrack(ports ...uint16) error {
	if len(ports) == 0 {
		return nil
	}
	var filters []netlink.CustomConntrackFilter
	for _, p := range ports {
		f := &netlink.ConntrackFilter{}
		if err := f.AddProtocol(unix.IPPROTO_UDP); err != nil {
			return err
		}
		if err := f.AddPort(netlink.ConntrackOrigDstPort, p); err != nil {
			return err
		}
		filters = append(filters, f)
	}
	// A conntrack dump may skip entries while the table changes under it
	// (other containers' flows), without saying so: delete until a pass
	// finds nothing left to delete. A client that keeps sending makes a
	// new entry each pass, NATed already: a few passes are enough.
	for range 5 {
		n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("conntrack: forget udp flows: %w", err)
		}
		if n == 0 && err == nil {
			return nil
		}
	}
	return nil
}

// SetHairpin turns on hairpin mode on port, a bridge port (a host veth), so
// a frame may leave by the port it came in. A container reaching its own
// published port through a host address needs it when br_netfilter is
// loaded: the DNATed packet is then bridged back to the port it came from
// instead of routed. Docker does the same for every endpoint when its
// userland proxy is off. A side effect: the container also sees its own
// broadcasts reflected. The port is named rather than found by listing the
// bridge's links: a link dump races with every veth being created or
// deleted around it and fails as interrupted.
func SetHairpin(port string) error {
	l, err := netlink.LinkByName(port)
	if err != nil {
		return fmt.Errorf("hairpin on %s: %w", port, err)
	}
	if err := netlink.LinkSetHairpin(l, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", port, err)
	}
	return nil
}

// writeSysctl sets a sysctl of the calling thread's network namespace.
func writeSysctl(name, value string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

// --- expression builders (register 1 holds what is compared) ---

const ipsDstNAT = 1 << 5 // IPS_DST_NAT in the conntrack status bits

func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

// ipInPrefix matches the IPv4 source (offset 12) or destination (16)
// address against p.
func ipInPrefix(offset uint32, p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	a := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

func hostIPMatch(a netip.Addr) []expr.Any {
	if !a.IsValid() || a.IsUnspecified() {
		return nil
	}
	b := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
	}
}

func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func l4Port(proto string, port uint16) []expr.Any {
	p := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		p = unix.IPPROTO_UDP
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

func ctBits(key expr.CtKey, bits uint32, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
	}
}

func ctBitsClear(key expr.CtKey, bits uint32) []expr.Any { return ctBits(key, bits, expr.CmpOpEq) }
func ctBitsSet(key expr.CtKey, bits uint32) []expr.Any   { return ctBits(key, bits, expr.CmpOpNeq) }

func dnat(a netip.Addr, port uint16) []expr.Any {
	b := a.As4()
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: b[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
			RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func masq() []expr.Any { return []expr.Any{&expr.Masq{}} }

func drop() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }
