//go:build linux

package hull

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestContainerWithInit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithInit(), WithUser("app"),
		WithCmd("sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$ $(id -u); sleep 0.1 & exit 5"))
	// PID 1 is the init (hull's reaper); the command is its child.
	if f := strings.Fields(out); err != nil || st.ExitCode != 5 || len(f) != 4 || f[0] != "hull-init" || f[2] == "1" || f[3] != "1000" {
		t.Errorf("with init: %+v %v %q", st, err, out)
	}
	st, out, _ = run(t, rt, WithInit(), WithCmd("no-such-command"))
	if st.ExitCode != 127 {
		t.Errorf("missing command under init: %+v %q", st, out)
	}
}

// TestContainerDetached: a child process starts a Detached container and
// exits; this process finds it, reads its logs, execs into it, stops and
// removes it.
func TestContainerDetached(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	id := detachedByHelper(t, rt.Root(), "detach")
	// A new Runtime's recovery must leave it running.
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c, err := rt2.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	pid := inspect(t, c).State.Pid
	defer func() {
		c.Remove(context.Background(), WithForce())
		checkGone(t, rt2, id, pid)
	}()
	if st := inspect(t, c).State; !st.Running {
		t.Fatalf("detached container not running after its creator exited: %+v", st)
	}
	// Its shim keeps logging after the creator is gone.
	var logs syncBuffer
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "tick") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		logs = syncBuffer{}
		if err := c.Logs(t.Context(), WithLogsStdout(&logs), WithLogsStderr(&logs)); err != nil {
			t.Fatal(err)
		}
	}
	if s := logs.String(); !strings.Contains(s, "started\n") || !strings.Contains(s, "warn\n") || !strings.Contains(s, "tick\n") {
		t.Errorf("logs: %q", s)
	}
	var ps syncBuffer
	// PID 1 is the command, as with docker run -d: the shim is outside.
	res, err := c.Exec(t.Context(), []string{"sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; ps -o comm | grep -c sh"}, WithExecStdout(&ps))
	if err != nil || res.ExitCode != 0 || !strings.HasPrefix(ps.String(), "sh -c echo started") {
		t.Errorf("exec: %+v %v %q", res, err, ps.String())
	}
	died := events(t, rt2, WithEventsFilter("container", id), WithEventsFilter("event", "die"))
	if err := c.Stop(t.Context(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(t.Context())
	if err != nil || st.ExitCode != 7 {
		t.Errorf("wait: %+v %v", st, err)
	}
	// Its creator is gone: its init logged the "die" event.
	if e := nextEvents(t, died, 1)[0]; e.Attributes["exitCode"] != "7" || e.Attributes["image"] != "busybox:test" {
		t.Errorf("die event %+v", e)
	}
	logs = syncBuffer{}
	if err := c.Logs(t.Context(), WithLogsFollow(), WithLogsStdout(&logs)); err != nil || !strings.Contains(logs.String(), "got-term\n") {
		t.Errorf("logs after stop: %q %v", logs.String(), err)
	}
	if err := c.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestContainerDetachedStopCodes: Stop of a detached command that does
// not handle SIGTERM ends in SIGKILL (137), as Docker's PID 1 does; with
// WithInit (docker --init) SIGTERM reaches it (143).
func TestContainerDetachedStopCodes(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, tc := range []struct {
		name string
		opts []RunOption
		code int
	}{
		{"pid1", []RunOption{WithDetached()}, 137},
		{"init", []RunOption{WithDetached(), WithInit()}, 143},
	} {
		c, err := rt.Run(t.Context(), "busybox:test", append(tc.opts, WithCmd("sleep", "60"))...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Remove(context.Background(), WithForce())
		if err := c.Stop(t.Context(), 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != tc.code {
			t.Errorf("%s: stopped with %+v %v, want %d", tc.name, st, err, tc.code)
		}
	}
}

// TestContainerDetachedOOM: a Detached container OOM-killed after its
// creator exited reports OOMKilled, and its init logs "oom" and "die".
func TestContainerDetachedOOM(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	start := time.Now()
	id := detachedByHelper(t, rt.Root(), "detachoom")
	c, err := rt.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	st, err := c.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	c.Logs(t.Context(), WithLogsStdout(&logs))
	if !st.OOMKilled && strings.Contains(logs.String(), "survived") {
		t.Skipf("no OOM kill here (%+v)", st)
	}
	if !st.OOMKilled || st.ExitCode != 137 {
		t.Errorf("wait: %+v", st)
	}
	if cg := rt.loadCgroup(id); cg != nil {
		t.Errorf("the exited container keeps its cgroup %q", cg.Dirs())
	}
	evs := events(t, rt, WithEventsSince(start), WithEventsUntil(time.Now()), WithEventsFilter("container", id))
	var got []string
	for e := range evs {
		got = append(got, e.Action)
	}
	if !slices.Contains(got, "oom") || got[len(got)-1] != "die" {
		t.Errorf("events %q", got)
	}
}

// TestContainerDetachedKilled: SIGKILL of a Detached container whose
// creator has gone ends it with 137, as docker kill does; this process
// sees the same status as a creator would (signal 9), and the container's
// "die" event is logged once, with that signal.
func TestContainerDetachedKilled(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	id := detachedByHelper(t, rt.Root(), "detach")
	c, err := rt.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	start := time.Now()
	if err := c.Kill(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != 137 || st.Signal != 9 {
		t.Errorf("wait after SIGKILL: %+v %v", st, err)
	}
	var dies []Event
	for e := range events(t, rt, WithEventsSince(start), WithEventsUntil(time.Now()), WithEventsFilter("container", id), WithEventsFilter("event", "die")) {
		dies = append(dies, e)
	}
	if len(dies) != 1 || dies[0].Attributes["exitCode"] != "137" || dies[0].Attributes["signal"] != "9" {
		t.Errorf("die events: %+v, want one with exitCode 137, signal 9", dies)
	}
	if st := inspect(t, c).State; st.Status != StatusExited || st.ExitCode != 137 {
		t.Errorf("inspect after SIGKILL: %+v", st)
	}
}

// detachedByHelper runs a child process playing role on root (detach,
// detachoom in main_test.go), which starts a Detached container, prints
// its ID and exits, and returns that ID.
func detachedByHelper(t *testing.T, root, role string) string {
	t.Helper()
	out, err := helperCmd(root, role).Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var id string
	if _, err := fmt.Sscan(string(out), &id); err != nil {
		t.Fatalf("helper printed %q", out)
	}
	return id
}

// TestDetachedExitRemovesCgroup: a Detached container's cgroup goes when
// it exits, as Docker's runtime deletes it, not at Remove: whether its
// creator is gone (its shim removes it) or still there (its shim, before
// the creator reaps it; the exit's OOM kill, read before, still reaches
// the creator's Wait).
func TestDetachedExitRemovesCgroup(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	id := detachedByHelper(t, rt.Root(), "detachexit")
	c, err := rt.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	if rt.loadCgroup(id) == nil {
		t.Fatal("a running Detached container has no cgroup")
	}
	if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != 0 {
		t.Fatalf("wait: %+v %v", st, err)
	}
	if cg := rt.loadCgroup(id); cg != nil {
		t.Errorf("creator gone: the exited container keeps its cgroup %q", cg.Dirs())
	}

	own, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithMemory(64<<20),
		WithCmd("sh", "-c", `sleep 0.2; x=$(head -c 100000000 /dev/zero | tr "\0" x); echo survived`))
	if err != nil {
		t.Fatal(err)
	}
	defer own.Remove(context.Background(), WithForce())
	st, err := own.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cg := rt.loadCgroup(own.ID()); cg != nil {
		t.Errorf("creator there: the exited container keeps its cgroup %q", cg.Dirs())
	}
	var logs strings.Builder
	own.Logs(t.Context(), WithLogsStdout(&logs))
	if !strings.Contains(logs.String(), "survived") && (!st.OOMKilled || st.ExitCode != 137) {
		t.Errorf("OOM-killed, its creator's Wait says %+v", st)
	}
}
