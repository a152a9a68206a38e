package hull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/netsetup"
)

// CreateNetwork creates a user-defined bridge network: its state under the
// root, its Linux bridge ("hull-" + the first 10 hex digits of its ID: a
// device name has at most 15 bytes) and
// its firewall rules (masquerade unless internal, isolation from the other
// networks). Containers on it find each other by name. It fails with
// ErrConflict if the name is taken or the subnet overlaps another
// network's or an address or route of the host (of the network namespace
// hull runs in), ErrInvalidArgument for a bad name, subnet, gateway or
// range (see WithSubnet).
// The network stays until Removed.
func (rt *Runtime) CreateNetwork(ctx context.Context, name string, opts ...NetworkOption) (*Network, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	var cfg networkConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("create network %s: %w", name, err)
		}
	}
	if !validName(name) {
		return nil, fmt.Errorf("create network: %w: name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", ErrInvalidArgument, name)
	}
	switch NetworkMode(name) {
	case NetworkModeBridge, NetworkModeHost, NetworkModeNone:
		return nil, fmt.Errorf("create network %s: %w: %s is a predefined network", name, ErrConflict, name)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unlock, err := rt.lockNetworks()
	if err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	defer unlock()
	recs, err := rt.readNetworks()
	if err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	for _, r := range recs {
		if r.Name == name {
			return nil, fmt.Errorf("create network %s: %w: a network with this name exists (%s)", name, ErrConflict, r.ID[:12])
		}
		if cfg.subnet.IsValid() && r.Subnet.Overlaps(cfg.subnet) {
			return nil, fmt.Errorf("create network %s: %w: subnet %s overlaps network %s (%s)", name, ErrConflict, cfg.subnet, r.Name, r.Subnet)
		}
	}
	rec := networkRecord{
		ID: newID(), Name: name, Created: time.Now().UTC(),
		Subnet: cfg.subnet, IPRange: cfg.ipRange, Internal: cfg.internal, Labels: cfg.labels,
	}
	rec.Bridge = "hull-" + rec.ID[:10] // at most 15 bytes (IFNAMSIZ)
	if err := rt.createNetworkLocked(&rec, recs, cfg.gateway); err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	return &Network{rt: rt, rec: rec}, nil
}

// defaultNetwork returns the default network with its bridge up,
// creating it on first use: bridge hull0 (hull1... if another root on
// this host has hull0), subnet 172.17.0.0/16 unless that overlaps a route.
// Its bridge is deleted when no container uses it and a Runtime closes
// (closeNetworks), so that roots that come and go (tests) do not use up
// the host's address pools; it is made again here, moved to another
// device name or subnet if those were taken meanwhile.
func (rt *Runtime) defaultNetwork() (*networkRecord, error) {
	recs, err := rt.readNetworks()
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if recs[i].Default && ownBridge(&recs[i]) {
			return &recs[i], nil
		}
	}
	unlock, err := rt.lockNetworks()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if recs, err = rt.readNetworks(); err != nil {
		return nil, err
	}
	for i := range recs {
		if recs[i].Default {
			if err := rt.remakeDefault(&recs[i], recs); err != nil {
				return nil, fmt.Errorf("the default network: %w", err)
			}
			return &recs[i], nil
		}
	}
	rec := networkRecord{ID: newID(), Name: DefaultNetworkName, Created: time.Now().UTC(), Default: true}
	if err := rt.createNetworkLocked(&rec, recs, netip.Addr{}); err != nil {
		return nil, fmt.Errorf("create the default network: %w", err)
	}
	return &rec, nil
}

// bridge is the network's bridge device and rules (netsetup.Bridge).
func (rt *Runtime) bridge(rec *networkRecord) netsetup.Bridge {
	return netsetup.Bridge{Name: rec.Bridge, Network: rec.ID, Subnet: rec.Subnet, Gateway: rec.Gateway,
		Internal: rec.Internal, Owner: rt.ruleOwner(rec.Bridge)}
}

// ownBridge reports whether the network's bridge exists and is ours.
func ownBridge(rec *networkRecord) bool {
	return netsetup.Bridge{Name: rec.Bridge, Network: rec.ID}.Own()
}

