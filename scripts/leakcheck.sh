#!/usr/bin/env bash
# Fails if hull left anything behind in this network namespace and on the
# host: links (bridges, veth ends), rules in hull's nftables table,
# container cgroups, container processes, overlay mounts. scripts/test.sh
# runs it after the test suite and after the benchmarks, inside the
# suite's private network namespace.
set -uo pipefail
bad=0
report() { echo "leakcheck: $1:" >&2; echo "$2" | sed 's/^/  /' >&2; bad=1; }

links=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(hull|veth)' || true)
[ -n "$links" ] && report "links left" "$links"

if command -v nft >/dev/null && nft list table ip hull >/dev/null 2>&1; then
	rules=$(nft list table ip hull | grep -E 'comment "hull' || true)
	[ -n "$rules" ] && report "nftables rules left in table ip hull" "$rules"
fi

# The rules hull adds to Docker's iptables filter table (either backend);
# iptables-legacy only if its table exists: running it would create one.
if command -v nft >/dev/null && nft list table ip filter >/dev/null 2>&1; then
	rules=$(nft list table ip filter | grep -E 'comment "hull' || true)
	[ -n "$rules" ] && report "hull's rules left in table ip filter" "$rules"
fi
if grep -qx filter /proc/net/ip_tables_names 2>/dev/null && command -v iptables-legacy >/dev/null; then
	rules=$(iptables-legacy -w -S | grep -E 'comment "hull' || true)
	[ -n "$rules" ] && report "hull's rules left in the iptables-legacy filter table" "$rules"
fi

cgroups=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path '*/hull/*' 2>/dev/null | grep -E '/hull/[0-9a-f]{64}$' || true)
[ -n "$cgroups" ] && report "container cgroups left" "$cgroups"

procs=$(ps -eo pid=,args= | awk '$2 ~ /^hull-(init|exec|shim)$/' || true)
[ -n "$procs" ] && report "container processes left" "$procs"

mounts=$(awk '$9 == "overlay" || $5 ~ /hull/ {print $5}' /proc/self/mountinfo | grep -E '/(hull|containers|snapshots)' || true)
[ -n "$mounts" ] && report "mounts left" "$mounts"

exit $bad
