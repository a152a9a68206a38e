//go:build !cgo

package initproc

import "errors"

// forkExec needs cgo (forkexec.c); so does exec itself (internal/nsenter).
func forkExec(path string, argv, env []string, fds [3]int, tty bool) (int, error) {
	return 0, errors.New("exec into a container needs cgo")
}
