package hull

import (
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull/internal/hostobj"
	"github.com/hullbox/hull/internal/netsetup"
)

// The nftables rules of networks and published ports are written by
// internal/netsetup. Rules are tagged with an owner "<root tag>:<container
// id or bridge>", so several roots can share a host (or a network
// namespace) and each one's recovery only drops its own.

// ruleOwner names a container or bridge of this root in rule comments.
func (rt *Runtime) ruleOwner(name string) string {
	root, err := filepath.Abs(rt.cfg.root)
	if err != nil {
		root = rt.cfg.root
	}
	return hostobj.RuleTag(root) + ":" + name
}

// firewallOptions adds to a NetworkInspect's Options what hull added to
// another program's firewall for the bridge (NetworkOptionFirewall), read
// back from it, and why its traffic may still be dropped
// (NetworkOptionFirewallWarning).
func (rt *Runtime) firewallOptions(bridge string, opts map[string]string) {
	fw, err := netsetup.ListForeign(rt.ruleOwner(bridge))
	if err != nil && fw.Warning == "" {
		fw.Warning = err.Error()
	}
	setFirewall(opts, fw)
}

// setFirewall sets the firewall keys of an Options map or of an event's
// attributes.
func setFirewall(m map[string]string, fw netsetup.ForeignRules) {
	if len(fw.Rules) > 0 {
		m[NetworkOptionFirewall] = strings.Join(fw.Rules, "; ")
	}
	if fw.Warning != "" {
		m[NetworkOptionFirewallWarning] = fw.Warning
	}
}

// networkEvent emits a network event ("create", "destroy") for rec, with
// Docker's attributes (name, type) and what the firewall got (create).
// The default network is predefined, as in Docker: made and deleted as
// containers need it, without events.
func (rt *Runtime) networkEvent(action string, rec *networkRecord, fw netsetup.ForeignRules) {
	if rec.Default {
		return
	}
	attrs := map[string]string{"name": rec.Name, "type": "bridge"}
	setFirewall(attrs, fw)
	rt.events.emit(EventNetwork, action, rec.ID, rec.Name, attrs)
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
	return netsetup.RemoveOrphans(rt.ruleOwner(""), liveContainers, liveBridges)
}

// publishPorts publishes the ports rc asks for towards ip, the
// container's address on the network whose bridge port is veth (see
// netsetup.PublishPorts). A port taken is ErrConflict, a host address
// that is not the host's ErrInvalidArgument.
func (rt *Runtime) publishPorts(id string, ip netip.Addr, veth string, rc *runConfig) ([]PortBinding, error) {
	rules, err := netsetup.PublishPorts(rt.ruleOwner(id), ip, veth, rc.publish)
	if err != nil {
		err = alsoIs(err, netsetup.ErrPortInUse, ErrConflict)
		return nil, alsoIs(err, netsetup.ErrNotHostAddress, ErrInvalidArgument)
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
