package spec

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// verdict evaluates a profile for one call the way libseccomp does for these rules: a
// rule matches when all its argument conditions hold; an allow that matches wins; else
// the first matching errno rule; else the default action.
func verdict(p *specs.LinuxSeccomp, name string, args ...uint64) (allowed bool, errno uint) {
	var errnoRule *specs.LinuxSyscall
	for i, r := range p.Syscalls {
		if !slices.Contains(r.Names, name) || !argsMatch(r.Args, args) {
			continue
		}
		if r.Action == specs.ActAllow {
			return true, 0
		}
		if errnoRule == nil {
			errnoRule = &p.Syscalls[i]
		}
	}
	if errnoRule != nil {
		return false, *errnoRule.ErrnoRet
	}
	return false, *p.DefaultErrnoRet
}

func argsMatch(conds []specs.LinuxSeccompArg, args []uint64) bool {
	for _, c := range conds {
		var v uint64
		if int(c.Index) < len(args) {
			v = args[c.Index]
		}
		var ok bool
		switch c.Op {
		case specs.OpEqualTo:
			ok = v == c.Value
		case specs.OpNotEqual:
			ok = v != c.Value
		case specs.OpMaskedEqual:
			ok = v&c.Value == c.ValueTwo
		default:
			panic("operator not modelled: " + c.Op)
		}
		if !ok {
			return false
		}
	}
	return true
}

