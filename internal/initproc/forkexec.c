// The fork of an exec's command into the container: see forkExec in
// forkexec_cgo_linux.go for why this is C.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkexec.h"

// errText is strerror for what execve and the setup before it return,
// in Go's words, without locale or allocation (the child of a
// multithreaded process may not take locks).
static const char *errText(int err) {
	switch (err) {
	case ENOENT: return "no such file or directory";
	case EACCES: return "permission denied";
	case EPERM: return "operation not permitted";
	case ENOEXEC: return "exec format error";
	case ENOTDIR: return "not a directory";
	case ELOOP: return "too many levels of symbolic links";
	case ENAMETOOLONG: return "file name too long";
	case E2BIG: return "argument list too long";
	case ENOMEM: return "cannot allocate memory";
	case ETXTBSY: return "text file busy";
	case EISDIR: return "is a directory";
	}
	return "error";
}

// hull_forkexec forks from the calling thread (which holds the command's
// credentials and has joined the container's pid namespace for its
// children), and the child, with stdio from fds, a new session and
// controlling terminal if tty, every signal at its default and none
// blocked, and SIGKILL when this thread ends, execs path. The child is
// in the container from the fork on and holds only what the helper has
// left open: no pipe to the helper (a container that can ptrace could
// take it), so a child that cannot exec says why on its stderr and exits
// 127 (no such file) or 126, as Docker's exec does. It returns the
// child's pid, or -errno of the fork.
int hull_forkexec(const char *path, char *const argv[], char *const envp[],
                  const int fds[3], int tty) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		// Only async-signal-safe calls from here to execve.
		int err = 0;
		for (int i = 0; !err && i < 3; i++) {
			if (fds[i] == i) {
				if (fcntl(i, F_SETFD, 0) < 0)
					err = errno;
			} else if (dup2(fds[i], i) < 0) {
				err = errno;
			}
		}
		// Then nothing else: the Go runtime's descriptors (epoll and
		// the like) would go at execve, but the child is visible now.
		if (!err && syscall(SYS_close_range, 3, ~0U, 0) < 0)
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		for (int s = 1; s < _NSIG; s++)
			sigaction(s, &dfl, NULL); // fails harmlessly for KILL, STOP, 32, 33
		if (!err && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			err = errno;
		if (!err && tty && setsid() < 0)
			err = errno;
		if (!err && tty && ioctl(0, TIOCSCTTY, 0) < 0)
			err = errno;
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (!err) {
			execve(path, argv, envp);
			err = errno;
		}
		const char *parts[] = {"hull: exec: exec \"", argv[0], "\": ", errText(err), "\n"};
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			if (write(2, parts[i], strlen(parts[i])) < 0)
				break;
		_exit(err == ENOENT ? 127 : 126);
	}
	int ferr = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -ferr;
	return pid;
}