// remakeDefault makes the default network's bridge again (networks lock
// held). While no container holds an address it may move to a free device
// name and subnet first.
func (rt *Runtime) remakeDefault(rec *networkRecord, recs []networkRecord) error {
	hostUnlock, err := netsetup.LockHost()
	if err != nil {
		return err
	}
	defer hostUnlock()
	if ownBridge(rec) {
		return nil
	}
	users, err := rt.networkUsers(rec)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		if _, exists := netsetup.LinkAlias(rec.Bridge); exists {
			rec.Bridge = netsetup.FreeLinkName("hull")
		}
		used, err := netsetup.HostRoutes()
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID != rec.ID {
				used = append(used, r.Subnet)
			}
		}
		if slices.ContainsFunc(used, rec.Subnet.Overlaps) {
			if rec.Subnet, err = netsetup.ChooseSubnet(netsetup.DefaultPools, used); err != nil {
				return err
			}
			path := filepath.Join(rt.networkDir(rec.ID), "ipam.json")
			if err := os.Remove(path); err != nil {
				return err
			}
			ipam, err := netsetup.NewIPAM(path, rec.Subnet, netip.Addr{}, netip.Prefix{})
			if err != nil {
				return err
			}
			if _, rec.Gateway, err = ipam.Info(); err != nil {
				return err
			}
		}
		if err := netsetup.WriteRecord(rt.networkDir(rec.ID), rec); err != nil {
			return err
		}
	}
	if err := rt.objs.root.Network(rec.ID, rec.Bridge); err != nil {
		return err
	}
	_, err = rt.bridge(rec).Make()
	return err
}

// closeNetworks deletes the default network's bridge and rules if no
// container uses it (see defaultNetwork). Runtime.Close calls it.
func (rt *Runtime) closeNetworks() error {
	recs, err := rt.readNetworks()
	if err != nil || !slices.ContainsFunc(recs, func(r networkRecord) bool { return r.Default }) {
		return err
	}
	unlock, err := rt.lockNetworks()
	if err != nil {
		return err
	}
	defer unlock()
	if recs, err = rt.readNetworks(); err != nil {
		return err
	}
	for i := range recs {
		rec := &recs[i]
		if !rec.Default {
			continue
		}
		if users, err := rt.networkUsers(rec); err != nil || len(users) > 0 {
			return err
		}
		// Our rules go even if the bridge is no longer ours (or gone);
		// both at once: deleting a link waits for an RCU barrier (tens
		// of ms on a busy host), the rules for nftables' commit.
		rules := make(chan error, 1)
		go func() { rules <- rt.removeNetworkRules(rec.Bridge) }()
		err := rt.bridge(rec).DeleteOwn()
		return errors.Join(<-rules, err)
	}
	return nil
}

// createNetworkLocked chooses the subnet (and the default bridge's name),
// writes the IPAM state, makes the bridge and its rules and finally the
// record. The networks lock is held; on error nothing is left.
func (rt *Runtime) createNetworkLocked(rec *networkRecord, recs []networkRecord, gateway netip.Addr) (retErr error) {
	hostUnlock, err := netsetup.LockHost()
	if err != nil {
		return err
	}
	defer hostUnlock()
	if rec.Default {
		rec.Bridge = netsetup.FreeLinkName("hull")
	}
	if rec.Subnet.IsValid() {
		if err := netsetup.CheckHostOverlap(rec.Subnet); err != nil {
			return alsoIs(err, netsetup.ErrHostOverlap, ErrConflict)
		}
	} else {
		used, err := netsetup.HostRoutes()
		if err != nil {
			return err
		}
		for _, r := range recs {
			used = append(used, r.Subnet)
		}
		if rec.Subnet, err = netsetup.ChooseSubnet(netsetup.DefaultPools, used); err != nil {
			return err
		}
	}
	dir := rt.networkDir(rec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
		}
	}()
	ipam, err := netsetup.NewIPAM(filepath.Join(dir, "ipam.json"), rec.Subnet, gateway, rec.IPRange)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if _, rec.Gateway, err = ipam.Info(); err != nil {
		return err
	}
	if err := rt.objs.root.Network(rec.ID, rec.Bridge); err != nil {
		return err
	}
	fw, err := rt.bridge(rec).Make()
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, rt.removeNetworkRules(rec.Bridge), netsetup.DeleteLink(rec.Bridge))
		}
	}()
	if err := netsetup.WriteRecord(dir, rec); err != nil {
		return err
	}
	rt.networkEvent("create", rec, fw)
	return nil
}

