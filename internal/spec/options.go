package spec

import (
	"io/fs"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options is everything a container's spec depends on besides the image's rootfs. The zero
// value of every field means Docker's default, stated on the field.
type Options struct {
	// ID is the container's ID. Its first 12 characters are the default hostname.
	ID string
	// Hostname is the container's hostname, also exported as HOSTNAME. Default: ID[:12].
	Hostname string
	// Image is the image's config: defaults for Entrypoint, Cmd, Env, WorkingDir, User,
	// StopSignal and Labels.
	Image ocispec.ImageConfig

	// Cmd replaces the image's Cmd when not empty.
	Cmd []string
	// Entrypoint replaces the image's Entrypoint when EntrypointSet or not empty. As in
	// Docker, overriding the entrypoint also drops the image's Cmd: only Cmd follows it.
	Entrypoint []string
	// EntrypointSet makes an empty Entrypoint an override (docker run --entrypoint "").
	EntrypointSet bool
	// Env is merged over the image's Env by key, later entries winning. An entry without
	// "=" removes that key.
	Env []string
	// WorkingDir replaces the image's WorkingDir; it must be absolute. Default: "/".
	WorkingDir string
	// User replaces the image's User: "name", "uid", "uid:gid", "name:group" (resolved by
	// ResolveUser). Default: root.
	User string

	// TTY gives the process a terminal and TERM=xterm.
	TTY bool
	// OpenStdin keeps stdin open. It does not change the spec (stdin is wired by the
	// caller); it is here so a run's options pass through whole.
	OpenStdin bool

	// UserFS, when set, is where User is resolved (its etc/passwd and etc/group) instead
	// of the rootfs directory: for a rootfs not mounted where the caller runs, such as an
	// fs.FS over the image's layers. It must not let symlinks out of the image: os.DirFS
	// does, an os.Root's FS does not.
	UserFS fs.FS

	// ReadonlyRootfs mounts the rootfs read-only.
	ReadonlyRootfs bool
	// Privileged gives every capability the kernel knows, no seccomp, no masked or
	// read-only paths, writable /sys, an allow-all device cgroup and no no_new_privs.
	Privileged bool
	// AllowNewPrivileges leaves no_new_privs off. Default: on (setuid binaries and file
	// capabilities do not raise privileges). Docker's default is off; hull's issue asks for
	// it on. Privileged implies it.
	AllowNewPrivileges bool
	// CapAdd and CapDrop change the default capability set. Names are "NET_ADMIN" or
	// "CAP_NET_ADMIN" (any case), or "ALL".
	CapAdd, CapDrop []string

	// Memory is the memory limit in bytes (at least 6 MiB, like Docker); 0 means none.
	Memory int64
	// MemorySwap is memory+swap in bytes: 0 means twice Memory, -1 unlimited. It needs
	// Memory. A cgroup without swap accounting cannot apply it; the caller decides.
	MemorySwap int64
	// CPUs is the number of CPUs' worth of time (quota over a 100ms period); 0 means none.
	CPUs float64
	// CPUShares is the relative CPU weight (cgroup v1 shares); 0 means the default.
	CPUShares uint64
	// CpusetCpus and CpusetMems pin the container ("0-2,4"); "" means all.
	CpusetCpus, CpusetMems string
	// PidsLimit caps the number of tasks; 0 or less means no limit.
	PidsLimit int64
	// Ulimits set rlimits by Docker's names ("nofile", "nproc", ...). RLIMIT_NOFILE
	// defaults to 1048576. Every rlimit is clamped to the host's hard limit.
	Ulimits []Ulimit

	// Tmpfs mounts a tmpfs at each path, with options merged over
	// "rw,noexec,nosuid,nodev" (Docker's defaults).
	Tmpfs map[string]string
	// Mounts are passed through (volumes, binds, /etc/hosts, /etc/resolv.conf ...). A
	// Mounts or Tmpfs entry at a default mount's path, or above it, replaces that default.
	Mounts []specs.Mount

	// Init records (in AnnotationInit) that the caller injects a reaping PID 1.
	Init bool
	// StopSignal replaces the image's StopSignal ("SIGTERM", "TERM", "15").
	StopSignal string
	// Sysctls are set in the container; only namespaced ones are accepted (kernel.msg*,
	// kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.hostname, kernel.domainname).
	Sysctls map[string]string
	// Labels are added to the spec's annotations over the image's labels.
	Labels map[string]string

	// NetNSPath joins an existing network namespace; "" makes a new one.
	NetNSPath string
	// CgroupsPath is where the runtime puts the container's cgroup.
	CgroupsPath string
	// HostRlimits reports the host's soft and hard limit of a resource (unix.RLIMIT_*), for
	// clamping. Default: getrlimit(2) of the calling process.
	HostRlimits func(resource int) (cur, max uint64, err error)
}

// Ulimit is one rlimit, named as docker run --ulimit names it.
type Ulimit struct {
	// Name is the resource: "nofile", "nproc", "core", ... ("RLIMIT_NOFILE" also works).
	Name string
	// Soft and Hard are the limits; a negative value means unlimited.
	Soft, Hard int64
}
