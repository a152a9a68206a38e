#!/usr/bin/env bash
# Runs hull's whole test suite (and the benchmarks once each) as root,
# inside a private network namespace so no test traffic can leave the
# machine. Usage: sudo ./scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Compile everything while the network is still there (module downloads).
go build ./...
go test -count=1 -run '^$' ./... >/dev/null
export GOPROXY=off
exec unshare --net -- bash -c '
	set -euo pipefail
	ip link set lo up
	go test -count=1 -timeout 20m "$@" ./...
	./scripts/leakcheck.sh
	# Every benchmark once, short (compare.sh --short fails if one does).
	./bench/compare.sh --short
	./scripts/leakcheck.sh
' bash "$@"
