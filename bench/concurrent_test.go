//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hullbox/hull"
)

// concurrentN is how many containers the concurrency benchmarks start at
// once: 100, or 10 with -test.short (compare.sh --short, CI).
func concurrentN() int {
	if testing.Short() {
		return 10
	}
	return 100
}

// parallel runs start(i) for i in [0,n) concurrently and returns the
// first error.
func parallel(n int, start func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = start(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// starter starts container i of a batch running `sleep 1000` and returns
// once it runs; pids returns the host PIDs of the batch's containers'
// PID 1; removeAll removes the batch (outside the timer).
type starter struct {
	start     func(i int) error
	pids      func() []int
	removeAll func()
}

// runners are the implementations the container-count benchmarks compare,
// each set up to start busybox containers running `sleep 1000` with no
// network (hull: with opts, which should say so); setup skips b when the
// implementation cannot run here.
var runners = []struct {
	name  string
	setup func(b *testing.B, tarball []byte, opts ...hull.RunOption) starter
}{
	{"hull", func(b *testing.B, tarball []byte, opts ...hull.RunOption) starter {
		return hullStarter(b, hullBusybox(b, tarball), opts...)
	}},
	{"runc", func(b *testing.B, tarball []byte, _ ...hull.RunOption) starter {
		need(b, "runc")
		bundle := ociBundle(b, "runc", tarball, "sleep", "1000")
		state := filepath.Join(bundle, "state")
		var ids []string
		var mu sync.Mutex
		batch := 0
		return starter{
			start: func(i int) error {
				id := fmt.Sprintf("hull-bench-%d-%d", batch, i)
				// Not CombinedOutput: the container keeps the stdio it
				// inherits.
				if err := exec.Command("runc", "--root", state, "run", "-d", "--bundle", bundle, id).Run(); err != nil {
					return fmt.Errorf("runc run -d: %w", err)
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				return nil
			},
			pids: func() []int {
				var pids []int
				for _, id := range ids {
					out, err := exec.Command("runc", "--root", state, "state", id).Output()
					var st struct{ Pid int }
					if err != nil || json.Unmarshal(out, &st) != nil {
						b.Fatalf("runc state %s: %v", id, err)
					}
					pids = append(pids, st.Pid)
				}
				return pids
			},
			removeAll: func() {
				batch++
				parallel(len(ids), func(i int) error {
					return exec.Command("runc", "--root", state, "delete", "-f", ids[i]).Run()
				})
				ids = ids[:0]
			},
		}
	}},
	{"docker", func(b *testing.B, tarball []byte, _ ...hull.RunOption) starter {
		needDocker(b)
		dockerBusybox(b, tarball)
		return cliStarter(b, "docker", nil,
			[]string{"run", "-d", "--network", "none", busyboxRef, "sleep", "1000"},
			[]string{"rm", "-f"})
	}},
	{"podman", func(b *testing.B, tarball []byte, _ ...hull.RunOption) starter {
		p := needPodman(b, tarball)
		return cliStarter(b, "podman", p.global,
			p.runArgs("-d", "--network", "none", busyboxRef, "sleep", "1000"),
			[]string{"rm", "--force", "--time", "0"})
	}},
}

// hullStarter starts containers with rt.Run(opts, sleep 1000).
func hullStarter(b *testing.B, rt *hull.Runtime, opts ...hull.RunOption) starter {
	ctx := context.Background()
	var ctrs []*hull.Container
	var mu sync.Mutex
	opts = append([]hull.RunOption{hull.WithCmd("sleep", "1000")}, opts...)
	return starter{
		start: func(int) error {
			c, err := rt.Run(ctx, busyboxRef, opts...)
			if err != nil {
				return err
			}
			mu.Lock()
			ctrs = append(ctrs, c)
			mu.Unlock()
			return nil
		},
		pids: func() []int {
			var pids []int
			for _, c := range ctrs {
				if in, err := c.Inspect(context.Background()); err == nil {
					pids = append(pids, in.State.Pid)
				}
			}
			return pids
		},
		removeAll: func() {
			if err := parallel(len(ctrs), func(i int) error {
				return ctrs[i].Remove(ctx, hull.WithForce())
			}); err != nil {
				b.Fatal(err)
			}
			ctrs = ctrs[:0]
		},
	}
}

// cliStarter starts containers with `tool global run...` (which prints
// the container's ID) and removes them with `tool global rm...`.
func cliStarter(b *testing.B, tool string, global, run, rm []string) starter {
	var ids []string
	var mu sync.Mutex
	cmd := func(args ...string) *exec.Cmd {
		return exec.Command(tool, append(append([]string(nil), global...), args...)...)
	}
	return starter{
		start: func(int) error {
			out, err := cmd(run...).Output()
			if err != nil {
				return fmt.Errorf("%s run: %w %s", tool, err, stderrOf(err))
			}
			mu.Lock()
			ids = append(ids, strings.TrimSpace(string(out)))
			mu.Unlock()
			return nil
		},
		pids: func() []int {
			var pids []int
			out := output(b, tool, append(append(global[:len(global):len(global)], "inspect", "--format", "{{.State.Pid}}"), ids...)...)
			for _, f := range strings.Fields(out) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					b.Fatalf("%s inspect: %q", tool, out)
				}
				pids = append(pids, pid)
			}
			return pids
		},
		removeAll: func() {
			if len(ids) == 0 {
				return
			}
			if out, err := cmd(append(rm, ids...)...).CombinedOutput(); err != nil {
				b.Fatalf("%s rm: %v\n%s", tool, err, out)
			}
			ids = ids[:0]
		},
	}
}

// stderrOf returns the standard error an exec.Output error carries.
func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// BenchmarkRunConcurrent starts concurrentN busybox containers running
// `sleep 1000` (no network) at once and times until all of them run; then
// removes them, outside the timer. hull: owned containers from one
// Runtime; runc: `runc run -d` on one bundle; docker and podman: `run -d
// --network none`.
func BenchmarkRunConcurrent(b *testing.B) {
	tarball := busyboxTar(b)
	n := concurrentN()
	for _, impl := range runners {
		b.Run(impl.name, func(b *testing.B) {
			timeStarts(b, impl.setup(b, tarball, hull.WithNetworkMode("none")), n)
		})
	}
}

// timeStarts times s starting n containers at once until all run, and
// removes them after each round, outside the timer.
func timeStarts(b *testing.B, s starter, n int) {
	defer s.removeAll()
	for b.Loop() {
		if err := parallel(n, s.start); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.removeAll()
		b.StartTimer()
	}
}