// roundTrip marshals the profile to JSON and back, so the tests check what a runtime
// reads.
func roundTrip(t *testing.T, p *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out specs.LinuxSeccomp
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

type call struct {
	name string
	args []uint64
}

func c(name string, args ...uint64) call { return call{name, args} }

// What Go static binaries (the runtime, os, net) and busybox applets need.
var ordinaryCalls = []call{
	c("read"), c("write"), c("openat"), c("close"), c("mmap"), c("munmap"), c("madvise"),
	c("mprotect"), c("brk"), c("rt_sigaction"), c("rt_sigprocmask"), c("rt_sigreturn"),
	c("sigaltstack"), c("futex"), c("sched_getaffinity"), c("sched_yield"), c("gettid"),
	c("getpid"), c("tgkill"), c("exit_group"), c("exit"), c("epoll_create1"), c("epoll_ctl"),
	c("epoll_pwait"), c("pipe2"), c("fcntl"), c("nanosleep"), c("clock_gettime"),
	c("prlimit64"), c("getrandom"), c("uname"), c("mincore"), c("execve"), c("wait4"),
	c("fork"), c("vfork"), c("dup2"), c("dup3"), c("ioctl"), c("getuid"), c("getgid"),
	c("geteuid"), c("setuid"), c("setgid"), c("setgroups"), c("newfstatat"), c("statx"),
	c("getdents64"), c("readlinkat"), c("unlinkat"), c("mkdirat"), c("renameat2"),
	c("fchownat"), c("fchmodat"), c("utimensat"), c("chdir"), c("getcwd"), c("umask"),
	c("kill"), c("setsid"), c("setpgid"), c("prctl"), c("capget"), c("capset"),
	c("sendfile"), c("poll"), c("ppoll"), c("pselect6"), c("sysinfo"), c("chroot"),
	c("mknodat"), c("shmget"), c("semop"), c("mq_open"), c("rseq"), c("set_robust_list"),
	c("clone", unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_SYSVSEM),
	c("clone", uint64(unix.SIGCHLD)),
	c("socket", unix.AF_INET), c("socket", unix.AF_INET6), c("socket", unix.AF_UNIX), c("socket", unix.AF_NETLINK),
	c("connect"), c("bind"), c("listen"), c("accept4"), c("sendto"), c("recvfrom"),
	c("setsockopt"), c("getsockopt"), c("sendmmsg"), c("recvmsg"),
	c("personality", 0), c("personality", 8), c("personality", 0xffffffff),
	c("ptrace"), c("process_vm_readv"), c("io_setup"), c("memfd_create"), c("landlock_create_ruleset"),
}

// What Docker's default profile denies (with EPERM unless noted).
var deniedCalls = []call{
	c("mount"), c("umount2"), c("umount"), c("init_module"), c("finit_module"),
	c("delete_module"), c("add_key"), c("keyctl"), c("request_key"), c("reboot"),
	c("swapon"), c("swapoff"), c("kexec_load"), c("kexec_file_load"), c("open_by_handle_at"),
	c("unshare", unix.CLONE_NEWUSER), c("unshare", unix.CLONE_NEWNS), c("unshare", 0), c("setns"),
	c("bpf"), c("perf_event_open"), c("pivot_root"), c("io_uring_setup"), c("io_uring_enter"),
	c("userfaultfd"), c("acct"), c("settimeofday"), c("clock_settime"), c("iopl"), c("ioperm"),
	c("syslog"), c("quotactl"), c("lookup_dcookie"), c("fsopen"), c("fsmount"), c("open_tree"),
	c("move_mount"), c("sethostname"), c("setdomainname"), c("kcmp"), c("pidfd_getfd"),
	c("vhangup"), c("mbind"), c("set_mempolicy"), c("nfsservctl"), c("uselib"), c("_sysctl"),
	c("vm86"), c("create_module"),
	c("clone", unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), c("clone", unix.CLONE_NEWNET),
	c("clone", unix.CLONE_NEWPID), c("clone", unix.CLONE_NEWCGROUP),
	c("socket", unix.AF_VSOCK),
	c("personality", 0x0040000), // ADDR_NO_RANDOMIZE
	c("personality", 0x0400000), // READ_IMPLIES_EXEC
	c("not_a_syscall"),
}

func TestDefaultSeccomp(t *testing.T) {
	t.Parallel()
	p := roundTrip(t, seccompFor(goarch, defaultCaps))
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != uint(unix.EPERM) {
		t.Fatalf("default action %s errno %v", p.DefaultAction, p.DefaultErrnoRet)
	}
	for _, cl := range ordinaryCalls {
		if ok, errno := verdict(p, cl.name, cl.args...); !ok {
			t.Errorf("%s%x denied (errno %d); ordinary programs need it", cl.name, cl.args, errno)
		}
	}
	for _, cl := range deniedCalls {
		if ok, errno := verdict(p, cl.name, cl.args...); ok || errno != uint(unix.EPERM) {
			t.Errorf("%s%x: allowed %v errno %d; want EPERM", cl.name, cl.args, ok, errno)
		}
	}
	if ok, errno := verdict(p, "clone3"); ok || errno != uint(unix.ENOSYS) {
		t.Errorf("clone3: allowed %v errno %d; want ENOSYS so libc falls back to clone", ok, errno)
	}
}

func TestSeccompCapabilityGates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capability string
		unlocks    []call
	}{
		{"CAP_SYS_ADMIN", []call{c("mount"), c("umount2"), c("unshare", unix.CLONE_NEWUSER), c("setns"),
			c("clone", unix.CLONE_NEWUSER), c("clone3"), c("sethostname"), c("fsopen"), c("bpf"), c("syslog"), c("perf_event_open")}},
		{"CAP_SYS_MODULE", []call{c("init_module"), c("finit_module"), c("delete_module")}},
		{"CAP_SYS_BOOT", []call{c("reboot")}},
		{"CAP_DAC_READ_SEARCH", []call{c("open_by_handle_at")}},
		{"CAP_SYS_PTRACE", []call{c("kcmp"), c("pidfd_getfd"), c("process_madvise")}},
		{"CAP_SYS_TIME", []call{c("settimeofday"), c("clock_settime")}},
		{"CAP_SYS_RAWIO", []call{c("iopl"), c("ioperm")}},
		{"CAP_SYS_PACCT", []call{c("acct")}},
		{"CAP_SYS_NICE", []call{c("mbind"), c("set_mempolicy")}},
		{"CAP_SYS_TTY_CONFIG", []call{c("vhangup")}},
		{"CAP_SYSLOG", []call{c("syslog")}},
		{"CAP_BPF", []call{c("bpf")}},
		{"CAP_PERFMON", []call{c("perf_event_open")}},
	}
	for _, tt := range tests {
		t.Run(tt.capability, func(t *testing.T) {
			caps := append(slices.Clone(defaultCaps), tt.capability)
			p := roundTrip(t, seccompFor(goarch, caps))
			for _, cl := range tt.unlocks {
				if ok, _ := verdict(p, cl.name, cl.args...); !ok {
					t.Errorf("%s%x denied with %s", cl.name, cl.args, tt.capability)
				}
			}
			// Nothing that stays denied for every capability is unlocked.
			for _, name := range []string{"keyctl", "add_key", "kexec_load", "swapon", "pivot_root", "io_uring_setup"} {
				if ok, _ := verdict(p, name); ok {
					t.Errorf("%s allowed with %s", name, tt.capability)
				}
			}
		})
	}
	// Dropping a default capability closes its syscall.
	p := seccompFor(goarch, slices.DeleteFunc(slices.Clone(defaultCaps), func(c string) bool { return c == "CAP_SYS_CHROOT" }))
	if ok, _ := verdict(p, "chroot"); ok {
		t.Error("chroot allowed without CAP_SYS_CHROOT")
	}
}

