package hull

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/procfs"
)

// TestDetachedCreatorKilled kills the creator of a Detached container
// (the "detach" helper: Open, Run, print the ID, exit) at 60 points
// spread over its life, then opens the root again: every container's record agrees
// with the kernel. A running one is alive and takes an Exec; an exited
// one has no process; a created one (its creator died between Run's
// Create and Start) has none either, and starts; none is left "created"
// with a live command (a ghost: hidden from ps, refused by Exec).
func TestDetachedCreatorKilled(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	root := rt.Root()
	// How long a creator takes when left alone: the kills are spread
	// over it (the machine's load changes it a lot).
	var full time.Duration
	for range 3 {
		begin := time.Now()
		id := detachedByHelper(t, root, "detach")
		full = max(full, time.Since(begin))
		if c, err := rt.Container(t.Context(), id); err == nil {
			_ = c.Remove(context.Background(), WithForce())
		}
	}
	const tries = 60
	for i := range tries {
		cmd := helperCmd(root, "detach")
		cmd.Stdout = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(full/5 + time.Duration(i)*full/tries)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	again, err := Open(t.Context(), WithRoot(root)) // recovery runs
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	cs, err := again.Containers(t.Context(), WithAllContainers())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[Status]int{}
	for _, c := range cs {
		in := inspect(t, c)
		st := in.State
		counts[st.Status]++
		switch st.Status {
		case StatusRunning:
			if st.Pid == 0 || !pidAlive(st.Pid) {
				t.Errorf("%s: running with pid %d, which is gone", c.ID(), st.Pid)
			} else if res, err := c.Exec(t.Context(), []string{"true"}); err != nil || res.ExitCode != 0 {
				t.Errorf("%s: running, exec: %+v %v", c.ID(), res, err)
			}
		case StatusExited:
			if rec, err := readState(again.containerDir(c.ID())); err != nil || rec.alive() {
				t.Errorf("%s: exited, but its pid %d lives (%v)", c.ID(), st.Pid, err)
			}
		case StatusCreated:
			if st.Pid != 0 {
				t.Errorf("%s: created, with pid %d: a ghost", c.ID(), st.Pid)
			} else if counts[StatusCreated] == 1 {
				if err := c.Start(t.Context()); err != nil {
					t.Errorf("%s: start of a created container whose creator died: %v", c.ID(), err)
				} else if st := inspect(t, c).State; st.Status != StatusRunning {
					t.Errorf("%s: started: %+v", c.ID(), st)
				}
			}
		default:
			t.Errorf("%s: status %q after its creator died (pid %d)", c.ID(), st.Status, st.Pid)
		}
		if err := c.Remove(context.Background(), WithForce()); err != nil {
			t.Errorf("remove %s: %v", c.ID(), err)
		}
	}
	t.Logf("after %d creators killed within %v: %v", tries, full, counts)
	if counts[StatusRunning] == 0 {
		t.Errorf("no creator got as far as a running container: the kills are too early to test anything")
	}
	// No shim is left waiting for a creator that died (one of a created
	// container gives up; one of a removed container exits).
	var left []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if left = shimsOfRoot(root); len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("shims left: %v", left)
	}
}

// shimsOfRoot are the shims (hull-shim <id>) whose log (stderr) is under
// root.
func shimsOfRoot(root string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		log, _ := os.Readlink("/proc/" + e.Name() + "/fd/2")
		if strings.HasPrefix(string(args), "hull-shim\x00") && strings.HasPrefix(log, root+"/") && pidAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	_, exited := procfs.Stat(pid)
	return procStartTime(pid) != 0 && !exited
}
