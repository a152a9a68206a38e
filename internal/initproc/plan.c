// The container init in C: runs a plan (plan_linux.go) in a clone of the
// program that shares its memory until it execs the container's process
// (hull_plan_spawn, at the end). See plan in plan_linux.go for why, and
// Compile there for the format. It takes no decision and words nothing:
// a failure is reported as {step, at, n, errno} (fail_code), which Go's
// planWord words.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "plan_ops.h"
#include "readfull.h"
#include "spawn.h"

// The new mount API, under our own names: older headers lack it, and
// glibc 2.36's <sys/mount.h> defines some of it.
#ifndef __NR_open_tree
#define __NR_open_tree 428
#endif
#ifndef __NR_move_mount
#define __NR_move_mount 429
#endif
#ifndef __NR_fsopen
#define __NR_fsopen 430
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#define HULL_OPEN_TREE_CLONE 1
#define HULL_AT_RECURSIVE 0x8000
#define HULL_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define HULL_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define HULL_MOUNT_ATTR_RDONLY 0x1
#define HULL_MOUNT_ATTR_NOSUID 0x2
#define HULL_MOUNT_ATTR_NODEV 0x4
#define HULL_MOUNT_ATTR_NOEXEC 0x8
struct hull_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
// openat2 (Linux 5.6), likewise.
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#define HULL_RESOLVE_NO_MAGICLINKS 0x02
#define HULL_RESOLVE_NO_SYMLINKS 0x04
#define HULL_RESOLVE_IN_ROOT 0x10
struct hull_open_how {
	uint64_t flags, mode, resolve;
};

#define CONFIG_FD 3
#define STATUS_FD 4
#define CONSOLE_FD 5 // a terminal's socket (opConsole), when there is one
#define NS_FD 6      // a pidfd of the process whose namespaces opSetnsFD joins
#define MAX_ARGS 4096

// Per thread, as everything this file changes: a plan init started by
// hull_plan_spawn shares the program's memory until it execs, and
// several may run at once, each on the thread that started it (which
// waits) and so with that thread's own copy of these.
static __thread uint32_t cur_step; // the step running, from 1; 0: before the plan
static __thread int trace_fd = -1;
static __thread int status_fd = STATUS_FD;
static __thread char fdpath_buf[64];
// What op_fork needs: the rest of the plan (run_plan's), the stack and
// the parent-death signal of its child, and op_console's pty slave.
static __thread const unsigned char *plan_next, *plan_end;
static __thread char *fork_stack;
static __thread int fork_deathsig;
static __thread int *fork_pid; // where the kernel writes op_fork's child's pid
static __thread int *started;  // set once op_ready has its start byte, if not NULL
static __thread int console_slave;

// ---- reporting ----

static void write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= w;
	}
}

// fail_code reports the running step's failure on the status pipe: at
// (a FAIL_ constant: where in the step), n (a number some of them need)
// and err; then exits with code. The parent words it (initproc.Word).
static void fail_code(int code, int at, long n, int err) {
	char buf[160];
	int len = snprintf(buf, sizeof(buf),
			   "{\"type\":\"error\",\"step\":%u,\"at\":%d,\"n\":%ld,\"errno\":%d,\"code\":%d}\n",
			   cur_step, at, n, err, code);
	if (len > 0 && len < (int)sizeof(buf))
		write_all(status_fd, buf, len);
	_exit(code);
}

// fail_at reports a failure at with errno.
static void fail_at(int at, long n) { fail_code(125, at, n, errno); }

// fail reports the failure of the step's own system call, with errno.
static void fail(void) { fail_at(FAIL_CALL, 0); }