// Generate gates on the container's own bounding set.
func TestSeccompFollowsCapAdd(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.CapAdd = []string{"SYS_ADMIN"}
	p := generate(t, o).Linux.Seccomp
	if ok, _ := verdict(p, "mount"); !ok {
		t.Error("mount denied with --cap-add SYS_ADMIN")
	}
	if ok, _ := verdict(p, "clone", unix.CLONE_NEWNS); !ok {
		t.Error("clone(CLONE_NEWNS) denied with --cap-add SYS_ADMIN")
	}
}

func TestSeccompArchitectures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		arch           string
		want           []specs.Arch
		allows, denies []string
	}{
		{"amd64", []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}, []string{"arch_prctl", "modify_ldt"}, []string{"set_tls"}},
		{"arm64", []specs.Arch{specs.ArchAARCH64, specs.ArchARM}, []string{"set_tls", "cacheflush"}, []string{"arch_prctl"}},
		{"riscv64", nil, nil, []string{"arch_prctl", "set_tls"}},
	}
	for _, tt := range tests {
		p := seccompFor(tt.arch, defaultCaps)
		if !slices.Equal(p.Architectures, tt.want) {
			t.Errorf("%s: architectures %v, want %v", tt.arch, p.Architectures, tt.want)
		}
		for _, n := range tt.allows {
			if ok, _ := verdict(p, n); !ok {
				t.Errorf("%s: %s denied", tt.arch, n)
			}
		}
		for _, n := range tt.denies {
			if ok, _ := verdict(p, n); ok {
				t.Errorf("%s: %s allowed", tt.arch, n)
			}
		}
	}
}

func TestSeccompShape(t *testing.T) {
	t.Parallel()
	p := seccompFor(goarch, defaultCaps)
	allow := p.Syscalls[0]
	if allow.Action != specs.ActAllow || allow.Args != nil || len(allow.Names) < 250 {
		t.Fatalf("first entry must be the plain allow-list: %s, %d names", allow.Action, len(allow.Names))
	}
	if !slices.IsSorted(allow.Names) || len(slices.Compact(slices.Clone(allow.Names))) != len(allow.Names) {
		t.Error("allow-list not sorted and unique")
	}
	valid := regexp.MustCompile(`^_?[a-z][a-z0-9_]*$`)
	for _, r := range p.Syscalls {
		for _, n := range r.Names {
			if !valid.MatchString(n) {
				t.Errorf("bad syscall name %q", n)
			}
		}
		if !slices.IsSorted(r.Names) {
			t.Errorf("names not sorted: %q", r.Names)
		}
	}
	// The returned profile is the caller's to change.
	p.Syscalls[0].Names[0] = "changed"
	if seccompFor(goarch, defaultCaps).Syscalls[0].Names[0] == "changed" {
		t.Error("DefaultSeccomp returns shared state")
	}
}
