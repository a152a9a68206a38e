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
# docker.io, podman (+ netavark for its published ports): container-start
# and network peers in bench/, which runs a private dockerd and podman
# inside its own network namespace. Their packages must not start a
# daemon on the host: without a policy-rc.d, refuse service starts for the
# duration of the install. (~20 s on a fresh machine.)
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends docker.io podman netavark tini >/dev/null
# docker-compose (v1, Python) and podman-compose: the compose peers of
# BenchmarkCompose (bench/compose_test.go); ~21 small Python packages.
apt-get install -y -qq --no-install-recommends docker-compose podman-compose >/dev/null
# qemu-system-x86, e2fsprogs: scripts/vmtest.sh boots Debian 12's 6.1 kernel
# (linux-image-cloud-amd64, whose .deb it downloads to its cache, not
# installed on this host) with cgroup v2 only and runs the kernel tests
# there (unless HULL_VMTEST=off: see scripts/test.sh).
if [ "${HULL_VMTEST:-on}" != off ]; then
	apt-get install -y -qq --no-install-recommends qemu-system-x86 e2fsprogs >/dev/null
	./scripts/vmtest.sh --fetch
fi
go mod download
