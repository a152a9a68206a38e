#!/usr/bin/env bash
# Runs hull's benchmarks and the same work done by the peers installed on
# this machine (skopeo+umoci, runc, docker, podman, docker-compose,
# podman-compose ...), in one run, and
# prints the median of each metric (time, MB/s, KiB per container ...) and
# its ratio to hull's.
#
#   sudo bench/compare.sh            # 5 samples of each
#   sudo bench/compare.sh --short    # 1 sample, fewer containers at once
#                                    # (what CI runs, to keep it working)
#   sudo bench/compare.sh -bench Pull -count 9
#
# BenchmarkBuildCold and BenchmarkBuildRebuild compare hull's Build with
# `docker build` (legacy builder) and `buildah bud` when installed;
# BenchmarkBuildRebuild's runc-true row is one `runc run` of /bin/true.
#
# It runs inside its own network namespace: the registry is in-process on
# 127.0.0.1, docker and podman get private state (see bench/peers_test.go)
# and nothing can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

count=5 benchtime=1x pattern=. short=
while [ $# -gt 0 ]; do
	case "$1" in
	--short) count=1 short=--short ;;
	-count) count=$2; shift ;;
	-bench) pattern=$2; shift ;;
	*) echo "usage: $0 [--short] [-count N] [-bench REGEXP]" >&2; exit 2 ;;
	esac
	shift
done

if [ -z "${HULL_IN_NETNS:-}" ] && [ "$(id -u)" = 0 ]; then
	go test -c -o /tmp/hull-bench.test ./bench
	go test -c -tags heavyinit -o /tmp/hull-bench-heavy.test ./bench
	exec env HULL_IN_NETNS=1 HULL_BENCH_BIN=/tmp/hull-bench.test HULL_BENCH_HEAVY_BIN=/tmp/hull-bench-heavy.test unshare --net -- bash -c 'ip link set lo up; exec "$0" "$@"' "$0" $short -count "$count" -bench "$pattern"
fi

bin=${HULL_BENCH_BIN:-}
if [ -z "$bin" ]; then
	bin=$(mktemp /tmp/hull-bench.XXXXXX)
	go test -c -o "$bin" ./bench
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
flags=()
if [ -n "$short" ]; then
	flags+=(-test.short)
	echo "--short: 1 sample; fewer containers: BenchmarkRunConcurrent starts 10 at once (not 100), BenchmarkRunConcurrentNetwork 5 (not 50), BenchmarkHostMemory keeps 5 running (not 20); BenchmarkPublishThroughput sends 16 MiB (not 256)" >&2
fi
(cd bench && "$bin" -test.run '^$' -test.bench "$pattern" -test.benchtime "$benchtime" -test.count "$count" "${flags[@]}") | tee "$out" >&2

# hull's Run, Create+Start, Detached, TTY and Exec again from a program
# whose package initialisers take 20 ms (bench/heavyinit): its rows are
# heavyinit-hull*, their ratio to the same run's hull row.
heavy_groups=
for g in Run Exec; do
	if [[ Benchmark$g =~ $pattern ]]; then heavy_groups=${heavy_groups:+$heavy_groups|}$g; fi
done
if [ -n "$heavy_groups" ]; then
	heavy=${HULL_BENCH_HEAVY_BIN:-}
	if [ -z "$heavy" ]; then
		heavy=$(mktemp /tmp/hull-bench-heavy.XXXXXX)
		go test -c -tags heavyinit -o "$heavy" ./bench
	fi
	(cd bench && "$heavy" -test.run '^$' -test.bench "^Benchmark($heavy_groups)\$/^hull(-create-start|-detached|-tty)?\$" \
		-test.benchtime "$benchtime" -test.count "$count" "${flags[@]}") |
		sed -E 's#^(Benchmark(Run|Exec))/hull#\1/heavyinit-hull#' | tee -a "$out" >&2
fi

# The median of each metric per sub-benchmark, then its ratio to hull's.
# A benchmark line is: name iterations (value unit)...; time (ns/op) is
# left out for benchmarks that report their own metrics other than MB/s.
awk '
/^Benchmark/ && NF >= 4 {
	name = $1; sub(/-[0-9]+$/, "", name)
	n = split(name, parts, "/"); group = parts[1]; impl = substr(name, length(group) + 2)
	if (impl == "") impl = "hull"
	if (!(group in gseen)) { gseen[group] = 1; groups[++ng] = group }
	if (!((group, impl) in iseen)) { iseen[group, impl] = 1; impls[group, ++ni[group]] = impl }
	for (f = 3; f + 1 <= NF; f += 2) {
		unit = $(f + 1)
		if (!((group, unit) in useen)) { useen[group, unit] = 1; units[group, ++nu[group]] = unit }
		if (unit != "ns/op" && unit != "MB/s" && unit != "B/op" && unit != "allocs/op") own[group] = 1
		key = group SUBSEP impl SUBSEP unit
		v[key, ++c[key]] = $f
	}
}
function median(key,    m, a, b, t, s) {
	m = c[key]
	for (a = 1; a <= m; a++) s[a] = v[key, a]
	for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
	return (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
}
END {
	printf "\n%-24s %-16s %20s %8s\n", "benchmark", "implementation", "median", "vs hull"
	for (g = 1; g <= ng; g++) {
		group = groups[g]
		# time first, then MB/s, then host memory, then the rest
		for (pass = 0; pass < 4; pass++) for (u = 1; u <= nu[group]; u++) {
			unit = units[group, u]
			prio = (unit == "ns/op") ? 0 : (unit == "MB/s") ? 1 : (unit == "hostKiB/ctr") ? 2 : 3
			if (prio != pass) continue
			if (unit == "B/op" || unit == "allocs/op" || (unit == "ns/op" && own[group])) continue
			base = ((group SUBSEP "hull" SUBSEP unit) in c) ? median(group SUBSEP "hull" SUBSEP unit) : 0
			for (i = 1; i <= ni[group]; i++) {
				key = group SUBSEP impls[group, i] SUBSEP unit
				if (!(key in c)) continue
				m = median(key)
				ratio = (base != 0) ? sprintf("%.2fx", m / base) : "-"
				value = (unit == "ns/op") ? sprintf("%.1f ms", m / 1e6) : sprintf("%.1f %s", m, unit)
				printf "%-24s %-16s %20s %8s\n", group, impls[group, i], value, ratio
			}
		}
	}
}' "$out"
