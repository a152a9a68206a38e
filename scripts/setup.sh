#!/usr/bin/env bash
# Installs what hull's tests, examples and benchmarks need on a Debian
# machine (run as root), and downloads the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# busybox-static: test images; iproute2: bring up lo in the test netns;
# skopeo, umoci: the peers bench/compare.sh measures against (skopeo also for
# interop tests); docker-registry: a second, out-of-process registry;
# runc, crun: container-start peers in bench/; nftables: the nft CLI, which
# tests use to read back hull's rules.
apt-get install -y -qq busybox-static iproute2 skopeo umoci docker-registry runc crun nftables >/dev/null
go mod download
