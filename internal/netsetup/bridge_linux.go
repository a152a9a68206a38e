package netsetup

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Bridge is a network's bridge device as hull makes it: the device, its
// address, the network's ID in the device's alias (so that a root knows
// its own device from another root's of the same name), forwarding, and
// its firewall rules.
type Bridge struct {
	Name     string // the device
	Network  string // the network's ID: the device's alias
	Subnet   netip.Prefix
	Gateway  netip.Addr // the bridge's address in Subnet
	Internal bool       // no way out (SetupBridge), no forwarding needed
	Owner    string     // the owner tag of its rules (SetupBridge)
}

// Make creates the bridge (EnsureBridge), names its network in its alias
// and installs its rules; forwarding is turned on for networks that
// reach the outside, as Docker does. Where Docker's firewall would drop
// the bridge's traffic, rules accepting it are added there
// (AcceptForeign): what was added is returned, and a failure to add them
// is its Warning, not an error (the bridge works where nothing drops).
// On error the device is deleted.
func (b Bridge) Make() (ForeignRules, error) {
	br, err := EnsureBridge(b.Name, b.Subnet, b.Gateway)
	if err != nil {
		return ForeignRules{}, err
	}
	if err := netlink.LinkSetAlias(br, b.Network); err != nil {
		return ForeignRules{}, errors.Join(err, DeleteLink(b.Name))
	}
	if !b.Internal {
		if err := EnableForwarding(); err != nil {
			return ForeignRules{}, errors.Join(err, DeleteLink(b.Name))
		}
	}
	if err := SetupBridge(b.Owner, b.Name, b.Subnet, b.Internal); err != nil {
		return ForeignRules{}, errors.Join(fmt.Errorf("network rules: %w", err), DeleteLink(b.Name))
	}
	fw, err := AcceptForeign(b.Owner, b.Name)
	if err != nil {
		fw.Warning = err.Error()
	}
	return fw, nil
}

// Ensure makes the bridge again if its device is gone (a reboot, or
// someone deleted it), under the host lock (LockHost). When it is there,
// it adds the rules accepting its traffic in the iptables-nft filter
// table if that now drops it (EnsureForeign: Docker started since), best
// effort: a container start does not fail for another program's table.
func (b Bridge) Ensure() error {
	if _, err := netlink.LinkByName(b.Name); err == nil {
		_ = EnsureForeign(b.Owner, b.Name)
		return nil
	}
	unlock, err := LockHost()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := netlink.LinkByName(b.Name); err == nil {
		return nil
	}
	_, err = b.Make()
	return err
}

// Own reports whether the bridge's device exists and is this network's.
func (b Bridge) Own() bool {
	alias, ok := LinkAlias(b.Name)
	return ok && alias == b.Network
}

// DeleteOwn deletes the bridge's device if it is still this network's:
// once it is gone its name may go to another root's network, and deleting
// that one would strand its rules.
func (b Bridge) DeleteOwn() error {
	if !b.Own() {
		return nil
	}
	return DeleteLink(b.Name)
}
