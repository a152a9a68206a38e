package spec

import (
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// goarch is the architecture whose seccomp profile Generate writes.
const goarch = runtime.GOARCH

// seccompArches are the ABIs a process may use, by GOARCH. An architecture not listed
// gets only its native ABI.
var seccompArches = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
}

// seccompFor builds Docker's default seccomp profile for an architecture and a bounding
// capability set (Generate uses the container's own set): every argument-free allow rule
// that applies is merged into one sorted entry, followed by the rules with argument filters
// or errno actions, in table order. Everything not listed fails with EPERM; ordinary
// programs' syscalls are allowed; what needs a capability outside Docker's default set
// (mount, module loading, reboot, namespaces, BPF, ...) is allowed only when that
// capability is in the bounding set; clone3 fails with ENOSYS so libc falls back to clone,
// whose namespace flags are filtered.
//
// Names are those of every ABI the profile lists (x86_64 with i386 and x32, or aarch64
// with arm); whoever compiles the filter skips names an ABI does not have, as runc does.
// ptrace is allowed as in Docker, which assumes kernel ≥ 4.8 (before it, ptrace could
// bypass seccomp).
func seccompFor(arch string, bounding []string) *specs.LinuxSeccomp {
	eperm := uint(unix.EPERM)
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   slices.Clone(seccompArches[arch]),
	}
	var allowed []string
	var special []specs.LinuxSyscall
	for _, r := range seccompRules {
		if !r.applies(arch, bounding) {
			continue
		}
		if r.errno == 0 && len(r.args) == 0 {
			allowed = append(allowed, r.names...)
			continue
		}
		sc := specs.LinuxSyscall{Names: sortedCopy(r.names), Action: specs.ActAllow, Args: slices.Clone(r.args)}
		if r.errno != 0 {
			errno := uint(r.errno)
			sc.Action, sc.ErrnoRet = specs.ActErrno, &errno
		}
		special = append(special, sc)
	}
	slices.Sort(allowed)
	allowed = slices.Compact(allowed)
	p.Syscalls = append([]specs.LinuxSyscall{{Names: allowed, Action: specs.ActAllow}}, special...)
	return p
}

// seccompRule is one entry of the profile table. The zero action is allow.
type seccompRule struct {
	names []string
	errno unix.Errno              // non-zero: fail with this errno instead of allowing
	args  []specs.LinuxSeccompArg // all must match (libseccomp ANDs a rule's args)
	arch  []string                // GOARCH values the rule is for; nil means all
	// ifCap includes the rule only when one of these capabilities is in the bounding set;
	// unlessCap only when none of these is.
	ifCap, unlessCap []string
}

func (r seccompRule) applies(arch string, bounding []string) bool {
	has := func(c string) bool { return slices.Contains(bounding, c) }
	switch {
	case r.arch != nil && !slices.Contains(r.arch, arch):
		return false
	case r.ifCap != nil && !slices.ContainsFunc(r.ifCap, has):
		return false
	case slices.ContainsFunc(r.unlessCap, has):
		return false
	}
	return true
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Argument values the filters compare against.
const (
	// cloneNamespaceFlags is CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP.
	cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	perLinux       = 0x0000     // PER_LINUX
	perLinux32     = 0x0008     // PER_LINUX32
	perUname26     = 0x0020000  // UNAME26
	perLinux32U26  = 0x0020008  // PER_LINUX32|UNAME26
	personalityGet = 0xffffffff // query the current persona
)

// argEq is a one-argument equality filter.
func argEq(index uint, v uint64) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{{Index: index, Value: v, Op: specs.OpEqualTo}}
}

