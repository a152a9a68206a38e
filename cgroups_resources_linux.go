package hull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultStopTimeout is how long Stop waits before SIGKILL when neither
// the caller nor WithStopTimeout says (Docker's 10 seconds).
const defaultStopTimeout = 10 * time.Second

func (st *containerState) stopTimeout() time.Duration {
	if st.StopTimeout != nil {
		return *st.StopTimeout
	}
	return defaultStopTimeout
}

// setResources applies the spec's cpu, cpuset and memory(+swap) limits to
// the cgroup before the container's process exists. The pids limit waits
// for setPidsLimit (the init's Go runtime must start its threads first);
// the device rules are not applied on v1 (hull does not join the devices
// hierarchy: the container's /dev only has the spec's nodes).
func (cg *cgroup) setResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	res := &specs.LinuxResources{CPU: r.CPU, Memory: r.Memory}
	if m := r.Memory; m != nil && m.Swap != nil && !swapAccounting(cg.v2 != nil) {
		mem := *m
		mem.Swap = nil // as Docker: no swap accounting, no swap limit
		res.Memory = &mem
	}
	if res.CPU == nil && res.Memory == nil {
		return nil
	}
	if cg.v2 != nil {
		v2 := cgroup2.ToResources(res)
		if err := cg.v2.ToggleControllers(v2.EnabledControllers(), cgroup2.Enable); err != nil {
			return fmt.Errorf("cgroup controllers: %w", err)
		}
		if err := cg.v2.Update(v2); err != nil {
			return fmt.Errorf("cgroup limits: %w", err)
		}
		return nil
	}
	if err := cg.v1.Update(res); err != nil {
		return fmt.Errorf("cgroup limits: %w", err)
	}
	return nil
}

// swapAccounting reports whether the kernel accounts swap per cgroup.
func swapAccounting(v2 bool) bool {
	p := filepath.Join(cgroupRoot, "memory", "memory.memsw.limit_in_bytes")
	if v2 {
		// The root has no memory.swap.max; the hull parent does once
		// created, and so does any child of a root with the controller.
		p = filepath.Join(cgroupRoot, "hull", "memory.swap.max")
	}
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

// autoRemove removes an exited container made WithAutoRemove. The reaper
// calls it once the exit is recorded.
func (c *Container) autoRemove() {
	c.mu.Lock()
	auto := c.st.AutoRemove && c.st.Status != ""
	c.mu.Unlock()
	if auto {
		_ = c.Remove(context.Background(), WithRemoveVolumes()) // docker run --rm removes them too
	}
}
