// Joins a container's namespaces before the Go runtime starts: see
// nsenter.go for why this is C.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

// Where the container's pid namespace is left for the Go side
// (nsenter.PidNSFD): it joins it on one thread, right before it forks
// the command.
#define PIDNS_FD 9

static void die(const char *what, const char *ns) {
	dprintf(2, "hull nsenter: %s %s: %s\n", what, ns, strerror(errno));
	_exit(125);
}

__attribute__((constructor)) static void hull_nsenter(void) {
	const char *pid = getenv("_HULL_NSENTER");
	if (pid == NULL || *pid == '\0')
		return;
	// Nothing may ptrace us or open our /proc files.
	prctl(PR_SET_DUMPABLE, 0);
	// Order matters: mnt last, since the others are opened by path in
	// the host's /proc; user namespaces are not used by hull. The pid
	// namespace is not joined here: a process in one its threads are
	// not in cannot make threads, and the Go runtime must. So this
	// process stays outside it, where nothing of the container can see
	// it, and only the command, forked once this process has taken the
	// container's credentials, lands in it.
	static const struct { const char *name; int type; } nss[] = {
		{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
		{"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
	};
	enum { N = sizeof(nss) / sizeof(nss[0]) };
	int fds[N];
	char path[64];
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, nss[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die("open", path);
	}
	int pidns = -1;
	for (int i = 0; i < N; i++) {
		if (nss[i].type == CLONE_NEWPID) {
			pidns = fds[i];
			continue;
		}
		if (setns(fds[i], nss[i].type) < 0)
			die("setns", nss[i].name);
		close(fds[i]);
	}
	// Only now, when no other of ours can be at PIDNS_FD.
	if (pidns != PIDNS_FD) {
		if (dup3(pidns, PIDNS_FD, O_CLOEXEC) < 0)
			die("dup", "pid");
		close(pidns);
	}
}
