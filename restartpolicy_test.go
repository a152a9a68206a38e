//go:build linux

package hull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// containerEvents is the actions of c's events in evs, with their times.
func containerEvents(evs []Event, id string) (acts []string, at []time.Time) {
	for _, e := range evs {
		if e.ID == id && (e.Action == "start" || e.Action == "die" || e.Action == "restart") {
			acts, at = append(acts, e.Action), append(at, e.Time)
		}
	}
	return acts, at
}

// TestRestartOnFailure: on-failure:2 restarts a failing container twice,
// after Docker's backoff (100 ms, then 200 ms at least), then leaves it
// exited with RestartCount 2; die and start events alternate; a Start
// starts the count again.
func TestRestartOnFailure(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	evs := events(t, rt, WithEventsFilter("type", "container"))
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "exit 3"),
		WithRestartPolicy(RestartPolicy{Name: RestartOnFailure, MaximumRetryCount: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context(), WithForce())
	in := waitInspect(t, c, "2 restarts, then exited", func(in ContainerInspect) bool {
		return in.RestartCount == 2 && in.State.Status == StatusExited && !in.State.Restarting
	})
	if in.State.ExitCode != 3 || in.HostConfig.RestartPolicy != (RestartPolicy{Name: RestartOnFailure, MaximumRetryCount: 2}) {
		t.Errorf("exit %d, policy %+v", in.State.ExitCode, in.HostConfig.RestartPolicy)
	}
	time.Sleep(500 * time.Millisecond) // a third restart would come within 400 ms
	if in := inspectC(t, c); in.RestartCount != 2 || in.State.Status != StatusExited {
		t.Errorf("after the last: %d restarts, %s", in.RestartCount, in.State.Status)
	}
	acts, at := containerEvents(drainEvents(evs, 100*time.Millisecond), c.ID())
	want := []string{"start", "die", "start", "die", "start", "die"}
	if len(acts) != len(want) {
		t.Fatalf("events %q, want %q", acts, want)
	}
	for i := range want {
		if acts[i] != want[i] {
			t.Fatalf("events %q, want %q", acts, want)
		}
	}
	// Backoff: die -> start at least 100 ms, then at least 200 ms.
	d1, d2 := at[2].Sub(at[1]), at[4].Sub(at[3])
	if d1 < restartFirstDelay || d2 < 2*restartFirstDelay {
		t.Errorf("backoff %v then %v, want >= 100ms then >= 200ms", d1, d2)
	}
	t.Logf("die -> start: %v, then %v", d1, d2)
	// A Start by the user starts the count again.
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitInspect(t, c, "2 restarts again", func(in ContainerInspect) bool {
		return in.RestartCount == 2 && in.State.Status == StatusExited && !in.State.Restarting
	})
}

// TestRestartAlways: always restarts a container that exits 0; Stop is
// not undone, neither while it runs nor in its backoff; unless-stopped
// likewise.
func TestRestartAlways(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, policy := range []string{RestartAlways, RestartUnlessStopped} {
		c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "0.1"), WithRestartPolicy(RestartPolicy{Name: policy}))
		if err != nil {
			t.Fatal(err)
		}
		waitInspect(t, c, policy+": 2 restarts", func(in ContainerInspect) bool { return in.RestartCount >= 2 })
		if err := c.Stop(t.Context(), 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		n := inspectC(t, c).RestartCount
		time.Sleep(700 * time.Millisecond) // past any backoff so far
		if in := inspectC(t, c); in.State.Status != StatusExited || in.RestartCount != n || in.State.Restarting {
			t.Errorf("%s after Stop: %s, restarts %d then %d", policy, in.State.Status, n, in.RestartCount)
		}
		if err := c.Remove(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Kill (SIGKILL) counts as a stop too; a Start undoes it.
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "trap 'exit 5' TERM; while :; do sleep 0.05; done"),
		WithRestartPolicy(RestartPolicy{Name: RestartAlways}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context(), WithForce())
	if err := c.Kill(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if in := inspectC(t, c); in.State.Status != StatusExited || in.RestartCount != 0 {
		t.Errorf("after Kill: %s, %d restarts", in.State.Status, in.RestartCount)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitInspect(t, c, "running", func(in ContainerInspect) bool { return in.State.Status == StatusRunning })
	time.Sleep(100 * time.Millisecond)              // its trap set
	if err := c.Kill(t.Context(), 15); err != nil { // not a stop: the policy restarts it
		t.Fatal(err)
	}
	waitInspect(t, c, "restarted after SIGTERM", func(in ContainerInspect) bool {
		return in.RestartCount == 1 && in.State.Status == StatusRunning
	})
}

// TestRestartPolicyOptions: bad policies are refused; with WithAutoRemove
// too.
func TestRestartPolicyOptions(t *testing.T) {
	t.Parallel()
	for _, p := range []RestartPolicy{{Name: "sometimes"}, {Name: RestartAlways, MaximumRetryCount: 1}, {Name: RestartOnFailure, MaximumRetryCount: -1}} {
		var rc runConfig
		if err := WithRestartPolicy(p)(&rc); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", p, err)
		}
	}
	rt := containerTest(t)
	if _, err := rt.Create(t.Context(), "busybox:test", WithAutoRemove(), WithRestartPolicy(RestartPolicy{Name: RestartAlways})); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("with WithAutoRemove: %v", err)
	}
	c, err := rt.Create(t.Context(), "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	if p := inspectC(t, c).HostConfig.RestartPolicy; p.Name != RestartNo {
		t.Errorf("default policy %+v", p)
	}
}

