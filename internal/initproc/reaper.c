// The PID 1 of a container run WithInit: see ReaperEnv in shim_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "readfull.h"
#include "reaper.h"

// The config pipe: hull writes it once the init is in the container's
// cgroup (v1), so the fork waits for it to be readable.
#define CONFIG_FD 3

static struct sock_filter filter[HULL_REAPER_MAX_FILTER];

// confine takes the command's user and groups and its seccomp filter as
// the Go init sent them on sock, and then no capability at all, no way to
// gain one, and every capability out of the bounding set: PID 1 then
// holds nothing the container's own processes lack, and can make no call
// they cannot (it could be ptraced and made to). Without them (the Go
// init failed first), it exits. It acks on sock.
static void confine(int sock) {
	struct hull_reaper_creds c;
	memset(&c, 0, sizeof(c));
	if (read_full(sock, &c, sizeof(c)) < 0 || c.ngroups > HULL_REAPER_MAX_GROUPS ||
	    c.nfilter > HULL_REAPER_MAX_FILTER ||
	    read_full(sock, filter, c.nfilter * sizeof(struct sock_filter)) < 0)
		_exit(125);
	for (int cap = 0; cap <= 63; cap++)
		prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); // EINVAL past the last
	gid_t groups[HULL_REAPER_MAX_GROUPS];
	for (uint32_t i = 0; i < c.ngroups; i++)
		groups[i] = c.groups[i];
	if (setgroups(c.ngroups, groups) < 0 || setresgid(c.gid, c.gid, c.gid) < 0 ||
	    setresuid(c.uid, c.uid, c.uid) < 0)
		_exit(125);
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		_exit(125);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(125);
	if (c.nfilter > 0) {
		struct sock_fprog prog = {.len = c.nfilter, .filter = filter};
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
			_exit(125);
	}
	while (write(sock, "", 1) < 0 && errno == EINTR)
		;
	close(sock);
}

// hull_reaper runs before the Go runtime of a container's init when hull
// started it with _HULL_REAPER set (WithInit): it forks, the child goes
// on into Go as the init and execs the command, and this process stays
// PID 1 in C, single-threaded: it drops its privileges (confine), then
// forwards every signal it gets to the child, reaps every orphan, and
// exits as the child did (128+n for signal n). It never returns into Go.
__attribute__((constructor)) static void hull_reaper(void) {
	// Never in a program run with privileges its caller lacks (the Go
	// side then refuses to be an init: initproc.Run).
	if (secure_getenv("_HULL_REAPER") == NULL || secure_getenv("_HULL_INIT") == NULL)
		return;
	unsetenv("_HULL_REAPER");
	struct pollfd p = {.fd = CONFIG_FD, .events = POLLIN};
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	// A session keyring of the container's own, not the host's, for it
	// and the init (as runc does); where keyctl is refused, none.
	syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
	// The container's cgroup namespace, which the init would make for
	// itself only: an exec joins this process's namespaces.
	if (unshare(CLONE_NEWCGROUP) < 0) {
		dprintf(2, "hull init: cgroup namespace: %s\n", strerror(errno));
		_exit(125);
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		dprintf(2, "hull init: socketpair: %s\n", strerror(errno));
		_exit(125);
	}
	sigset_t all, old;
	sigfillset(&all);
	// Blocked, a signal waits for sigwaitinfo even at PID 1, which the
	// kernel spares the signals it has no handler for.
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t child = fork();
	if (child < 0) {
		dprintf(2, "hull init: fork: %s\n", strerror(errno));
		_exit(125);
	}
	if (child == 0) {
		close(sv[0]);
		if (sv[1] != HULL_REAPER_FD) {
			if (dup3(sv[1], HULL_REAPER_FD, O_CLOEXEC) < 0)
				_exit(125);
			close(sv[1]);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		return; // on into Go, as the init
	}
	close(sv[1]);
	// Every disposition to its default, the signals being blocked: an
	// inherited ignore (a Detached container's shim ignores SIGINT and
	// SIGHUP) would discard the signal before sigwaitinfo saw it, and an
	// ignored SIGCHLD would reap the child for us.
	static const char dfl[64]; // an all-zero kernel sigaction: SIG_DFL
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
	// Not dumpable: without CAP_SYS_PTRACE nothing may ptrace it.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	// Nothing of the host's: at "/", which the child's pivot_root moves
	// into the container's root, as it moves this process's root; and
	// no descriptor but the socket (the child has all it needs).
	if (chdir("/") < 0)
		_exit(125);
	int sock = sv[0];
	if (sock != 0) {
		dup2(sock, 0);
		close(sock);
		sock = 0;
	}
	if (syscall(SYS_close_range, 1, ~0U, 0) < 0)
		for (int fd = 1; fd < 1024; fd++) // before Linux 5.9
			close(fd);
	prctl(PR_SET_NAME, "hull-init", 0, 0, 0);
	confine(sock);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != child)
				continue;
			if (WIFSIGNALED(st))
				_exit(128 + WTERMSIG(st));
			_exit(WEXITSTATUS(st));
		}
	}
}
