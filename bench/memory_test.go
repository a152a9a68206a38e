//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
)

// memN is how many containers BenchmarkHostMemory keeps running at once:
// 20, or 5 with -test.short.
func memN() int {
	if testing.Short() {
		return 5
	}
	return 20
}

// BenchmarkHostMemory starts memN busybox containers running `sleep
// 1000` and measures the memory each implementation adds outside the
// containers' cgroups, per container ("hostKiB/ctr"), counting anonymous
// memory (heap, stacks, written data; binaries' text is shared by every
// process running them, so it is not per container): the growth of the
// benchmark process itself (hull's owning Runtime; for the CLIs, exec
// only), of any process it started (dockerd, containerd and the shims
// under it) and of any other process in the benchmark's network namespace
// (podman's conmon), minus what was there before. "initKiB/ctr" is the
// anonymous memory of each container's PID 1 (the command itself; the
// shim of a hull.WithDetached container is outside, counted as host memory
// like Docker's shims) and "ctrKiB/ctr" that of everything in the
// container. runc: `runc run -d` (no shim: nothing
// stays outside).
func BenchmarkHostMemory(b *testing.B) {
	tarball := busyboxTar(b)
	n := memN()
	impls := append(runners[:1:1], struct {
		name  string
		setup func(b *testing.B, tarball []byte, opts ...hull.RunOption) starter
	}{"hull-detached", func(b *testing.B, tarball []byte, _ ...hull.RunOption) starter {
		return runners[0].setup(b, tarball, hull.WithDetached(), hull.WithNetworkMode("none"))
	}})
	impls = append(impls, runners[1:]...)
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			s := impl.setup(b, tarball, hull.WithNetworkMode("none"))
			defer s.removeAll()
			// A first container, so that one-time costs (hull's memfd copy
			// of itself, the peer's image) are not counted per container.
			if err := s.start(0); err != nil {
				b.Fatal(err)
			}
			s.removeAll()
			var host, init, ctr float64
			for b.Loop() {
				b.StopTimer()
				settle()
				before := sampleMemory(nil)
				if err := parallel(n, s.start); err != nil {
					b.Fatal(err)
				}
				settle()
				after := sampleMemory(s.pids())
				host += after.host - before.host
				init += after.init
				ctr += after.ctr
				s.removeAll()
				b.StartTimer()
			}
			per := float64(b.N * n)
			b.ReportMetric(host/per, "hostKiB/ctr")
			b.ReportMetric(init/per, "initKiB/ctr")
			b.ReportMetric(ctr/per, "ctrKiB/ctr")
		})
	}
}

// settle waits (at most 10s) until the processes the benchmark accounts
// for stay the same for 300ms: shims finishing their start, podman's
// cleanup processes after a removal, hull's next warm init.
func settle() {
	prev := ""
	for range 30 {
		time.Sleep(300 * time.Millisecond)
		cur := fmt.Sprint(trackedPIDs(nil))
		if cur == prev {
			return
		}
		prev = cur
	}
}

// memSample is memory in KiB (anonymous): outside the containers (host), their
// PID 1s (init) and all of their processes (ctr).
type memSample struct{ host, init, ctr float64 }

// sampleMemory sums the anonymous memory of the processes the benchmark accounts for:
// itself, its descendants, the processes in its network namespace, and
// the containers whose PID 1 are ctrPIDs with their descendants. A process
// in one of those containers' cgroups counts as the container's, any other
// as the host's.
func sampleMemory(ctrPIDs []int) memSample {
	runtime.GC()
	debug.FreeOSMemory()
	cgroups := map[string]bool{}
	var s memSample
	for _, pid := range ctrPIDs {
		cgroups[memoryCgroup(pid)] = true
		s.init += anon(pid)
	}
	for _, pid := range trackedPIDs(ctrPIDs) {
		if len(ctrPIDs) > 0 && cgroups[memoryCgroup(pid)] {
			s.ctr += anon(pid)
		} else {
			s.host += anon(pid)
		}
	}
	return s
}

// trackedPIDs lists, sorted, the benchmark process, the processes in its
// network namespace, the processes roots, and all of their descendants.
func trackedPIDs(roots []int) []int {
	netns, _ := os.Readlink("/proc/self/ns/net")
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid := parentPID(pid); ppid > 0 {
			children[ppid] = append(children[ppid], pid)
		}
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/net")); err == nil && ns == netns {
			roots = append(roots, pid)
		}
	}
	tracked := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		if tracked[pid] {
			return
		}
		tracked[pid] = true
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(os.Getpid())
	for _, pid := range roots {
		walk(pid)
	}
	return slices.Sorted(maps.Keys(tracked))
}

// parentPID is pid's parent, 0 when unknown.
func parentPID(pid int) int {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after its ')'.
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// memoryCgroup is the memory cgroup of pid (v1), or its v2 cgroup.
func memoryCgroup(pid int) string {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	defer f.Close()
	v2 := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return parts[2]
			}
		}
		if parts[0] == "0" {
			v2 = parts[2]
		}
	}
	return "v2:" + v2
}

// anon is pid's anonymous memory in KiB (heap, stacks, written data:
// what one more such process costs; its binary's text is shared by every
// process running it), 0 when it is gone.
func anon(pid int) float64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb
		}
	}
	return 0
}
