#!/usr/bin/env bash
# Runs hull's whole test suite (and the benchmarks once each) as root,
# inside a private network namespace so no test traffic can leave the
# machine; then the kernel tests again in a VM with Debian 12's 6.1
# kernel and cgroup v2 only (scripts/vmtest.sh; HULL_VMTEST=off skips it).
# Usage: sudo ./scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Compile everything while the network is still there (module downloads).
go build ./...
go test -count=1 -run '^$' ./... >/dev/null
export GOPROXY=off
# How long each fuzzer runs after the tests; "off" skips them.
export FUZZTIME=${FUZZTIME:-6s}
unshare --net -- bash -c '
	set -euo pipefail
	ip link set lo up
	go test -count=1 -timeout 20m "$@" ./...
	./scripts/leakcheck.sh
	# A short run of every fuzzer, from its corpus in testdata/fuzz (-fuzz
	# takes one fuzzer of one package at a time). A crasher is written
	# there: commit it with the fix.
	if [ "$FUZZTIME" != off ]; then
		for f in .:FuzzParseReference .:FuzzDockerManifest .:FuzzOCIIndex ./internal/dns:FuzzServerAnswer \
			./internal/archive:FuzzApply ./internal/archive:FuzzApplyZeroRuns; do
			go test -run "^\$" -fuzz "^${f#*:}\$" -fuzztime "$FUZZTIME" "${f%%:*}"
		done
	fi
	# Every benchmark once, short (compare.sh --short fails if one does).
	./bench/compare.sh --short
	./scripts/leakcheck.sh
' bash "$@"
if [ "${HULL_VMTEST:-on}" != off ]; then
	./scripts/vmtest.sh
fi