func init() {
	// detach-policy starts a Detached container that fails twice, then
	// runs, with a health check that passes from its third run on;
	// prints its ID and exits (TestRestartDetached).
	helperRoles["detach-policy"] = func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Run(ctx, "busybox:test", WithDetached(),
			WithCmd("sh", "-c", `echo run >> /runs; [ $(wc -l < /runs) -ge 3 ] && exec sleep 60; exit 3`),
			WithRestartPolicy(RestartPolicy{Name: RestartOnFailure}),
			WithHealthcheck(Healthcheck{Test: []string{"CMD-SHELL", `[ $(wc -l < /runs) -ge 3 ]`}, Interval: 100 * time.Millisecond}))
		if err != nil {
			return err
		}
		fmt.Println(c.ID())
		return nil
	}
}

// TestRestartDetached: a Detached container's restarts and health checks
// go on after its creator has exited (its supervisor's work): a new
// Runtime sees it restarted twice, running and healthy; a Stop from it is
// not undone, and no supervisor is left once the container is removed.
func TestRestartDetached(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	since := time.Now()
	id := detachedByHelper(t, rt.Root(), "detach-policy") // the creator has exited
	other, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := other.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.WithoutCancel(t.Context()), WithForce())
	in := waitInspect(t, c, "2 restarts, running", func(in ContainerInspect) bool {
		return in.RestartCount == 2 && in.State.Status == StatusRunning
	})
	if err := c.WaitHealthy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h := inspectC(t, c).State.Health; h.Status != HealthHealthy || len(h.Log) == 0 {
		t.Errorf("health %+v", h)
	}
	for _, pid := range supervisors(t, id) {
		status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") {
				t.Logf("supervisor %d: %s", pid, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	evs := drainEvents(events(t, other, WithEventsSince(since), WithEventsFilter("container", id)), 300*time.Millisecond)
	acts, at := containerEvents(evs, id)
	if want := []string{"start", "die", "start", "die", "start"}; !slices.Equal(acts, want) {
		t.Errorf("events %q, want %q", acts, want)
	} else {
		t.Logf("die -> start by the supervisor: %v, then %v", at[2].Sub(at[1]), at[4].Sub(at[3]))
	}
	if got := healthActions(evs); !slices.Equal(got, []string{"health_status: healthy"}) {
		t.Errorf("health events %q", got)
	}
	if err := c.Stop(t.Context(), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if in2 := inspectC(t, c); in2.State.Status != StatusExited || in2.RestartCount != 2 || in2.State.Pid != 0 {
		t.Errorf("after Stop: %s, %d restarts (pid %d before)", in2.State.Status, in2.RestartCount, in.State.Pid)
	}
	// The supervisors said nothing (in a -race build, no race either).
	if log, _ := os.ReadFile(filepath.Join(rt.containerDir(id), "supervisor.log")); len(log) > 0 {
		t.Errorf("supervisor.log: %s", log)
	}
	if err := c.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	// With its creator alive (this process), which records each exit
	// before the supervisor restarts it.
	c2, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithCmd("sh", "-c", "exit 3"),
		WithRestartPolicy(RestartPolicy{Name: RestartOnFailure, MaximumRetryCount: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(context.WithoutCancel(t.Context()), WithForce())
	waitInspect(t, c2, "2 restarts, then exited", func(in ContainerInspect) bool {
		return in.RestartCount == 2 && in.State.Status == StatusExited && !in.State.Restarting && in.State.ExitCode == 3
	})
	deadline := time.Now().Add(5 * time.Second)
	for len(supervisors(t, id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a supervisor of %s outlived it", id[:12])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// supervisors lists the processes whose command line is hull-supervise id.
func supervisors(t *testing.T, id string) []int {
	t.Helper()
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		data, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if pid, perr := strconv.Atoi(d.Name()); perr == nil && err == nil && string(data) == "hull-supervise\x00"+id+"\x00" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestRestartDetachedByUser: Restart of a Detached container with a
// policy (a stop, then a user's Start) races with nothing: one run, one
// supervisor, no policy restart counted.
func TestRestartDetachedByUser(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithCmd("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"),
		WithRestartPolicy(RestartPolicy{Name: RestartAlways}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.WithoutCancel(t.Context()), WithForce())
	time.Sleep(100 * time.Millisecond) // its trap set
	before := inspectC(t, c).State.Pid
	if err := c.Restart(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	time.Sleep(600 * time.Millisecond) // past a policy restart's backoff
	in := inspectC(t, c)
	if in.State.Status != StatusRunning || in.State.Pid == before || in.RestartCount != 0 || in.State.Restarting {
		t.Errorf("after Restart: %s pid %d (was %d), %d restarts", in.State.Status, in.State.Pid, before, in.RestartCount)
	}
	// The first run's supervisor exits once it sees the run it watched
	// replaced (slowly in a -race build); the second's stays.
	for deadline := time.Now().Add(5 * time.Second); len(supervisors(t, c.ID())) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d supervisors", len(supervisors(t, c.ID())))
		}
	}
	t.Logf("one supervisor after %v", time.Since(restarted))
	if log, _ := os.ReadFile(filepath.Join(rt.containerDir(c.ID()), "supervisor.log")); len(log) > 0 {
		t.Errorf("supervisor.log: %s", log)
	}
}
