#!/usr/bin/env bash
# Runs hull's kernel-facing tests inside a VM: Debian 12's 6.1 kernel
# (linux-image-cloud-amd64), cgroup v2 only (cgroup_no_v1=all), under
# qemu with software emulation (no /dev/kvm needed). The guest is built
# here from apt packages (the kernel's .deb, busybox-static) and the
# host's `go test -c` binaries; it boots an initramfs whose init
# switch_roots into a tmpfs (pivot_root is refused on an initramfs root),
# loads overlay/veth/bridge/nf_tables, mounts cgroup2 and runs the tests.
# Prints the tests' output and exits non-zero if any failed (or the guest
# did not report).
#
# Usage (root, after scripts/setup.sh): ./scripts/vmtest.sh [--fetch]
# Environment:
#   HULL_VMTEST_RUN_<RUN>  override the -test.run regexp of one run
#                          (hull, hull_escape, initproc, archive, ...; RUNS).
#   HULL_VMTEST_TIMEOUT    guest wall time limit in seconds (default 3000).
#   HULL_VMTEST_MEM        guest memory (default 3G).
#   HULL_VMTEST_CPUS       guest CPUs (default: nproc, at most 2).
#   HULL_VMTEST_CACHE      where the kernel .deb is kept
#                          (default /var/cache/hull-vmtest).
#   HULL_VMTEST_PRE       shell commands the guest runs before the tests.
#   HULL_VMTEST_KEEP=1     keep the work directory (guest tree, log).
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole script is one block, read before it runs: editing this file
# while it runs cannot change what runs.
{

cache=${HULL_VMTEST_CACHE:-/var/cache/hull-vmtest}
timeout_s=${HULL_VMTEST_TIMEOUT:-3000}
mem=${HULL_VMTEST_MEM:-3G}
cpus=${HULL_VMTEST_CPUS:-$(($(nproc) > 2 ? 2 : $(nproc)))}

# The packages whose tests touch the kernel, with the tests that run in
# the guest (an anchored -test.run regexp each). Left out: tests that
# need tools the guest lacks (go toolchain, skopeo, docker-registry,
# nft CLI, tar) and tests of pure Go (registry, image formats, parsing)
# that the host run covers. See README "Kernels and cgroups tested".
hull_tests=(
	# cgroups: limits and OOM, pids, cpu quota, io weight, cpuset (the
	# resources test), freezer, stats, top, the eBPF device filter, born
	# in the cgroup (warm init, retries), v2 specifics
	'TestCgroup.*' 'TestContainerCgroupResources' 'TestContainerCgroupView'
	'TestContainerMemoryLimit' 'TestContainerPidsLimit' 'TestContainerDetachedOOM'
	'TestEventsOOM' 'TestContainerStats' 'TestContainerTop' 'TestContainerPauseResume'
	'TestContainerKillPaused' 'TestCommitKilledThaws' 'TestContainerDeviceRules'
	'TestContainerPrivilegedDevices' 'TestContainerWarmInit'
	# kernel-version fallbacks: memfd (MFD_EXEC < 6.3), volatile overlay
	'TestMemfdNoexec' 'TestReexecSafety' 'TestContainerVolatileRootfs'
	# containers and Exec
	'TestContainerRunPID1AndHostname' 'TestContainerExitCodes' 'TestContainerIsolation'
	'TestContainerUser' 'TestContainerLifecycle' 'TestContainerSecurityDefaults'
	'TestContainerSeccomp' 'TestContainerPrivileged' 'TestContainerCapabilities'
	'TestContainerUlimitAndSysctl' 'TestContainerReadOnlyRootfs' 'TestContainerWithInit'
	'TestContainerDetached.*' 'TestDetachedShimPaths' 'TestWarmShimDiesWithOwner'
	'TestContainerRestart' 'TestContainerStopSignalAndTimeout'
	'TestExec.*' 'TestSignalExitCodes'
	# networks: bridges, DNS, published ports
	'TestNetworkDNS' 'TestDNSOptions' 'TestDNSOwnerServes' 'TestNetworkCreateInspectRemove'
	'TestNetworkContainersReachEachOther' 'TestNetworkModes' 'TestNetworkConnectDisconnect'
	'TestNetworkOwnerKilled' 'TestNetworkDefaultBridgeLifecycle' 'TestNetworkHostOverlap'
	'TestPublishReachableFromHost' 'TestPublishNetworks' 'TestPublishKeptAcrossRestart'
	# volumes and mounts
	'TestVolume.*' 'TestBindMounts' 'TestBindPropagationSlave' 'TestTmpfsSize'
	'TestBindReadOnlyRecursive' 'TestMountOverProcRefused' 'TestDeepPaths'
	# hostile images and the plan's init
	'TestPullRefusesHostileLayers' 'TestLoadRefusesHostileArchives' 'TestPlan.*'
)
join() { local IFS='|'; echo "^($*)\$"; }
# Left out as too slow under emulation (minutes each) for what they add
# here: TestDetachedCreatorKilled (60 kills of a creator: recovery, not
# the kernel), TestNetworkConcurrentAttach, TestPublishConcurrentRandomPorts,
# internal/spawn's TestStartRetries (180 copies of the binary: 221 s; the
# memfd path it takes runs at every container start anyway);
# TestNoHostReach (the escape probe) runs whole, as a run of its own
# (hull-escape below: ~80 s on an idle 2-core host). Left out as they need what the guest lacks: the
# go toolchain (TestRace*: a module build), skopeo, docker-registry.
declare -A runs=(
	[hull]=${HULL_VMTEST_RUN_hull:-$(join "${hull_tests[@]}")}
	[hull-escape]=${HULL_VMTEST_RUN_hull_escape:-'^TestNoHostReach$'}
	[initproc]=${HULL_VMTEST_RUN_initproc:-.}
	[cgroup]=${HULL_VMTEST_RUN_cgroup:-.}
	[fsutil]=${HULL_VMTEST_RUN_fsutil:-.}
	[archive]=${HULL_VMTEST_RUN_archive:-.}
	[snapshot]=${HULL_VMTEST_RUN_snapshot:-.}
	[seccomp]=${HULL_VMTEST_RUN_seccomp:-.}
	[netsetup]=${HULL_VMTEST_RUN_netsetup:-.}
	[spec]=${HULL_VMTEST_RUN_spec:-.}
)
declare -A pkgdir=(
	[hull]=. [initproc]=./internal/initproc [archive]=./internal/archive
	[cgroup]=./internal/cgroup [fsutil]=./internal/fsutil
	[snapshot]=./internal/snapshot [seccomp]=./internal/seccomp
	[netsetup]=./internal/netsetup [spec]=./internal/spec
)
PKGS=(hull initproc cgroup fsutil archive snapshot seccomp netsetup spec)
# What the guest runs, in order: the binary is the part before "-".
RUNS=(hull hull-escape initproc cgroup fsutil archive snapshot seccomp netsetup spec)

for tool in qemu-system-x86_64 busybox dpkg-deb apt-get go mkfs.ext4 tar; do
	command -v "$tool" >/dev/null || { echo "vmtest: $tool missing (scripts/setup.sh installs it)" >&2; exit 2; }
done
if ldd "$(command -v busybox)" >/dev/null 2>&1; then
	echo "vmtest: busybox is not static (apt-get install busybox-static)" >&2; exit 2
fi

# The kernel: the image package linux-image-cloud-amd64 points at, as a
# .deb kept in $cache and unpacked in the work directory (not installed
# on the host). --fetch (scripts/setup.sh) only downloads it.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "vmtest: no linux-image-cloud-amd64 in apt (apt-get update?)" >&2; exit 2; }
mkdir -p "$cache"
deb=$(ls "$cache/${kpkg}"_*.deb 2>/dev/null | tail -1 || true)
if [ -z "$deb" ]; then
	(cd "$cache" && apt-get download -q "$kpkg" 2>&1 | grep -v 'unsandboxed' || true)
	deb=$(ls "$cache/${kpkg}"_*.deb | tail -1)
fi
[ "${1:-}" != --fetch ] || exit 0

work=$(mktemp -d /tmp/hull-vmtest.XXXXXX)
if [ "${HULL_VMTEST_KEEP:-}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
t0=$(date +%s)
dpkg-deb -x "$deb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
echo "vmtest: kernel $kver ($(basename "$deb"))"

# The guest's tree.
g=$work/root
mkdir -p "$g"/{bin,sbin,lib64,lib/x86_64-linux-gnu,etc,tests,proc,sys,dev,tmp,run,newroot,var/tmp}
cp "$(command -v busybox)" "$g/bin/busybox"
# The test binaries (cgo: they need the host's libc and loader, copied
# below from ldd's list).
for p in "${PKGS[@]}"; do
	go test -c -ldflags='-s -w' -o "$g/tests/$p.test" "${pkgdir[$p]}"
done
# GNU tar (the sparse-file tests make archives with it; busybox's
# cannot), found first on the guest's PATH.
mkdir -p "$g/usr/bin"
cp "$(command -v tar)" "$g/usr/bin/tar"
for f in "$g"/tests/*.test "$g/usr/bin/tar"; do
	{ ldd "$f" 2>/dev/null || true; } | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}'
done | sort -u | while read -r lib; do
	mkdir -p "$g$(dirname "$lib")"
	cp -L "$lib" "$g$lib"
done
# Modules: overlay, veth, bridge, nf_tables and the nft expressions hull
# uses, with their dependencies (busybox depmod writes modules.dep).
mods=(overlay veth bridge br_netfilter nf_tables nft_chain_nat nft_nat nft_masq nft_ct nft_redir
	nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_reject_inet nft_compat nft_limit nf_nat nf_conntrack
	nft_objref nft_quota nft_numgen nft_hash nft_tproxy nft_socket nft_log tun)
kmod=$work/kernel/lib/modules/$kver
mkdir -p "$g/lib/modules/$kver"
cp "$kmod"/modules.order "$kmod"/modules.builtin "$g/lib/modules/$kver/"
(cd "$kmod" && find kernel -name '*.ko' | cpio -pdm --quiet "$g/lib/modules/$kver") 2>/dev/null || \
	(cd "$kmod" && cp -r kernel "$g/lib/modules/$kver/")
busybox depmod -b "$g" "$kver"
printf '%s\n' "${mods[@]}" >"$g/etc/modules"
# Some tests build a small Go program into their image (`go build -o X
# main.go` of a source constant in the test file). The guest has no Go
# toolchain: build those programs here, and give the guest a `go` that
# hands out the one whose source has the same sha256 (anything else
# fails, and those tests skip).
mkdir -p "$g/prebuilt" "$work/src"
for f in *_test.go; do
	awk -v out="$work/src/${f%.go}" '
		!on && /^(const|var) [A-Za-z0-9_]+Source = `/ {
			on = 1; n++; file = out "." n ".go"; sub(/^[^`]*`/, "")
		}
		on {
			if (index($0, "`")) { sub(/`.*/, ""); printf "%s", $0 > file; close(file); on = 0; next }
			print > file
		}' "$f"
