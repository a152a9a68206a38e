#!/usr/bin/env bash
# Runs hull's benchmarks and the same work done by the peers installed on
# this machine (skopeo+umoci, docker, ...), in one run, and prints the
# median time of each and its ratio to hull's.
#
#   sudo bench/compare.sh            # 5 samples of each
#   sudo bench/compare.sh --short    # 1 sample (what CI runs, to keep it working)
#   sudo bench/compare.sh -bench Pull -count 9
#
# It runs inside its own network namespace: the registry is in-process on
# 127.0.0.1 and nothing can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

count=5 benchtime=1x pattern=.
while [ $# -gt 0 ]; do
	case "$1" in
	--short) count=1 ;;
	-count) count=$2; shift ;;
	-bench) pattern=$2; shift ;;
	*) echo "usage: $0 [--short] [-count N] [-bench REGEXP]" >&2; exit 2 ;;
	esac
	shift
done

if [ -z "${HULL_IN_NETNS:-}" ] && [ "$(id -u)" = 0 ]; then
	go test -c -o /tmp/hull-bench.test ./bench
	exec env HULL_IN_NETNS=1 HULL_BENCH_BIN=/tmp/hull-bench.test unshare --net -- bash -c 'ip link set lo up; exec "$0" "$@"' "$0" -count "$count" -bench "$pattern"
fi

bin=${HULL_BENCH_BIN:-}
if [ -z "$bin" ]; then
	bin=$(mktemp /tmp/hull-bench.XXXXXX)
	go test -c -o "$bin" ./bench
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
(cd bench && "$bin" -test.run '^$' -test.bench "$pattern" -test.benchtime "$benchtime" -test.count "$count") | tee "$out" >&2

# Median ns/op per sub-benchmark, then the ratio of each peer to hull.
awk '
/^Benchmark.*ns\/op/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	n = split(name, parts, "/"); group = parts[1]; impl = substr(name, length(group) + 2)
	if (impl == "") impl = "hull"
	key = group SUBSEP impl
	if (!(key in seen)) { seen[key] = 1; order[++k] = key }
	v[key, ++c[key]] = $3
}
END {
	printf "\n%-28s %-18s %12s %10s\n", "benchmark", "implementation", "median", "vs hull"
	for (i = 1; i <= k; i++) {
		key = order[i]; m = c[key]
		for (a = 1; a <= m; a++) s[a] = v[key, a]
		for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
		med[key] = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
	}
	for (i = 1; i <= k; i++) {
		key = order[i]; split(key, gi, SUBSEP)
		base = med[gi[1] SUBSEP "hull"]
		ratio = (base > 0) ? sprintf("%.2fx", med[key] / base) : "-"
		printf "%-28s %-18s %10.1fms %10s\n", gi[1], gi[2], med[key] / 1e6, ratio
	}
}' "$out"
