package hull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"

	"github.com/hullbox/hull/internal/procfs"
)

// Top lists the container's processes, as `docker top`: every process in
// its cgroup, with host PIDs, sorted by PID. It fails with a
// *TransitionError (ErrConflict) unless the container is running or
// paused.
func (c *Container) Top(ctx context.Context) ([]Process, error) {
	cg, err := c.liveCgroup(actTop)
	if err != nil {
		return nil, err
	}
	pids, err := cg.Procs()
	if err != nil {
		return nil, fmt.Errorf("top container %s: %w", shortContainerID(c.id), err)
	}
	boot := procfs.BootTime()
	users := procfs.PasswdNames()
	out := make([]Process, 0, len(pids))
	for _, pid := range pids {
		pp, err := procfs.ReadProcess(pid, boot)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("top container %s: %w", shortContainerID(c.id), err)
		}
		p := Process{PID: pp.PID, PPID: pp.PPID, UID: pp.UID, User: users[pp.UID], CPU: pp.CPU,
			Started: pp.Started, TTY: pp.TTY, Time: pp.Time, Cmd: pp.Cmd}
		if p.User == "" {
			p.User = strconv.Itoa(p.UID)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Process) int { return a.PID - b.PID })
	return out, nil
}
