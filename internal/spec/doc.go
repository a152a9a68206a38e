// Package spec turns an image's config and a container's run options into an OCI runtime
// spec (specs.Spec), with the defaults Docker ships: Docker's precedence of Entrypoint, Cmd
// and Env; its 14 default capabilities; its seccomp profile; its masked and read-only
// /proc and /sys paths; its /dev, devpts, /dev/shm and mqueue mounts; its device cgroup
// allow-list; and its memory, CPU and pids conversions.
//
// Generate is pure apart from three reads: the container rootfs's /etc/passwd and
// /etc/group (opened with openat2(RESOLVE_IN_ROOT), or pathrs-lite on older kernels, so a
// symlink in a hostile image cannot make hull read a host file; Options.UserFS reads them
// from an fs.FS instead, for a rootfs that is not mounted where the caller runs),
// /proc/sys/kernel/cap_last_cap (which capabilities this kernel knows), and the caller's
// rlimits (Options.HostRlimits). It creates nothing:
// the working directory, /etc/hosts, /etc/hostname and /etc/resolv.conf are the caller's
// (the last three come in as Options.Mounts).
//
// Where hull differs from Docker on purpose, the doc comment of the field or function says
// so. The differences are:
//
//   - no_new_privs is on by default (Docker leaves it off unless
//     --security-opt no-new-privileges); Options.AllowNewPrivileges turns it off.
//   - every rlimit is clamped to the host's hard limit, so a container starts on a host
//     whose hard NOFILE or NPROC limits are lower than what was asked for.
//   - the cgroup namespace is always private (Docker uses the host's on cgroup v1).
//   - a privileged container gets every capability, no seccomp, no masked paths and an
//     allow-all device cgroup, but not the host's device nodes: bind them with
//     Options.Mounts if needed.
//
// The package is Linux-only: an OCI Linux spec means nothing elsewhere. Only Options and
// Ulimit build on other systems, so that hull's option types do.
package spec
