// A Go init joining its cgroup v1 hierarchies before Go starts: see
// JoinEnv in join_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

// join_fail reports a failure to join as the Go init would (a JSON line
// on the status pipe, fd 4: hull makes it a *StartError of stage
// "cgroup"), says it on stderr too, and exits 125.
static void join_fail(const char *what, const char *path, int err) {
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s %s: %s", what, path, strerror(err));
	char json[2200];
	size_t n = 0;
	n += snprintf(json, sizeof(json), "{\"type\":\"error\",\"stage\":\"cgroup\",\"errno\":%d,\"code\":125,\"message\":\"", err);
	for (const char *c = msg; *c != '\0' && n < sizeof(json) - 8; c++) {
		if (*c == '"' || *c == '\\')
			json[n++] = '\\';
		if ((unsigned char)*c < 0x20)
			continue;
		json[n++] = *c;
	}
	n += snprintf(json + n, sizeof(json) - n, "\"}\n");
	ssize_t unused = write(4, json, n);
	(void)unused;
	dprintf(2, "hull init: %s\n", msg);
	_exit(125);
}

// hull_join_cgroup runs before any other constructor (hull_reaper's fork
// included) and before the Go runtime, while this process has one
// thread: it writes 0 (itself) to each "tasks" file the newline-separated
// list in _HULL_JOIN_TASKS names, which moves the whole process without
// the kernel's global lock. A failure ends the process: an init outside
// its cgroup must not go on. Only in a Go init (_HULL_INIT set), never in
// a program run with privileges its caller lacks (secure_getenv), and
// only into files of a cgroup v1 filesystem named tasks: the variable
// cannot make any program write anywhere else.
__attribute__((constructor(101))) static void hull_join_cgroup(void) {
	const char *v = secure_getenv("_HULL_JOIN_TASKS");
	if (v == NULL || secure_getenv("_HULL_INIT") == NULL)
		return;
	// One thread, or a thread a library's constructor started would stay
	// outside the cgroup.
	char buf[4096];
	int st = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = st < 0 ? -1 : read(st, buf, sizeof(buf) - 1);
	if (st >= 0)
		close(st);
	const char *threads = n > 0 ? (buf[n] = '\0', strstr(buf, "\nThreads:\t")) : NULL;
	if (threads == NULL || strtol(threads + 10, NULL, 10) != 1)
		join_fail("join cgroup: more than one thread in", "/proc/self/status", EBUSY);
	char *list = strdup(v);
	unsetenv("_HULL_JOIN_TASKS");
	if (list == NULL)
		_exit(125);
	char *save = NULL;
	for (char *p = strtok_r(list, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(p);
		struct statfs fs;
		int fd = -1;
		if (n < 6 || strcmp(p + n - 6, "/tasks") != 0) {
			errno = EINVAL;
		} else if ((fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0 &&
			   (fstatfs(fd, &fs) < 0 || fs.f_type != CGROUP_SUPER_MAGIC)) {
			close(fd);
			fd = -1;
			errno = EINVAL;
		}
		if (fd < 0 || write(fd, "0", 1) != 1)
			join_fail("join cgroup", p, errno);
		close(fd);
	}
	free(list);
}