static void trace(const char *what) {
	if (trace_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char line[256];
	int n = snprintf(line, sizeof(line), "%d %lld %s\n", getpid(),
			 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, what);
	if (n > 0 && n < (int)sizeof(line))
		write_all(trace_fd, line, n);
}

// ---- the plan ----

struct arg {
	const char *s; // NUL-terminated
	uint32_t len;  // without the NUL
};

struct op {
	uint32_t code, argc;
	struct arg *args;
};

static uint32_t le32(const unsigned char *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t num(const struct op *o, uint32_t i) {
	if (i >= o->argc || o->args[i].len != 8) {
		errno = EINVAL;
		fail_at(FAIL_MALFORMED, 0);
	}
	const unsigned char *p = (const unsigned char *)o->args[i].s;
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static const char *str(const struct op *o, uint32_t i) {
	if (i >= o->argc) {
		errno = EINVAL;
		fail_at(FAIL_MALFORMED, 0);
	}
	return o->args[i].s;
}

// ---- paths inside the root filesystem ----

enum { LAST_EXIST, LAST_DIR, LAST_FILE };

// walk_proc_link: walk's last failure was a symlink on procfs (initproc's
// errProcLink): /proc/self/cwd and the like read differently before
// pivot_root (the init's view of the host) and after it (the
// container's), so that sysfs mounted through "/sys -> /proc/self/cwd"
// would land where the masked paths, resolved after pivot_root, do not
// reach.
static __thread int walk_proc_link;

// walk resolves path inside the directory rootfd as if that were "/", one
// component at a time through file descriptors: ".." stops at rootfd and
// symlinks are followed inside it (absolute ones from rootfd), so nothing
// leads outside whatever the image holds, dangling links included. Unless
// last is LAST_EXIST, missing directories on the way are made (0755), and
// a missing last component becomes a directory (LAST_DIR) or an empty file
// (LAST_FILE). It returns an O_PATH descriptor, or -1 with errno set.
static int walk(int rootfd, const char *path, int last) {
	// MAX_LINKS is securejoin's limit, which the Go init has.
	enum { MAX_DEPTH = 256, MAX_LINKS = 255 };
	int stack[MAX_DEPTH];
	char rest[2 * PATH_MAX], tmp[2 * PATH_MAX], link[PATH_MAX];
	int depth = 0, links = 0, result = -1, err = 0;
	walk_proc_link = 0;
	// First, one syscall for the common case: a path of directories that
	// all exist and no symlink on the way. The kernel then does what the
	// loop below would (".." cannot leave rootfd either); any symlink, a
	// missing component or a kernel without openat2 fails it, and the
	// loop decides, component by component, as ever.
	struct hull_open_how how = {
	    .flags = O_PATH | O_CLOEXEC,
	    .resolve = HULL_RESOLVE_IN_ROOT | HULL_RESOLVE_NO_SYMLINKS | HULL_RESOLVE_NO_MAGICLINKS,
	};
	long fast = syscall(__NR_openat2, rootfd, path, &how, sizeof(how));
	if (fast >= 0)
		return (int)fast;
	stack[0] = rootfd;
	if (strlen(path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(rest, path);
	char *p = rest;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0') { // the path named a directory
			result = fcntl(stack[depth], F_DUPFD_CLOEXEC, 0);
			if (result < 0)
				err = errno;
			break;
		}
		char *end = strchr(p, '/');
		if (end)
			*end = '\0';
		char *name = p;
		p = end ? end + 1 : name + strlen(name);
		while (*p == '/')
			p++;
		int final = *p == '\0';
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if (depth > 0)
				close(stack[depth--]);
			continue;
		}
		int cur = stack[depth];
		int fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && last != LAST_EXIST) {
			if (!final || last == LAST_DIR) {
				if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
					err = errno;
					break;
				}
			} else {
				int f = openat(cur, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (f < 0 && errno != EEXIST) {
					err = errno;
					break;
				}
				if (f >= 0)
					close(f);
			}
			fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			err = errno;
			break;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			err = errno;
			close(fd);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			struct statfs sf;
			if (fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC) {
				close(fd);
				walk_proc_link = 1;
				err = EXDEV;
				break;
			}
			ssize_t n = readlinkat(fd, "", link, sizeof(link) - 1);
			close(fd);
			if (n < 0 || ++links > MAX_LINKS) {
				err = n < 0 ? errno : ELOOP;
				break;
			}
			link[n] = '\0';
			if (snprintf(tmp, sizeof(tmp), "%s/%s", link, p) >= (int)sizeof(tmp)) {
				err = ENAMETOOLONG;
				break;
			}
			strcpy(rest, tmp);
			p = rest;
			if (link[0] == '/')
				while (depth > 0)
					close(stack[depth--]);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth + 1 >= MAX_DEPTH) {
				close(fd);
				err = ENAMETOOLONG;
				break;
			}
			stack[++depth] = fd;
			continue;
		}
		if (!final) {
			close(fd);
			err = ENOTDIR;
			break;
		}
		result = fd;
		break;
	}
	while (depth > 0)
		close(stack[depth--]);
	if (result < 0)
		errno = err;
	return result;
}

static char *fdpath(int fd) {
	snprintf(fdpath_buf, sizeof(fdpath_buf), "/proc/self/fd/%d", fd);
	return fdpath_buf;
}

static int root_fd(const char *rootfs) {
	int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail_at(FAIL_ROOT_FD, 0);
	return fd;
}

