// The fork of an exec's command into the container: see forkExec in
// forkexec_cgo_linux.go for why this is C.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkexec.h"

// hull_forkexec forks from the calling thread (which holds the command's
// credentials and has joined the container's pid namespace for its
// children), and the child, with stdio from fds, a new session and
// controlling terminal if tty, every signal at its default and none
// blocked, and SIGKILL when this thread ends, execs path. It returns the
// child's pid, or -errno of the fork or of the setup or exec (which the
// child reports on a close-on-exec pipe before it exits 127, reaped here).
int hull_forkexec(const char *path, char *const argv[], char *const envp[],
                  const int fds[3], int tty) {
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		// Only async-signal-safe calls from here to execve. First of
		// all, as this process is in the container's pid namespace
		// already: nothing but its stdio and the error pipe (at 3), none
		// of the helper's descriptors (its pipes to hull, the pid
		// namespace). It is not dumpable until it execs, so only a
		// container with CAP_SYS_PTRACE could look meanwhile.
		int err = 0;
		for (int i = 0; !err && i < 3; i++) {
			if (fds[i] == i) {
				if (fcntl(i, F_SETFD, 0) < 0)
					err = errno;
			} else if (dup2(fds[i], i) < 0) {
				err = errno;
			}
		}
		int ep = p[1];
		if (ep != 3 && dup3(ep, 3, O_CLOEXEC) == 0)
			ep = 3;
		if (ep == 3 && syscall(SYS_close_range, 4, ~0U, 0) < 0)
			for (int fd = 4; fd < 1024; fd++)
				close(fd);
		p[1] = ep;
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		for (int s = 1; s < _NSIG; s++)
			sigaction(s, &dfl, NULL); // fails harmlessly for KILL, STOP, 32, 33
		if (!err && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			err = errno;
		// The parent may be gone already (killed), and would then never
		// signal us: our end of the pipe shows whether it still reads.
		struct pollfd q = {.fd = p[1], .events = POLLOUT};
		if (!err && poll(&q, 1, 0) == 1 && (q.revents & POLLERR))
			_exit(137);
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
		while (write(p[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	int ferr = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -ferr;
	}
	int cerr = 0;
	ssize_t n;
	while ((n = read(p[0], &cerr, sizeof(cerr))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (n == sizeof(cerr)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -cerr;
	}
	return pid;
}