done
for src in "$work"/src/*.go; do
	[ -e "$src" ] || continue
	grep -q '^package main' "$src" || continue
	d=$(mktemp -d "$work/build.XXXXXX")
	cp "$src" "$d/main.go"
	if (cd "$d" && CGO_ENABLED=0 GO111MODULE=off go build -o prog main.go 2>/dev/null); then
		cp "$d/prog" "$g/prebuilt/$(sha256sum "$src" | cut -d' ' -f1)"
	fi
done
cat >"$g/bin/go" <<'EOF'
#!/bin/sh
# vmtest's stand-in for `go build -o OUT main.go`: the program built on
# the host from the same source.
[ "$1" = build ] && [ "$2" = -o ] && [ "$4" = main.go ] && [ $# = 4 ] || {
	echo "no Go toolchain in the vmtest guest: go $*" >&2; exit 1; }
bin=/prebuilt/$(sha256sum main.go | cut -d' ' -f1)
[ -f "$bin" ] || { echo "vmtest guest: no prebuilt program for this main.go" >&2; exit 1; }
cp "$bin" "$3"
EOF
chmod 755 "$g/bin/go"
echo "vmtest: prebuilt $(ls "$g/prebuilt" | wc -l) test programs"
# Minimal /etc for the tests.
echo 'root:x:0:0:root:/root:/bin/sh' >"$g/etc/passwd"
echo 'root:x:0:' >"$g/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$g/etc/hosts"
echo 'nameserver 127.0.0.1' >"$g/etc/resolv.conf"
echo vmtest >"$g/etc/hostname"
printf 'hosts: files dns\n' >"$g/etc/nsswitch.conf"
for r in "${RUNS[@]}"; do
	printf '%s\t%s\n' "$r" "${runs[$r]}"
done >"$g/tests/list"
# HULL_VMTEST_PRE: shell commands the guest runs before the tests (to
# look around when something fails).
[ -z "${HULL_VMTEST_PRE:-}" ] || printf '%s\n' "$HULL_VMTEST_PRE" >"$g/tests/pre.sh"

# Stage 1 (PID 1 on the initramfs): copy the tree into a tmpfs and
# switch_root there, since pivot_root (which containers need) is refused
# on the initramfs root.
cat >"$g/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
ln -s /bin/modprobe /sbin/modprobe # the kernel's request_module runs it
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t tmpfs -o mode=0755,size=90% root /newroot
for d in /*; do
	case "$d" in /proc|/sys|/dev|/newroot) mkdir -p "/newroot$d" ;; *) cp -a "$d" /newroot/ ;; esac
done
umount /proc
exec switch_root /newroot /stage2
EOF
# Stage 2: the guest's system, then the tests.
cat >"$g/stage2" <<'EOF'
#!/bin/sh
export PATH=/usr/bin:/bin:/sbin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /root
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp, where the tests keep every root and layer, is an ext4 disk as on
# a real host (tmpfs has no user.* xattrs before Linux 6.6).
modprobe virtio_pci; modprobe virtio_blk
i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /tmp && chmod 1777 /tmp || { echo "vmtest-guest: no /dev/vda: /tmp on tmpfs"; mount -t tmpfs -o mode=1777 tmpfs /tmp; }
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount --make-rshared /
hostname vmtest
ip link set lo up
for m in $(cat /etc/modules); do modprobe "$m" 2>/dev/null || echo "vmtest-guest: modprobe $m failed"; done
echo "vmtest-guest: kernel $(uname -r), cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
grep -q ' cgroup ' /proc/mounts && echo "vmtest-guest: a cgroup v1 hierarchy is mounted"
[ -f /tests/pre.sh ] && . /tests/pre.sh
fail=0
while IFS="	" read -r p re; do
	echo "=== vmtest package $p (-test.run '$re')"
	start=$(date +%s)
	cd /tests
	{ ./"${p%%-*}".test -test.count=1 -test.v -test.timeout=40m -test.run "$re" 2>&1; echo $? >/tmp/rc; } | tee /tmp/"$p".out
	rc=$(cat /tmp/rc)
	echo "=== vmtest package $p rc=$rc in $(($(date +%s) - start))s"
	[ "$rc" = 0 ] || fail=1
done </tests/list
echo "VMTEST-RESULT fail=$fail"
sync
reboot -f
EOF
chmod 755 "$g/init" "$g/stage2"

(cd "$g" && find . | busybox cpio -o -H newc 2>/dev/null) >"$work/initrd"
truncate -s "${HULL_VMTEST_DISK:-8G}" "$work/disk.img"
mkfs.ext4 -q -F "$work/disk.img"
t1=$(date +%s)
echo "vmtest: guest built in $((t1 - t0))s ($(du -h "$work/initrd" | cut -f1) initramfs), booting"

log=$work/console.log
set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$cpus" -m "$mem" -nographic -no-reboot -nodefaults \
	-serial stdio -net none \
	-drive file="$work/disk.img",format=raw,if=virtio,cache=unsafe \
	-kernel "$work/kernel/boot/vmlinuz-$kver" -initrd "$work/initrd" \
	-append "console=ttyS0 panic=-1 cgroup_no_v1=all quiet loglevel=3 rdinit=/init" </dev/null \
	| tee "$log"
qrc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)
echo "vmtest: guest ran $((t2 - t1))s (qemu exit $qrc), total $((t2 - t0))s"
count() { tr -d '\r' <"$log" | grep -c "^--- $1:" || true; }
rc=0
if ! grep -q '^VMTEST-RESULT fail=0' "$log"; then
	rc=1
	if grep -q '^VMTEST-RESULT' "$log"; then
		echo "vmtest: FAIL:"
		grep -E '^\s*--- FAIL' "$log" || true
	else
		echo "vmtest: FAIL: the guest did not report (timeout ${timeout_s}s or crash)"
	fi
fi
# The closing line: top-level tests of every package.
echo "vmtest: $(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
exit "$rc"
}
