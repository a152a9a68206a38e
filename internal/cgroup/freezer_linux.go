package cgroup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SetFrozen freezes or thaws the cgroup and waits until the kernel has
// done it: on v1 freezer.state goes FREEZING -> FROZEN (written again
// until it sticks, as a task may be mid-fork); on v2 cgroup.events says
// "frozen 1". Waiting is bounded by ctx and 10 seconds.
func (cg *Cgroup) SetFrozen(ctx context.Context, frozen bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var file, want string
	var done func() bool
	if cg.fs.unified {
		dir := cg.dirs[0]
		file, want = filepath.Join(dir, "cgroup.freeze"), "0"
		if frozen {
			want = "1"
		}
		done = func() bool {
			n := ReadKV(filepath.Join(dir, "cgroup.events"), "frozen")
			return (n == 1) == frozen
		}
	} else {
		dir := cg.dir("freezer")
		if dir == "" {
			return fmt.Errorf("freezer: %w: no freezer cgroup hierarchy", ErrUnsupported)
		}
		file, want = filepath.Join(dir, "freezer.state"), "THAWED"
		if frozen {
			want = "FROZEN"
		}
		done = func() bool {
			b, err := os.ReadFile(file)
			return err == nil && strings.TrimSpace(string(b)) == want
		}
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		if err := writeFile(file, want); err != nil {
			return fmt.Errorf("freezer: %w", err)
		}
		if done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("freezer: %s not reached: %w", want, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// Frozen reports whether the kernel has frozen the cgroup (v2:
// cgroup.events "frozen 1"; v1: freezer.state FROZEN).
func (cg *Cgroup) Frozen() bool {
	if cg.fs.unified {
		return ReadKV(filepath.Join(cg.dirs[0], "cgroup.events"), "frozen") == 1
	}
	b, err := os.ReadFile(filepath.Join(cg.dir("freezer"), "freezer.state"))
	return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
}
