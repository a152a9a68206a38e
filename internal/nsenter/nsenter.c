// Joins a container's namespaces before the Go runtime starts: see
// nsenter.go for why this is C.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// The config pipe hull writes to once the process is in the container's
// cgroup (see exec_linux.go in package hull): the fork below waits for it
// so that the child is born in the cgroup.
#define CONFIG_FD 3

static void die(const char *what, const char *ns) {
	dprintf(2, "hull nsenter: %s %s: %s\n", what, ns, strerror(errno));
	_exit(125);
}

__attribute__((constructor)) static void hull_nsenter(void) {
	const char *pid = getenv("_HULL_NSENTER");
	if (pid == NULL || *pid == '\0')
		return;
	// Nothing in the container may ptrace us or open our /proc files.
	prctl(PR_SET_DUMPABLE, 0);
	// Order matters: mnt last, since the others are opened by path in
	// the host's /proc; user namespaces are not used by hull.
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
	for (int i = 0; i < N; i++) {
		if (setns(fds[i], nss[i].type) < 0)
			die("setns", nss[i].name);
		close(fds[i]);
	}
	// Wait until hull has put us in the container's cgroup (it writes
	// the config only then), so that the child starts there.
	struct pollfd p = {.fd = CONFIG_FD, .events = POLLIN};
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	pid_t child = fork();
	if (child < 0)
		die("fork", "");
	if (child == 0) {
		// Dies with the parent (which dies with hull's spawner thread).
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		return; // on into the Go runtime, inside the container
	}
	// The parent keeps nothing the child's readers wait on (status pipe,
	// stdio): their EOF must come from the child alone.
	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			_exit(125);
	if (WIFSIGNALED(st)) {
		signal(WTERMSIG(st), SIG_DFL);
		prctl(PR_SET_DUMPABLE, 0);
		kill(getpid(), WTERMSIG(st));
		_exit(128 + WTERMSIG(st));
	}
	_exit(WEXITSTATUS(st));
}
