// Package netsetup builds the networks containers attach to: address
// management (IPAM), Linux bridges and the veth pairs that plug a
// container's network namespace into them, all through netlink (no `ip`
// commands).
//
// IPAM state lives in one JSON file per network, rewritten atomically under
// a lock, so an address is never handed out twice, even by two processes,
// and allocations survive restarts. Subnets for new networks are taken from
// Docker's default pools, skipping any that overlap a route of the host or
// another hull network.
//
// NAT, isolation and published ports are nftables rules in hull's own
// table (TableName, written through google/nftables); every rule names
// its owner in its comment, so a container's or a bridge's rules can be
// removed, and recovered, on their own. The one exception to "hull's own
// table": where Docker's iptables filter table drops forwarded traffic,
// each bridge gets two rules accepting its traffic there, named the same
// way (AcceptForeign; through iptables-legacy for the legacy backend,
// which has no netlink interface).
package netsetup
