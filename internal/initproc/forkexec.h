// See forkexec.c.
int hull_forkexec(const char *path, char *const argv[], char *const envp[],
                  const int fds[3], int tty);
