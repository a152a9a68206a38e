// A Go init joining its cgroup v1 hierarchies before Go starts: see
// JoinEnv in join_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// hull_join_cgroup runs before any other constructor (hull_reaper's fork
// included) and before the Go runtime, while this process has one
// thread: it writes 0 (itself) to each "tasks" file the newline-separated
// list in _HULL_JOIN_TASKS names, which moves the whole process without
// the kernel's global lock. A failure ends the process: an init outside
// its cgroup must not go on.
__attribute__((constructor(101))) static void hull_join_cgroup(void) {
	const char *v = getenv("_HULL_JOIN_TASKS");
	if (v == NULL)
		return;
	char *list = strdup(v);
	unsetenv("_HULL_JOIN_TASKS");
	if (list == NULL)
		_exit(125);
	char *save = NULL;
	for (char *p = strtok_r(list, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save)) {
		int fd = open(p, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			dprintf(2, "hull init: join cgroup %s: %s\n", p, strerror(errno));
			_exit(125);
		}
		close(fd);
	}
	free(list);
}
