package hull

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/spec"
)

// containerOptions are the resource and security settings of a run; the
// zero value is Docker's defaults. runConfig embeds it as opts.
type containerOptions struct {
	cpus                   float64
	cpuShares              uint64
	cpusetCpus, cpusetMems string
	memorySwap             int64
	ulimits                []spec.Ulimit
	readonlyRootfs         bool
	tmpfs                  map[string]string
	capAdd, capDrop        []string
	privileged             bool
	stopSignal             syscall.Signal
	stopTimeout            *time.Duration
	labels                 map[string]string
	autoRemove             bool
	sysctls                map[string]string
}

// specOptions copies the settings into o for internal/spec.
func (x *containerOptions) specOptions(o *spec.Options) {
	o.CPUs, o.CPUShares = x.cpus, x.cpuShares
	o.CpusetCpus, o.CpusetMems = x.cpusetCpus, x.cpusetMems
	o.MemorySwap = x.memorySwap
	o.Ulimits = x.ulimits
	o.ReadonlyRootfs = x.readonlyRootfs
	o.Tmpfs = x.tmpfs
	o.CapAdd, o.CapDrop = x.capAdd, x.capDrop
	o.Privileged = x.privileged
	if x.stopSignal != 0 {
		o.StopSignal = strconv.Itoa(int(x.stopSignal))
	}
	o.Labels = x.labels
	o.Sysctls = x.sysctls
}

// WithCPUs limits the container to n CPUs' worth of time (a CFS quota of
// n×100ms per 100ms period), like docker run --cpus. Default: unlimited.
func WithCPUs(n float64) RunOption {
	return func(c *runConfig) error {
		if n <= 0 || n > 1<<20 {
			return fmt.Errorf("%w: cpus %g: want a positive number", ErrInvalidArgument, n)
		}
		c.opts.cpus = n
		return nil
	}
}

// WithCPUShares sets the container's relative CPU weight against other
// cgroups (cgroup v1 cpu.shares; converted to cpu.weight on v2). Default:
// 1024, the kernel's.
func WithCPUShares(shares int64) RunOption {
	return func(c *runConfig) error {
		if shares < 2 || shares > 262144 {
			return fmt.Errorf("%w: cpu shares %d: want 2 to 262144", ErrInvalidArgument, shares)
		}
		c.opts.cpuShares = uint64(shares)
		return nil
	}
}

// WithCPUSet pins the container to CPUs and memory nodes, in the kernel's
// list format ("0-2,4"); an empty string leaves that part unpinned.
// Default: every CPU and node of the host.
func WithCPUSet(cpus, mems string) RunOption {
	return func(c *runConfig) error {
		for _, s := range []string{cpus, mems} {
			if strings.Trim(s, "0123456789,-") != "" {
				return fmt.Errorf("%w: cpuset %q: want a list like 0-2,4", ErrInvalidArgument, s)
			}
		}
		c.opts.cpusetCpus, c.opts.cpusetMems = cpus, mems
		return nil
	}
}

// WithMemorySwap sets the limit of memory plus swap in bytes; -1 means
// unlimited swap. It needs WithMemory and may not be below it. Default:
// twice the memory limit, as Docker. A host without swap accounting
// ignores it.
func WithMemorySwap(bytes int64) RunOption {
	return func(c *runConfig) error {
		if bytes == 0 || bytes < -1 {
			return fmt.Errorf("%w: memory+swap limit %d", ErrInvalidArgument, bytes)
		}
		c.opts.memorySwap = bytes
		return nil
	}
}

// WithUlimit sets an rlimit by its docker run --ulimit name ("nofile",
// "nproc", "core"...); a negative value is unlimited. Limits are clamped
// to the host's hard limit (hull's choice, so that a container starts on
// a host with low limits). Default: nofile 1048576:1048576, the rest
// inherited from the calling process.
func WithUlimit(name string, soft, hard int64) RunOption {
	return func(c *runConfig) error {
		if name == "" {
			return fmt.Errorf("%w: empty ulimit name", ErrInvalidArgument)
		}
		c.opts.ulimits = append(c.opts.ulimits, spec.Ulimit{Name: name, Soft: soft, Hard: hard})
		return nil
	}
}

// WithReadOnlyRootfs mounts the container's root filesystem read-only;
// tmpfs mounts, volumes and /dev, /proc, /etc/hosts... stay writable.
// Default: writable (changes go to the container's own layer).
func WithReadOnlyRootfs() RunOption {
	return func(c *runConfig) error {
		c.opts.readonlyRootfs = true
		return nil
	}
}