// lockNetworks takes the root's networks lock: creating and removing
// networks and allocating addresses happen under it, so a Remove never
// races an attach, in this process or another.
func (rt *Runtime) lockNetworks() (func(), error) {
	l, err := fsutil.LockFile(filepath.Join(rt.networksDir(), ".lock"), fsutil.CreateDir)
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// Remove deletes the network: its bridge, rules and state. It fails with
// ErrConflict while a running (or created) container is attached, and for
// the default network, which is predefined.
func (n *Network) Remove(ctx context.Context) error {
	if err := n.rt.checkOpen(); err != nil {
		return err
	}
	if n.rec.Default {
		return fmt.Errorf("remove network %s: %w: the default network is predefined and cannot be removed", n.rec.Name, ErrConflict)
	}
	if err := n.rt.removeNetwork(n.rec.ID); err != nil {
		return fmt.Errorf("remove network %s: %w", n.rec.Name, err)
	}
	return nil
}

// removeNetwork removes a network (the default one too) unless a live
// container uses it.
func (rt *Runtime) removeNetwork(id string) error {
	return rt.withNetworks(func(recs []networkRecord) error {
		rec, err := findNetwork(recs, id)
		if err != nil || rec.ID != id {
			return fmt.Errorf("network %s: %w", id, ErrNotFound)
		}
		users, err := rt.networkUsers(rec)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("%w: network has active endpoints: %s", ErrConflict, strings.Join(users, ", "))
		}
		dir := rt.networkDir(id)
		gone := filepath.Join(rt.networksDir(), ".removing-"+id)
		if err := os.Rename(dir, gone); err != nil {
			return err
		}
		err = errors.Join(rt.removeNetworkRules(rec.Bridge), rt.bridge(rec).DeleteOwn(), os.RemoveAll(gone), rt.objs.root.ForgetNetwork(id))
		rt.networkEvent("destroy", rec, netsetup.ForeignRules{})
		return err
	})
}

// networkUsers returns the names of the live containers holding an
// address on the network; addresses (and names) of dead ones are released.
func (rt *Runtime) networkUsers(rec *networkRecord) ([]string, error) {
	return rt.networkUsersOf(rec, nil)
}

// networkUsersOf is networkUsers with the live containers already read
// (liveContainers), or read by it if live is nil.
func (rt *Runtime) networkUsersOf(rec *networkRecord, live map[string]*containerState) ([]string, error) {
	ipam, err := netsetup.OpenIPAM(filepath.Join(rt.networkDir(rec.ID), "ipam.json"))
	if err != nil {
		return nil, err
	}
	_, owners, err := ipam.Allocations()
	if err != nil || len(owners) == 0 {
		return nil, err
	}
	if live == nil {
		if live, err = rt.liveContainers(); err != nil {
			return nil, err
		}
	}
	var users []string
	for _, owner := range owners {
		if st, ok := live[owner]; ok {
			users = append(users, st.Name)
			continue
		}
		if err := errors.Join(ipam.Release(owner), rt.unregisterNames(owner, "")); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// liveContainers maps the IDs of containers that hold network resources
// to their state (all of them are unsettled).
func (rt *Runtime) liveContainers() (map[string]*containerState, error) {
	states, err := rt.readUnsettled(nil)
	if err != nil {
		return nil, err
	}
	live := map[string]*containerState{}
	for i := range states {
		if states[i].netLive() {
			live[states[i].ID] = &states[i]
		}
	}
	return live, nil
}

// PruneNetworks removes the user-defined networks no running or created
// container is attached to and reports their names.
func (rt *Runtime) PruneNetworks(ctx context.Context) (NetworkPruneReport, error) {
	var rep NetworkPruneReport
	if err := rt.checkOpen(); err != nil {
		return rep, err
	}
	recs, err := rt.readNetworks()
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, r := range recs {
		if r.Default {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		err := rt.removeNetwork(r.ID)
		switch {
		case err == nil:
			rep.NetworksDeleted = append(rep.NetworksDeleted, r.Name)
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		default:
			errs = append(errs, fmt.Errorf("prune network %s: %w", r.Name, err))
		}
	}
	return rep, errors.Join(errs...)
}

// recoverNetworks repairs what dead containers and owners left: addresses
// and names of containers that no longer run are released, their host
// veths deleted, and rules of gone containers and bridges dropped. Open
// calls it after recoverContainers, with the states that read (every
// container that may be live is among them).
func (rt *Runtime) recoverNetworks(states []containerState) error {
	if _, err := os.Stat(rt.networksDir()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	olds, _ := filepath.Glob(filepath.Join(rt.networksDir(), ".removing-*"))
	for _, o := range olds {
		_ = os.RemoveAll(o)
	}
	return rt.withNetworks(func(recs []networkRecord) error {
		// Read again under the networks lock: a container created
		// since recovery's read may be attaching now.
		live, err := rt.liveContainers()
		if err != nil {
			return err
		}
		var errs []error
		bridges, devices := map[string]bool{}, map[string]string{}
		for i := range recs {
			bridges[recs[i].Bridge], devices[recs[i].Bridge] = true, recs[i].ID
			if _, err := rt.networkUsersOf(&recs[i], live); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		errs = append(errs, netsetup.DeleteStaleVeths(devices, slices.Collect(maps.Keys(live))))
		liveIDs, gone := map[string]bool{}, map[string]bool{}
		for id := range live {
			liveIDs[id] = true
		}
		for _, st := range states {
			if !liveIDs[st.ID] && len(st.Networks) > 0 {
				gone[st.ID] = true
			}
		}
		errs = append(errs, rt.unregisterAllNames(gone))
		errs = append(errs, rt.recoverNetRules(liveIDs, bridges))
		return errors.Join(errs...)
	})
}