// walk_or_fail resolves dest in rootfs, or fails. What is to be mounted
// (last not LAST_EXIST) may not resolve to the root itself (initproc's
// secureDest): it would cover the whole image and the mounts made so far,
// and the next steps would make their paths in it.
static int walk_or_fail(const char *rootfs, const char *dest, int last) {
	int root = root_fd(rootfs);
	int fd = walk(root, dest, last);
	int err = errno;
	if (fd < 0 && walk_proc_link)
		fail_code(125, FAIL_PROC_LINK, 0, 0);
	if (fd < 0) {
		errno = err;
		fail_at(FAIL_WALK, 0);
	}
	struct stat a, b;
	if (last != LAST_EXIST && fstat(fd, &a) == 0 && fstat(root, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		fail_code(125, FAIL_ROOT_DEST, 0, 0);
	close(root);
	return fd;
}

#define PROPAGATION (MS_PRIVATE | MS_SHARED | MS_SLAVE | MS_UNBINDABLE)

static int have_mount_api(void) {
	long r = syscall(__NR_fsopen, "", 0);
	if (r >= 0)
		close((int)r);
	return !(r < 0 && (errno == ENOSYS || errno == EPERM));
}

// bind_tree binds the directory src at dest inside rootfs with the new
// mount API (initproc's bindDir): the tree is cloned, given its flags as
// a whole and attached to the walked destination. It returns 0 when done,
// 1 when the kernel lacks the API (nothing done).
static int bind_tree(const char *rootfs, const char *dest, const char *src, unsigned long flags) {
	unsigned tflags = HULL_OPEN_TREE_CLONE | O_CLOEXEC;
	unsigned sflags = AT_EMPTY_PATH;
	if (flags & MS_REC) {
		tflags |= HULL_AT_RECURSIVE;
		sflags |= HULL_AT_RECURSIVE;
	}
	long tree = syscall(__NR_open_tree, AT_FDCWD, src, tflags);
	int err = errno;
	if (tree < 0 && (err == ENOSYS || (err == EPERM && !have_mount_api())))
		return 1;
	if (tree < 0) {
		errno = err;
		fail_at(FAIL_OPEN_TREE, 0);
	}
	struct hull_mount_attr attr = {.propagation = flags & PROPAGATION};
	if (flags & MS_RDONLY)
		attr.attr_set |= HULL_MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID)
		attr.attr_set |= HULL_MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV)
		attr.attr_set |= HULL_MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC)
		attr.attr_set |= HULL_MOUNT_ATTR_NOEXEC;
	if ((attr.attr_set || attr.propagation) &&
	    syscall(__NR_mount_setattr, (int)tree, "", sflags, &attr, sizeof(attr)) < 0)
		fail_at(FAIL_MOUNT_SETATTR, 0);
	int dst = walk_or_fail(rootfs, dest, LAST_DIR);
	if (syscall(__NR_move_mount, (int)tree, "", dst, "",
		    HULL_MOVE_MOUNT_F_EMPTY_PATH | HULL_MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail_at(FAIL_MOVE_MOUNT, 0);
	close(dst);
	close((int)tree);
	return 0;
}

// remount_at applies flags to the mount at dest inside rootfs (resolved
// afresh, so that the lookup lands on the mount just made).
static void remount_at(const char *rootfs, const char *dest, unsigned long flags) {
	int fd = walk_or_fail(rootfs, dest, LAST_EXIST);
	if (mount("", fdpath(fd), "", flags, NULL) < 0)
		fail();
	close(fd);
}

// bind_at is goBindAt in C (plan_exec_linux.go): a file source is bound over
// a file (made if missing), a directory one with bind_tree when it may,
// else with mount(2), then the flags the bind ignores and the propagation.
static void bind_at(const struct op *o) {
	const char *rootfs = str(o, 0), *dest = str(o, 1), *src = str(o, 2);
	unsigned long flags = num(o, 3), prop = num(o, 4), rec = num(o, 5);
	int tree = num(o, 6);
	str(o, 7); // what: the parent's words
	struct stat st;
	int exists = stat(src, &st) == 0, isdir = exists && S_ISDIR(st.st_mode);
	if (exists && !isdir) {
		int fd = walk_or_fail(rootfs, dest, LAST_FILE);
		if (mount(src, fdpath(fd), "", MS_BIND, NULL) < 0)
			fail();
		close(fd);
		unsigned long rest = flags & ~(MS_BIND | MS_REC | prop);
		if (rest)
			remount_at(rootfs, dest, rest | MS_BIND | MS_REMOUNT);
		if (prop)
			remount_at(rootfs, dest, prop);
		return;
	}
	if (tree && isdir && bind_tree(rootfs, dest, src, flags | prop) == 0)
		return;
	int fd = walk_or_fail(rootfs, dest, LAST_DIR);
	if (mount(src, fdpath(fd), "", flags & (MS_BIND | MS_REC), NULL) < 0)
		fail();
	close(fd);
	unsigned long rest = flags & ~(MS_BIND | MS_REC);
	if (rest)
		remount_at(rootfs, dest, rest | MS_BIND | MS_REMOUNT);
	if (prop)
		remount_at(rootfs, dest, prop | rec);
}

// ---- the rest of the steps ----

static void mkdir_all(const char *path) {
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		fail();
	}
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0755) < 0) {
			// As os.MkdirAll: what is there must be a directory.
			struct stat st;
			if (errno != EEXIST || stat(buf, &st) < 0)
				fail_at(FAIL_MKDIR, p - buf);
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				fail_at(FAIL_MKDIR, p - buf);
			}
		}
		if (c == '\0')
			return;
		*p = c;
	}
}

