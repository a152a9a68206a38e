package procfs

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrExited is wrapped by OpenRoot's error when the process is no longer
// the one that started at the given time.
var ErrExited = errors.New("the process exited")

// OpenRoot opens (O_PATH) the root directory of process pid, which
// started at start (StartTime). The check after the open makes sure that
// pid was still that process: had it exited and its PID gone to another
// process, the root opened would be that one's (a container's init
// replaced by a host process: the host's root). The caller closes the
// descriptor.
func OpenRoot(pid int, start uint64) (int, error) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the root of process %d: %w", pid, err)
	}
	if start == 0 || StartTime(pid) != start {
		unix.Close(fd)
		return -1, fmt.Errorf("open the root of process %d: %w meanwhile", pid, ErrExited)
	}
	return fd, nil
}
