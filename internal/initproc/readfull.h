// read_full, shared by plan.c and reaper.c.
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

// read_full reads n bytes from fd, through EINTR: 0 when it got them all,
// -1 on an error or an early end.
static inline int read_full(int fd, void *buf, size_t n) {
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}