static void readonly_path(const char *p) {
	if (mount(p, p, "", MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		fail();
	}
	if (mount("", p, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail();
}

static void mask_path(const char *p) {
	struct stat st;
	if (stat(p, &st) < 0)
		return;
	int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0")
				    : mount("/dev/null", p, "", MS_BIND, NULL);
	if (r < 0)
		fail();
}

static void pivot(const char *rootfs) {
	if (chdir(rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    mount("", ".", "", MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0 ||
	    chdir("/") < 0)
		fail();
}

static void loopback_up(void) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail();
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fail();
	close(fd);
}

static void remount_root_ro(void) {
	struct statfs st;
	if (statfs("/", &st) < 0)
		fail();
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
	if (st.f_flags & ST_NOSUID)
		flags |= MS_NOSUID;
	if (st.f_flags & ST_NODEV)
		flags |= MS_NODEV;
	if (st.f_flags & ST_NOEXEC)
		flags |= MS_NOEXEC;
	if (mount("", "/", "", flags, NULL) < 0)
		fail();
}

static void drop_bounding(uint64_t keep) {
	int last = CAP_LAST_CAP;
	char buf[16] = {0};
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0 && buf[0] >= '0' && buf[0] <= '9')
			last = atoi(buf);
		close(fd);
	}
	for (int c = 0; c <= last; c++) {
		if (c < 64 && keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			fail_at(FAIL_DROP_CAP, c);
	}
}

static void load_seccomp(const struct op *o) {
	unsigned long flags = num(o, 0);
	const struct arg *a = &o->args[1];
	if (o->argc < 2 || a->len == 0 || a->len % 8 != 0) {
		errno = EINVAL;
		fail();
	}
	size_t n = a->len / 8;
	if (n > BPF_MAXINSNS) { // sock_fprog's length is 16 bits: never cut a filter short
		errno = EINVAL;
		fail();
	}
	struct sock_filter prog[n]; // no heap: see hull_plan_spawn
	const unsigned char *b = (const unsigned char *)a->s;
	for (size_t i = 0; i < n; i++, b += 8) {
		prog[i].code = (uint16_t)(b[0] | b[1] << 8);
		prog[i].jt = b[2];
		prog[i].jf = b[3];
		prog[i].k = le32(b + 4);
	}
	struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog) < 0)
		fail();
}

static void set_user(const struct op *o) {
	uid_t uid = num(o, 0);
	gid_t gid = num(o, 1);
	const struct arg *g = &o->args[2];
	if (o->argc < 3 || g->len % 4 != 0) {
		errno = EINVAL;
		fail_at(FAIL_SETGROUPS, 0);
	}
	// The image's /etc/group decides how many: more than the kernel's
	// NGROUPS_MAX (65536) it refuses, as it does the Go init's.
	size_t n = g->len / 4;
	if (n > 65536) {
		errno = EINVAL;
		fail_at(FAIL_SETGROUPS, 0);
	}
	gid_t groups[n + 1]; // no heap: see hull_plan_spawn
	for (size_t i = 0; i < n; i++)
		groups[i] = le32((const unsigned char *)g->s + 4 * i);
	// A credential change clears the parent-death signal (the owner's
	// SIGKILL when it dies): set it again after (as goUser does).
	int deathsig = 0;
	prctl(PR_GET_PDEATHSIG, &deathsig, 0, 0, 0);
	if (syscall(SYS_setgroups, n, groups) < 0)
		fail_at(FAIL_SETGROUPS, 0);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		fail_at(FAIL_SETGID, 0);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		fail_at(FAIL_SETUID, 0);
	// The credential change set the memory's dumpable flag to the
	// kernel's suid_dumpable, which may be 2: see spawn_main.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (deathsig != 0)
		prctl(PR_SET_PDEATHSIG, deathsig, 0, 0, 0);
}

static void set_caps(const struct op *o) {
	uint64_t eff = num(o, 0), perm = num(o, 1), inh = num(o, 2);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		fail_at(FAIL_CAPGET, 0);
	uint64_t held = (uint64_t)data[0].permitted | (uint64_t)data[1].permitted << 32;
	eff &= held;
	perm &= held;
	inh &= held;
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(eff >> (32 * i));
		data[i].permitted = (uint32_t)(perm >> (32 * i));
		data[i].inheritable = (uint32_t)(inh >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail_at(FAIL_CAPSET, 0);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	for (uint32_t i = 3; i + 1 < o->argc; i += 2) {
		uint64_t c = num(o, i);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			fail_at(FAIL_AMBIENT, i + 1);
	}
}

// clean_path is Go's filepath.Clean, in place (the result is never
// longer, but for "" which becomes ".").
static void clean_path(char *p) {
	size_t n = strlen(p), r = 0, w = 0, dotdot = 0;
	int rooted = p[0] == '/';
	if (rooted) {
		w = r = dotdot = 1;
	}
	while (r < n) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && p[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					p[w++] = '/';
				p[w++] = '.';
				p[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				p[w++] = '/';
			for (; r < n && p[r] != '/'; r++)
				p[w++] = p[r];
		}
	}
	if (w == 0)
		p[w++] = '.';
	p[w] = '\0';
}

// reset_signals gives the user's process every signal's default
// disposition, as runc does: every handler of the program's goes (this is
// the copy of its table a plan init starts with), and so does every
// ignore, inherited (nohup, a shell's background job, a Detached
// container's shim) or the program's own (signal.Ignore). An ignored
// SIGINT or SIGHUP would outlive the exec, and a STOPSIGNAL SIGINT or a
// terminal's ^C would do nothing. No signal stays blocked. Raw system
// calls: glibc's refuse its own two (SIGCANCEL, SIGSETXID), and an
// all-zero kernel sigaction is SIG_DFL with no flags everywhere.
static void reset_signals(void) {
	static const char dfl[64]; // at least any kernel's struct sigaction
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
	}
	uint64_t none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
	stack_t off = {.ss_flags = SS_DISABLE};
	sigaltstack(&off, NULL); // the spawning thread's, in the program's memory
}

// exec_process finds the command like execvp in the container's PATH
// and execs it, with Docker's exit codes (127 not found, 126 not
// runnable).
static void exec_process(const struct op *o) {
	const char *pathenv = str(o, 0);
	uint64_t argc = num(o, 1);
	if (argc == 0 || argc + 2 > o->argc || o->argc - 2 - argc > MAX_ARGS || argc > MAX_ARGS)
		fail_code(125, FAIL_NO_COMMAND, 0, 0);
	size_t envc = o->argc - 2 - argc;
	char *argv[argc + 1], *envp[envc + 1]; // no heap: see hull_plan_spawn
	argv[argc] = envp[envc] = NULL;
	for (size_t i = 0; i < argc; i++)
		argv[i] = (char *)o->args[2 + i].s;
	for (size_t i = 0; i < envc; i++)
		envp[i] = (char *)o->args[2 + argc + i].s;
	const char *name = argv[0];
	char path[PATH_MAX];
	struct stat st;
	const char *file = name;
	if (strchr(name, '/')) {
		if (stat(name, &st) < 0)
			fail_code(127, FAIL_NO_FILE, 0, ENOENT);
	} else {
		long denied = -1, entry = 0;
		file = NULL;
		const char *p = pathenv;
		for (; *pathenv && p; entry++) {
			const char *end = strchr(p, ':');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			int n = sizeof(path); // too long: skipped, as below (and glibc's
			if (len == 0)         // snprintf allocates for a large precision)
				n = snprintf(path, sizeof(path), "%s", name);
			else if (len < sizeof(path))
				n = snprintf(path, sizeof(path), "%.*s/%s", (int)len, p, name);
			p = end ? end + 1 : NULL;
			if (n >= (int)sizeof(path))
				continue;
			clean_path(path); // lookPath's filepath.Join
			if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
				continue;
			if (st.st_mode & 0111) {
				file = path;
				break;
			}
			if (denied < 0)
				denied = entry;
		}
		if (!file && denied >= 0)
			fail_code(126, FAIL_DENIED, denied, EACCES);
		if (!file)
			fail_code(127, FAIL_NOT_IN_PATH, 0, ENOENT);
	}
	execve(file, argv, envp);
	int err = errno;
	fail_code(err == ENOENT ? 127 : 126, FAIL_EXECVE, 0, err);
}

// ---- the executors, one per op (TestPlanExecutors) ----

static void op_stage(const struct op *o) { str(o, 0); } // the parent's words

static void op_trace(const struct op *o) { trace(str(o, 0)); }

static void op_unshare(const struct op *o) {
	if (unshare(num(o, 0)) < 0)
		fail();
}

static void op_setns(const struct op *o) {
	int fd = open(str(o, 0), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_at(FAIL_OPEN, 0);
	if (setns(fd, num(o, 1)) < 0)
		fail();
	close(fd);
}

static void op_chdir(const struct op *o) {
	if (chdir(str(o, 0)) < 0)
		fail();
}

static void op_mount(const struct op *o) {
	const char *data = str(o, 4);
	if (mount(str(o, 0), str(o, 1), str(o, 2), num(o, 3), *data ? data : NULL) < 0)
		fail();
}

static void op_mount_at(const struct op *o) {
	int fd = walk_or_fail(str(o, 0), str(o, 1), LAST_DIR);
	const char *data = str(o, 5);
	if (mount(str(o, 2), fdpath(fd), str(o, 3), num(o, 4), *data ? data : NULL) < 0)
		fail();
	close(fd);
}

static void op_remount_at(const struct op *o) { remount_at(str(o, 0), str(o, 1), num(o, 2)); }

// op_mknod makes the node in its directory inside rootfs, owned and
// moded as the spec says (not through the umask).
static void op_mknod(const struct op *o) {
	const char *path = str(o, 1);
	mode_t mode = num(o, 2);
	dev_t dev = num(o, 3);
	uid_t uid = num(o, 4);
	gid_t gid = num(o, 5);
	const char *slash = strrchr(path, '/');
	if (slash == NULL || slash[1] == '\0') {
		errno = EINVAL;
		fail();
	}
	char dir[PATH_MAX];
	if (slash - path >= PATH_MAX) {
		errno = ENAMETOOLONG;
		fail();
	}
	memcpy(dir, path, slash - path);
	dir[slash - path] = '\0';
	int d = walk_or_fail(str(o, 0), dir[0] ? dir : "/", LAST_DIR);
	const char *name = slash + 1;
	if (mknodat(d, name, mode, dev) < 0 || fchownat(d, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(d, name, mode & 07777, 0) < 0)
		fail();
	close(d);
}

static void op_symlink_at(const struct op *o) {
	int dir = walk_or_fail(str(o, 0), str(o, 1), LAST_EXIST);
	if (symlinkat(str(o, 2), dir, str(o, 3)) < 0 && errno != EEXIST)
		fail();
	close(dir);
}

static void op_pivot(const struct op *o) { pivot(str(o, 0)); }

static void op_write(const struct op *o) {
	str(o, 2); // checks the argument count
	int fd = open(str(o, 0), O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		fail();
	ssize_t n = write(fd, o->args[1].s, o->args[1].len);
	if (n >= 0 && n != (ssize_t)o->args[1].len)
		errno = EIO; // short: as the Go executor says
	if (n != (ssize_t)o->args[1].len)
		fail();
	close(fd);
}

static void op_readonly(const struct op *o) { readonly_path(str(o, 0)); }

static void op_mask(const struct op *o) { mask_path(str(o, 0)); }

static void op_hostname(const struct op *o) {
	if (sethostname(str(o, 0), o->args[0].len) < 0)
		fail();
}

static void op_loopback(const struct op *o) { (void)o, loopback_up(); }

static void op_mkdir_all(const struct op *o) { mkdir_all(str(o, 0)); }

static void op_remount_root_ro(const struct op *o) { (void)o, remount_root_ro(); }

static void op_capbset(const struct op *o) { drop_bounding(num(o, 0)); }

static void op_rlimit(const struct op *o) {
	struct rlimit rl = {.rlim_cur = num(o, 1), .rlim_max = num(o, 2)};
	if (prlimit(0, num(o, 0), &rl, NULL) < 0)
		fail();
}

static void op_keepcaps(const struct op *o) {
	(void)o;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail();
}

static void op_ready(const struct op *o) {
	(void)o;
	static const char ready[] = "{\"type\":\"ready\"}\n";
	write_all(status_fd, ready, sizeof(ready) - 1);
	char b;
	if (read_full(CONFIG_FD, &b, 1) < 0)
		_exit(125); // the parent went away or aborted: never start
	if (started) // the spawner's memory, ours until the exec
		__atomic_store_n(started, 1, __ATOMIC_SEQ_CST);
}

static void op_no_new_privs(const struct op *o) {
	(void)o;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail();
}

// op_console makes the container's terminal: a pseudo-terminal in its
// /dev/pts (its own devpts, so that tty(1) names it), whose master goes
// to the parent over CONSOLE_FD and whose slave op_ctty makes stdio.
static void op_console(const struct op *o) {
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail_at(FAIL_CONSOLE, 0);
	int unlock = 0, n;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		fail_at(FAIL_CONSOLE, 1);
	if (ioctl(master, TIOCGPTN, &n) < 0)
		fail_at(FAIL_CONSOLE, 2);
	if (num(o, 0)) {
		struct winsize ws = {.ws_col = (unsigned short)num(o, 1), .ws_row = (unsigned short)num(o, 2)};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			fail_at(FAIL_CONSOLE, 3);
	}
	char path[32];
	snprintf(path, sizeof(path), "/dev/pts/%d", n);
	int slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		fail_at(FAIL_CONSOLE, 4);
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (sendmsg(CONSOLE_FD, &msg, MSG_NOSIGNAL) < 0)
		fail_at(FAIL_CONSOLE, 5);
	close(master);
	close(CONSOLE_FD);
	console_slave = slave;
}

// op_ctty makes op_console's terminal the controlling terminal of a new
// session, and stdin, stdout and stderr.
static void op_ctty(const struct op *o) {
	(void)o;
	if (console_slave < 0) {
		errno = ENOTTY;
		fail_at(FAIL_CTTY, 1);
	}
	if (setsid() < 0)
		fail_at(FAIL_CTTY, 0);
	if (ioctl(console_slave, TIOCSCTTY, 0) < 0)
		fail_at(FAIL_CTTY, 1);
	for (int i = 0; i < 3; i++)
		if (dup2(console_slave, i) < 0)
			fail_at(FAIL_CTTY, 2);
	if (console_slave > 2)
		close(console_slave);
	console_slave = -1;
}

// op_setsid starts a new session with no controlling terminal: the
// process keeps none of the program's (its terminal would take input
// from the container, TIOCSTI).
static void op_setsid(const struct op *o) {
	(void)o;
	if (setsid() < 0)
		fail();
}

// op_setns_fd joins the namespaces num(o, 0) of the process NS_FD is a
// pidfd of, at once (Linux 5.8); before 5.8 (EINVAL), one by one by the
// paths of /proc/<num(o, 1)>/ns, then checks through the pidfd that the
// process is still the one the parent opened (its pid not reused).
static void op_setns_fd(const struct op *o) {
	uint64_t flags = num(o, 0);
	if (setns(NS_FD, (int)flags) == 0)
		return;
	if (errno != EINVAL)
		fail();
	static const struct { const char *name; int type; } nss[] = {
		{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
		{"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
	};
	int fds[6];
	char path[64];
	for (int i = 0; i < 6; i++) {
		fds[i] = -1;
		if (!(flags & nss[i].type))
			continue;
		snprintf(path, sizeof(path), "/proc/%llu/ns/%s", (unsigned long long)num(o, 1), nss[i].name);
		if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			fail_at(FAIL_OPEN, 0);
	}
	// Opened: the pid was the pidfd's process if it is still alive.
	if (syscall(SYS_pidfd_send_signal, NS_FD, 0, NULL, 0) < 0)
		fail();
	for (int i = 0; i < 6; i++) {
		if (fds[i] >= 0 && setns(fds[i], nss[i].type) < 0)
			fail();
		if (fds[i] >= 0)
			close(fds[i]);
	}
}

static void run_steps(void);

// fork_main is the child of op_fork: in the pid namespace its parent
// joined, with its credentials, and the program's parent-death signal.
static int fork_main(void *arg) {
	(void)arg;
	uint64_t none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
	if (fork_deathsig && prctl(PR_SET_PDEATHSIG, fork_deathsig, 0, 0, 0) < 0)
		fail_at(FAIL_PDEATHSIG, 0);
	run_steps();
	return 125; // not reached: run_steps execs or exits
}

// op_fork runs the rest of the plan in a child, as hull_plan_spawn runs
// a plan init: clone(CLONE_VM|CLONE_VFORK) onto fork_stack, this process
// waiting until it execs or exits. setns puts only a process's children
// in a pid namespace: so an exec's plan joins the container's namespaces
// and takes the process's credentials here, outside the container's pid
// namespace, where nothing of the container can see a process that holds
// more than the container may; only this child, with those credentials,
// is in it. CLONE_PARENT makes it the program's child, which waits for
// it (its pid taken from the slot the kernel wrote, never from a
// message), and this process exits.
static void op_fork(const struct op *o) {
	(void)o;
	int local = 0, *slot = fork_pid ? fork_pid : &local;
	uint64_t all = ~(uint64_t)0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	// The kernel writes the child's pid in the slot before the child
	// runs: the parent reads it there whenever it must kill the child
	// (a child the container stopped never reports it).
	if (clone(fork_main, fork_stack, CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PARENT_SETTID | SIGCHLD,
		  NULL, slot) < 0)
		fail();
	_exit(0);
}

// executors has plan.c's executor of each op; the Go-only ones (see
// plan_ops_linux.go) have none, and a plan holding one fails.
static void (*const executors[OP_COUNT])(const struct op *) = {
    [OP_STAGE] = op_stage,
    [OP_TRACE] = op_trace,
    [OP_UNSHARE] = op_unshare,
    [OP_SETNS] = op_setns,
    [OP_CHDIR] = op_chdir,
    [OP_MOUNT] = op_mount,
    [OP_MOUNT_AT] = op_mount_at,
    [OP_REMOUNT_AT] = op_remount_at,
    [OP_BIND_AT] = bind_at,
    [OP_SYMLINK_AT] = op_symlink_at,
    [OP_PIVOT] = op_pivot,
    [OP_WRITE] = op_write,
    [OP_READONLY] = op_readonly,
    [OP_MASK] = op_mask,
    [OP_HOSTNAME] = op_hostname,
    [OP_LOOPBACK] = op_loopback,
    [OP_MKDIR_ALL] = op_mkdir_all,
    [OP_REMOUNT_ROOT_RO] = op_remount_root_ro,
    [OP_CAPBSET] = op_capbset,
    [OP_RLIMIT] = op_rlimit,
    [OP_KEEPCAPS] = op_keepcaps,
    [OP_SECCOMP] = load_seccomp,
    [OP_USER] = set_user,
    [OP_CAPS] = set_caps,
    [OP_READY] = op_ready,
    [OP_NO_NEW_PRIVS] = op_no_new_privs,
    [OP_EXEC] = exec_process,
    [OP_MKNOD] = op_mknod,
    [OP_CONSOLE] = op_console,
    [OP_CTTY] = op_ctty,
    [OP_FORK] = op_fork,
    [OP_SETSID] = op_setsid,
    [OP_SETNS_FD] = op_setns_fd,
};

int hull_plan_executes(unsigned op) { return op < OP_COUNT && executors[op] != NULL; }

static void run_op(const struct op *o) {
	if (!hull_plan_executes(o->code)) {
		errno = EINVAL;
		fail_at(FAIL_UNKNOWN_OP, 0);
	}
	executors[o->code](o);
}

// run_plan runs the steps of a plan (Compile's, without its size): the
// last one execs the container's process.
static void run_plan(const unsigned char *buf, size_t size) {
	plan_next = buf;
	plan_end = buf + size;
	cur_step = 0;
	run_steps();
}

// run_steps runs the plan's steps from plan_next, the step after
// cur_step. Each step: opcode, argument count, then each argument as
// length and bytes followed by a NUL (not counted).
static void run_steps(void) {
	const unsigned char *p = plan_next, *end = plan_end;
	struct op o;
	struct arg args[MAX_ARGS + 2];
	for (cur_step++; p < end; cur_step++) {
		if (end - p < 8) {
			errno = EINVAL;
			fail_at(FAIL_MALFORMED, 0);
		}
		o.code = le32(p);
		o.argc = le32(p + 4);
		p += 8;
		if (o.argc > MAX_ARGS + 2) {
			errno = EINVAL;
			fail_at(FAIL_MALFORMED, 0);
		}
		for (uint32_t i = 0; i < o.argc; i++) {
			if (end - p < 4) {
				errno = EINVAL;
				fail_at(FAIL_MALFORMED, 0);
			}
			uint32_t len = le32(p);
			p += 4;
			if ((size_t)(end - p) < (size_t)len + 1 || p[len] != '\0') {
				errno = EINVAL;
				fail_at(FAIL_MALFORMED, 0);
			}
			args[i].s = (const char *)p;
			args[i].len = len;
			p += len + 1;
		}
		o.args = args;
		plan_next = p;
		run_op(&o);
	}
	errno = EINVAL;
	fail_at(FAIL_NO_EXEC, 0);
}

// close_from closes every descriptor from fd up: close_range where the
// kernel has it (5.9), else one by one as /proc/self/fd lists them.
static void close_from(int from) {
	if (syscall(__NR_close_range, from, ~0U, 0) == 0)
		return;
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		fail_at(FAIL_LIST_FDS, 0);
	char buf[4096];
	long n;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long at = 0; at < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + at);
			at += e->d_reclen;
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end == '\0' && end != e->d_name && fd >= from && fd != dir)
				close((int)fd);
		}
	}
	if (n < 0)
		fail_at(FAIL_LIST_FDS, 0);
	close(dir);
}

// place_fds puts the descriptors a plan init is given on 0-6 (stdin,
// stdout, stderr, CONFIG_FD, STATUS_FD, and CONSOLE_FD and NS_FD if
// given; a missing stream is /dev/null) and closes every other one it
// holds: its copy of the program's table.
static void place_fds(int *src) {
	enum { N = 7 };
	for (int i = 0; i < 3; i++)
		if (src[i] < 0 && (src[i] = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			fail_at(FAIL_DEV_NULL, 0);
	// First off 0-6 whatever is not in its place already, so that no
	// dup2 below closes a descriptor still to be moved.
	for (int i = 0; i < N; i++)
		if (src[i] >= 0 && src[i] < N && src[i] != i && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, N)) < 0)
			fail_at(FAIL_PLACE_FDS, 0);
	status_fd = src[4]; // its old number may be another's place
	for (int i = 0; i < N; i++) {
		if (src[i] < 0)
			continue; // an optional one not given: stays closed
		int r = src[i] == i ? fcntl(i, F_SETFD, i < 3 ? 0 : FD_CLOEXEC) : dup3(src[i], i, i < 3 ? 0 : O_CLOEXEC);
		if (r < 0)
			fail_at(FAIL_PLACE_FDS, 0);
	}
	status_fd = STATUS_FD;
	// Above 6, and the optional ones not given, if the program had them.
	for (int i = 5; i < N; i++)
		if (src[i] < 0)
			close(i);
	close_from(N);
}

// spawn_main is a plan init's first function: it runs on its own stack,
// in the program's memory, with every signal blocked (hull_plan_spawn).
static int spawn_main(void *arg) {
	struct hull_spawn *s = arg;
	// The memory's dumpable flag, which is the program's: a crash here
	// must not dump the program's memory into the container (or, before
	// Linux 5.16, kill the program with it). hull_plan_spawn puts it back.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	reset_signals(); // the program's handlers too: this is its table's copy
	if (s->pdeathsig && prctl(PR_SET_PDEATHSIG, s->pdeathsig, 0, 0, 0) < 0)
		fail_at(FAIL_PDEATHSIG, 0);
	int fds[7];
	memcpy(fds, s->fds, sizeof(fds));
	place_fds(fds);
	if (s->trace && *s->trace)
		trace_fd = open(s->trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	trace("C plan init");
	// The pid as the parent's namespace numbers it (the kernel wrote it
	// for CLONE_PARENT_SETTID before this ran): the parent puts it in the
	// cgroup, then says go.
	char line[64];
	int n = snprintf(line, sizeof(line), "{\"type\":\"pid\",\"code\":%d}\n", s->pid_out ? *s->pid_out : s->pid);
	write_all(STATUS_FD, line, n);
	char go;
	if (read_full(CONFIG_FD, &go, 1) < 0)
		_exit(125); // the parent went away or gave up: never start
	run_plan(s->plan, s->plan_len);
	return 125; // not reached: run_plan execs or exits
}

// hull_plan_spawn starts a plan init as glibc's posix_spawn starts a
// process: clone with CLONE_VM|CLONE_VFORK, the child on its own stack
// in the program's memory until it execs (no copy of the program's
// pages, no exec of the program itself), while the calling thread waits.
// So the child uses no heap (it would take from the program's and never
// give back) and no state but the calling thread's own (__thread, which
// waits) and its stack. Every signal stays blocked across the clone: a
// handler of the program's must never run in the child. It returns the
// child's pid once the child has exec'd or exited, or -errno.
//
// One attribute of the shared memory the child does change: its
// dumpable flag, which the child clears (spawn_main), and the program's
// with it. The program's own is put back once the last child running has
// exec'd (but for suid_dumpable's 2, which prctl cannot set: it stays 0),
// until an exec's plan has run (fork_pid): from then on it stays 0, since
// that plan's child, in a container's pid namespace with our memory until
// it execs, can be stopped there by the container and outlive the spawn.
static pthread_mutex_t spawn_mu = PTHREAD_MUTEX_INITIALIZER;
static int spawn_sticky; // an exec's plan ran

int hull_plan_undumpable(void) {
	pthread_mutex_lock(&spawn_mu);
	int sticky = spawn_sticky;
	pthread_mutex_unlock(&spawn_mu);
	return sticky;
}

int hull_plan_spawn(struct hull_spawn *s) {
	static int running, dumpable;
	pthread_mutex_lock(&spawn_mu);
	if (running++ == 0)
		dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	pthread_mutex_unlock(&spawn_mu);

	// The thread's variables, set here: were they allocated lazily (a
	// shared library's), the child would do it on the program's heap.
	cur_step = 0;
	trace_fd = -1;
	status_fd = s->fds[4]; // until place_fds
	walk_proc_link = 0;
	fdpath_buf[0] = '\0';
	plan_next = plan_end = NULL;
	fork_stack = s->fork_stack;
	fork_deathsig = s->pdeathsig;
	fork_pid = s->fork_pid;
	started = s->started;
	console_slave = -1;

	// Every signal, glibc's own two too (its pthread_sigmask keeps them).
	uint64_t all = ~(uint64_t)0, old;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	int pid = clone(spawn_main, s->stack + s->stack_size,
			(int)s->flags | CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID | SIGCHLD, s,
			s->pid_out ? s->pid_out : &s->pid);
	int err = errno;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);

	pthread_mutex_lock(&spawn_mu);
	spawn_sticky = spawn_sticky || s->fork_pid != NULL;
	if (--running == 0 && !spawn_sticky && dumpable >= 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable)
		prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
	pthread_mutex_unlock(&spawn_mu);
	return pid < 0 ? -err : pid;
}