// seccompRules is the profile, written from Docker's default profile's semantics.
// Syscalls in no rule (or in a rule whose capability is missing) fail with EPERM;
// notably: add_key, keyctl, request_key (the keyring is not namespaced), kexec_load,
// kexec_file_load, swapon, swapoff, pivot_root, io_uring_* (Docker ≥ 25), userfaultfd,
// nfsservctl, uselib, ustat, sysfs, _sysctl, vm86, create_module, query_module and
// get_kernel_syms.
var seccompRules = []seccompRule{
	{names: fileSyscalls},
	{names: eventSyscalls},
	{names: processSyscalls},
	{names: signalSyscalls},
	{names: memorySyscalls},
	{names: timeSyscalls},
	{names: networkSyscalls},
	{names: ipcSyscalls},
	// Allowed as Docker allows them on kernels ≥ 4.8, where seccomp runs after ptrace
	// stops and a tracer cannot skip it.
	{names: []string{"ptrace", "process_vm_readv", "process_vm_writev"}},
	// socket, except AF_VSOCK (Docker ≥ 25: talks to the hypervisor, not the netns).
	{names: []string{"socket"}, args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpNotEqual}}},
	// personality: only the Linux personas, not ones that turn off ASLR or map page 0.
	{names: []string{"personality"}, args: argEq(0, perLinux)},
	{names: []string{"personality"}, args: argEq(0, perLinux32)},
	{names: []string{"personality"}, args: argEq(0, perUname26)},
	{names: []string{"personality"}, args: argEq(0, perLinux32U26)},
	{names: []string{"personality"}, args: argEq(0, personalityGet)},

	{names: []string{"arch_prctl", "modify_ldt"}, arch: []string{"amd64"}},
	{names: []string{"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls", "sync_file_range2"}, arch: []string{"arm64"}},

	// Gated on capabilities: allowed only when the container holds the capability.
	{names: []string{"open_by_handle_at"}, ifCap: []string{"CAP_DAC_READ_SEARCH"}},
	{names: []string{
		"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
		"lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
		"quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
		"umount2", "unshare",
	}, ifCap: []string{"CAP_SYS_ADMIN"}},
	// Without CAP_SYS_ADMIN: clone without namespace flags, and clone3 (whose flags sit in
	// memory a filter cannot read) fails with ENOSYS so libc falls back to clone.
	{names: []string{"clone"}, unlessCap: []string{"CAP_SYS_ADMIN"},
		args: []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
	{names: []string{"clone3"}, unlessCap: []string{"CAP_SYS_ADMIN"}, errno: unix.ENOSYS},
	{names: []string{"reboot"}, ifCap: []string{"CAP_SYS_BOOT"}},
	{names: []string{"chroot"}, ifCap: []string{"CAP_SYS_CHROOT"}},
	{names: []string{"delete_module", "finit_module", "init_module"}, ifCap: []string{"CAP_SYS_MODULE"}},
	{names: []string{"acct"}, ifCap: []string{"CAP_SYS_PACCT"}},
	{names: []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}, ifCap: []string{"CAP_SYS_PTRACE"}},
	{names: []string{"ioperm", "iopl"}, ifCap: []string{"CAP_SYS_RAWIO"}},
	{names: []string{"clock_settime", "clock_settime64", "settimeofday", "stime"}, ifCap: []string{"CAP_SYS_TIME"}},
	{names: []string{"vhangup"}, ifCap: []string{"CAP_SYS_TTY_CONFIG"}},
	{names: []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}, ifCap: []string{"CAP_SYS_NICE"}},
	{names: []string{"syslog"}, ifCap: []string{"CAP_SYSLOG"}},
	{names: []string{"bpf"}, ifCap: []string{"CAP_BPF"}},
	{names: []string{"perf_event_open"}, ifCap: []string{"CAP_PERFMON"}},
}

// The allow-list, by subsystem. 32-bit and time64 variants are listed for the compat ABIs.
var (
	fileSyscalls = []string{
		"access", "cachestat", "chdir", "chmod", "chown", "chown32", "close", "close_range",
		"copy_file_range", "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2",
		"fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
		"fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
		"fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat",
		"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
		"futimesat", "getcwd", "getdents", "getdents64", "getxattr", "getxattrat",
		"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "ioctl",
		"lchown", "lchown32", "lgetxattr", "link", "linkat", "listmount", "listxattr",
		"listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
		"lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at", "newfstatat",
		"open", "openat", "openat2", "pipe", "pipe2", "pread64", "preadv", "preadv2",
		"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
		"readv", "removexattr", "removexattrat", "rename", "renameat", "renameat2", "rmdir",
		"sendfile", "sendfile64", "setxattr", "setxattrat", "splice", "stat", "stat64",
		"statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
		"sync_file_range", "syncfs", "tee", "truncate", "truncate64", "umask", "unlink",
		"unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice", "write",
		"writev",
	}
	eventSyscalls = []string{
		"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
		"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "io_cancel",
		"io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
		"io_submit", "_newselect", "poll", "ppoll", "ppoll_time64", "pselect6",
		"pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create",
		"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
	}
	processSyscalls = []string{
		"capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "getcpu",
		"getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
		"getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
		"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
		"getrusage", "getsid", "get_thread_area", "gettid", "getuid", "getuid32", "ioprio_get",
		"ioprio_set", "kill", "landlock_add_rule", "landlock_create_ruleset",
		"landlock_restrict_self", "membarrier", "pidfd_open", "pidfd_send_signal", "prctl",
		"prlimit64", "process_mrelease", "restart_syscall", "rseq", "sched_getaffinity",
		"sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
		"sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
		"sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
		"sched_yield", "seccomp", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
		"setgid32", "setgroups", "setgroups32", "setpgid", "setpriority", "setregid",
		"setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
		"setreuid32", "setrlimit", "set_robust_list", "setsid", "set_thread_area",
		"set_tid_address", "setuid", "setuid32", "sysinfo", "tgkill", "times", "tkill",
		"ugetrlimit", "uname", "uretprobe", "vfork", "wait4", "waitid", "waitpid",
	}
	signalSyscalls = []string{
		"alarm", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
		"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
		"rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn",
	}
	// Memory, and the futexes built on it.
	memorySyscalls = []string{
		"brk", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
		"futex_wake", "madvise", "map_shadow_stack", "memfd_create", "memfd_secret", "mincore",
		"mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "mseal", "msync",
		"munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect",
		"remap_file_pages",
	}
	// adjtimex and clock_adjtime only read the clock without CAP_SYS_TIME.
	timeSyscalls = []string{
		"adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
		"clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
		"getitimer", "gettimeofday", "nanosleep", "setitimer", "time", "timer_create",
		"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
		"timer_settime", "timer_settime64",
	}
	networkSyscalls = []string{
		"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
		"listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
		"sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
	}
	ipcSyscalls = []string{
		"ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
		"mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl",
		"msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop",
		"semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
	}
)