// WithTmpfs mounts an empty tmpfs at path, with docker --tmpfs options
// ("size=64m,mode=1777,exec") merged over Docker's defaults
// "rw,noexec,nosuid,nodev". Targets under /proc: see WithVolume.
// Default: none.
func WithTmpfs(path, options string) RunOption {
	return func(c *runConfig) error {
		if !strings.HasPrefix(path, "/") || path == "/" {
			return fmt.Errorf("%w: tmpfs path %q: want an absolute path below /", ErrInvalidArgument, path)
		}
		if c.opts.tmpfs == nil {
			c.opts.tmpfs = map[string]string{}
		}
		c.opts.tmpfs[path] = options
		return nil
	}
}

// WithCapAdd adds capabilities ("NET_ADMIN" or "CAP_NET_ADMIN", or "ALL")
// to the default set. Docker's seccomp profile follows: adding SYS_ADMIN
// also allows mount, unshare and the like. Default: Docker's 14
// capabilities (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW,
// SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL,
// AUDIT_WRITE).
func WithCapAdd(caps ...string) RunOption {
	return func(c *runConfig) error {
		c.opts.capAdd = append(c.opts.capAdd, caps...)
		return nil
	}
}

// WithCapDrop removes capabilities (or "ALL") from the default set; an
// added capability wins over a dropped one. Default: none dropped.
func WithCapDrop(caps ...string) RunOption {
	return func(c *runConfig) error {
		c.opts.capDrop = append(c.opts.capDrop, caps...)
		return nil
	}
}

// WithPrivileged runs the container with every capability, no seccomp
// filter, no masked or read-only /proc paths, writable /sys and cgroup
// filesystem, and no no_new_privs, like docker run --privileged. Unlike
// Docker, the host's devices are not added to its /dev. Default: off.
func WithPrivileged() RunOption {
	return func(c *runConfig) error {
		c.opts.privileged = true
		return nil
	}
}

// WithStopSignal sets the signal Stop sends first (syscall.SIGINT...).
// Default: the image's STOPSIGNAL, else SIGTERM.
func WithStopSignal(sig syscall.Signal) RunOption {
	return func(c *runConfig) error {
		if sig < 1 || sig > 64 {
			return fmt.Errorf("%w: stop signal %d: want 1 to 64", ErrInvalidArgument, int(sig))
		}
		c.opts.stopSignal = sig
		return nil
	}
}

// WithStopTimeout sets how long Stop waits after the stop signal before
// SIGKILL when it is called with a negative timeout (the CLI's stop and
// rt.Close use it). Default: 10 seconds, as Docker.
func WithStopTimeout(d time.Duration) RunOption {
	return func(c *runConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: negative stop timeout %v", ErrInvalidArgument, d)
		}
		c.opts.stopTimeout = &d
		return nil
	}
}

// WithLabels adds labels (over the image's), recorded in the container's
// spec as annotations. Default: the image's labels.
func WithLabels(labels map[string]string) RunOption {
	return func(c *runConfig) error {
		for k := range labels {
			if k == "" {
				return fmt.Errorf("%w: empty label key", ErrInvalidArgument)
			}
		}
		if c.opts.labels == nil {
			c.opts.labels = map[string]string{}
		}
		maps.Copy(c.opts.labels, labels)
		return nil
	}
}

// WithAutoRemove removes the container (its files, cgroup and image hold)
// as soon as its process exits, like docker run --rm; Wait still returns
// its exit status. Default: off (the caller calls Remove).
func WithAutoRemove() RunOption {
	return func(c *runConfig) error {
		c.opts.autoRemove = true
		return nil
	}
}

// WithSysctl sets a namespaced kernel parameter in the container
// ("net.ipv4.ip_forward", "kernel.shm_rmid_forced", fs.mqueue.*...); others
// are refused by Create. Default: the kernel's defaults for a new
// namespace.
func WithSysctl(key, value string) RunOption {
	return func(c *runConfig) error {
		if key == "" || strings.ContainsAny(key, "/ ") {
			return fmt.Errorf("%w: sysctl %q", ErrInvalidArgument, key)
		}
		if c.opts.sysctls == nil {
			c.opts.sysctls = map[string]string{}
		}
		c.opts.sysctls[key] = value
		return nil
	}
}
