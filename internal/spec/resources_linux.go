package spec

import (
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultNofile is the RLIMIT_NOFILE soft and hard limit a container gets unless
// Options.Ulimits says otherwise (before clamping to the host's hard limit).
const DefaultNofile = 1 << 20

// rlimits maps Docker's ulimit names to resources.
var rlimits = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU,
	"data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS,
	"memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE,
	"nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC,
	"rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// hostRlimit is getrlimit(2) of the calling process.
func hostRlimit(resource int) (cur, max uint64, err error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(resource, &r); err != nil {
		return 0, 0, err
	}
	return r.Cur, r.Max, nil
}

// buildRlimits returns the container's rlimits sorted by type: Docker's default NOFILE,
// replaced or joined by Options.Ulimits (the last of a name wins), each hard limit
// clamped to the host's hard limit and each soft limit to its hard limit. Clamping is
// hull's choice, not Docker's: raising a hard limit can fail (NOFILE above fs.nr_open),
// and a container must start on a host with low limits.
func buildRlimits(o *Options) ([]specs.POSIXRlimit, error) {
	want := map[string]Ulimit{"nofile": {Name: "nofile", Soft: DefaultNofile, Hard: DefaultNofile}}
	for _, u := range o.Ulimits {
		name := strings.ToLower(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(u.Name)), "RLIMIT_"))
		if _, ok := rlimits[name]; !ok {
			return nil, invalidf("unknown ulimit %q", u.Name)
		}
		if rlim(u.Soft) > rlim(u.Hard) {
			return nil, invalidf("ulimit %s: soft limit %d is above hard limit %d", name, u.Soft, u.Hard)
		}
		want[name] = u
	}
	host := o.HostRlimits
	if host == nil {
		host = hostRlimit
	}
	out := make([]specs.POSIXRlimit, 0, len(want))
	for _, name := range slices.Sorted(maps.Keys(want)) {
		u := want[name]
		_, max, err := host(rlimits[name])
		if err != nil {
			return nil, fmt.Errorf("host rlimit %s: %w", name, err)
		}
		hard := min(rlim(u.Hard), max)
		soft := min(rlim(u.Soft), hard)
		out = append(out, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(name), Hard: hard, Soft: soft})
	}
	return out, nil
}

// rlim converts a Ulimit value: negative is RLIM_INFINITY.
func rlim(v int64) uint64 {
	if v < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64(v)
}

// minMemory is Docker's smallest memory limit: below it a container cannot even start.
const minMemory = 6 << 20

// cpuPeriod is the CFS period Docker uses for --cpus (100ms, in µs).
const cpuPeriod = 100000

// buildResources converts the limits as Docker does, and sets the device cgroup rules.
func buildResources(o *Options) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{Devices: deviceRules(o.Privileged)}
	mem, err := memory(o.Memory, o.MemorySwap)
	if err != nil {
		return nil, err
	}
	r.Memory = mem
	cpu, err := cpuLimits(o)
	if err != nil {
		return nil, err
	}
	r.CPU = cpu
	if o.PidsLimit > 0 {
		limit := o.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r, nil
}

// memory applies Docker's rules: at least 6 MiB; swap (memory+swap) defaults to twice the
// memory, -1 is unlimited, and may not be below the memory limit.
func memory(limit, swap int64) (*specs.LinuxMemory, error) {
	switch {
	case limit < 0:
		return nil, invalidf("memory limit %d is negative", limit)
	case limit == 0 && swap != 0:
		return nil, invalidf("a memory+swap limit needs a memory limit")
	case limit == 0:
		return nil, nil
	case limit < minMemory:
		return nil, invalidf("memory limit %d is below the minimum of 6MiB", limit)
	case swap < -1:
		return nil, invalidf("memory+swap limit %d is invalid", swap)
	case swap > 0 && swap < limit:
		return nil, invalidf("memory+swap limit %d is below the memory limit %d", swap, limit)
	case swap == 0:
		swap = limit * 2
	}
	return &specs.LinuxMemory{Limit: &limit, Swap: &swap}, nil
}

// cpuLimits converts CPUs into a quota over a 100ms period, like docker run --cpus, and
// passes shares and cpusets through. CPUs must be between 0.01 and the CPUs available.
func cpuLimits(o *Options) (*specs.LinuxCPU, error) {
	if o.CPUs == 0 && o.CPUShares == 0 && o.CpusetCpus == "" && o.CpusetMems == "" {
		return nil, nil
	}
	c := &specs.LinuxCPU{Cpus: o.CpusetCpus, Mems: o.CpusetMems}
	if o.CPUShares != 0 {
		shares := o.CPUShares
		c.Shares = &shares
	}
	if o.CPUs != 0 {
		n := runtime.NumCPU()
		if math.IsNaN(o.CPUs) || o.CPUs < 0.01 || o.CPUs > float64(n) {
			return nil, invalidf("CPUs %g out of range: from 0.01 to %d, the CPUs available", o.CPUs, n)
		}
		quota := int64(math.Round(o.CPUs * cpuPeriod))
		period := uint64(cpuPeriod)
		c.Quota, c.Period = &quota, &period
	}
	return c, nil
}

// namespacedSysctls are the sysctl prefixes a container's own namespaces cover (runc's
// rule): IPC, mqueue, network and UTS.
var namespacedSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
	"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.", "net.",
	"kernel.hostname", "kernel.domainname",
}

// sysctls refuses a sysctl the container's namespaces do not isolate: setting it would
// change the host.
func sysctls(in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	for k := range in {
		ok := slices.ContainsFunc(namespacedSysctls, func(p string) bool {
			return k == p || (strings.HasSuffix(p, ".") && strings.HasPrefix(k, p))
		})
		if !ok {
			return nil, invalidf("sysctl %q is not namespaced: it would change the host", k)
		}
	}
	return maps.Clone(in), nil
}
