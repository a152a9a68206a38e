//go:build linux

package hull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/testutil"
)

// startBusybox runs a busybox shell script in a container removed when
// the test ends.
func startBusybox(t *testing.T, rt *Runtime, script string, opts ...RunOption) *Container {
	t.Helper()
	c, err := rt.Run(t.Context(), "busybox:test", append([]RunOption{WithCmd("sh", "-c", script)}, opts...)...)
	if c != nil {
		t.Cleanup(func() {
			if err := c.Remove(context.Background(), WithForce()); err != nil {
				t.Errorf("remove: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestContainerStats(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	idle := startBusybox(t, rt, "sleep 1000", WithMemory(64<<20))
	busy := startBusybox(t, rt, "while :; do :; done")

	s, err := idle.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory.Usage == 0 || s.Memory.Limit != 64<<20 || s.Memory.Percent <= 0 || s.Pids.Current < 1 || s.CPU.TotalNs == 0 {
		t.Errorf("idle stats: %+v", s)
	}
	// A busy loop's CPU time never goes back, and its share shows: above
	// 10% in some 50 ms window (on a loaded test machine it may get less
	// in a few of them).
	var last Stats
	n, busyOnce := 0, false
	stream, err := busy.StatsStream(ctx, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for s := range stream {
		if n > 0 && (s.CPU.TotalNs < last.CPU.TotalNs || s.CPU.Percent < 0) {
			t.Errorf("busy loop, sample %d: %+v after %+v", n, s.CPU, last.CPU)
		}
		last, n = s, n+1
		busyOnce = busyOnce || s.CPU.Percent > 10
		if (n >= 3 && busyOnce) || n == 100 {
			break
		}
	}
	if !busyOnce || last.CPU.TotalNs == 0 {
		t.Errorf("busy loop after %d samples: never above 10%%: %+v", n, last.CPU)
	}
	// The stream ends when the container does.
	ch, err := busy.StatsStream(ctx, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	if err := busy.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-timeout:
			t.Fatal("stats stream still open after the container exited")
		}
	}
	if _, err := busy.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Stats(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("stats of an exited container: %v, want ErrConflict", err)
	}
	if ch, err := busy.StatsStream(ctx, 0); !errors.Is(err, ErrConflict) || ch != nil {
		t.Errorf("stats stream of an exited container: %v, want ErrConflict", err)
	}
}

func TestContainerTop(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := startBusybox(t, rt, "sleep 1000 & sleep 2000 & wait")
	var procs []Process
	// Until both sleeps have exec'd.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if procs, err = c.Top(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(procs) == 3 && strings.HasPrefix(procs[1].Cmd, "sleep") && strings.HasPrefix(procs[2].Cmd, "sleep") {
			break
		}
	}
	if len(procs) != 3 {
		t.Fatalf("top: %+v", procs)
	}
	init := inspect(t, c).State.Pid
	if procs[0].PID != init || procs[0].Cmd != "sh -c sleep 1000 & sleep 2000 & wait" || procs[0].UID != 0 || procs[0].User != "root" {
		t.Errorf("init: %+v (host pid %d)", procs[0], init)
	}
	for _, p := range procs[1:] {
		if p.PPID != init || !strings.HasPrefix(p.Cmd, "sleep ") || p.TTY != "?" || p.Started.IsZero() {
			t.Errorf("child: %+v", p)
		}
		// Host PIDs: the process is visible in our /proc with its cmdline.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline"); err != nil || !strings.HasPrefix(string(b), "sleep") {
			t.Errorf("host /proc/%d: %q %v", p.PID, b, err)
		}
	}
}

// counterScript appends a line to /counter every 10 ms.
const counterScript = "while :; do echo x >> /counter; sleep 0.01; done"

// counter returns how many lines the container's counter file has, read
// through its init's root.
func counter(t *testing.T, c *Container) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(inspect(t, c).State.Pid), "root/counter"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func waitCounter(t *testing.T, c *Container, above int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := counter(t, c); n > above {
			return n
		}
	}
	t.Fatalf("counter stuck at %d", above)
	return 0
}

func TestContainerPauseResume(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	c := startBusybox(t, rt, counterScript, WithName("pausing"))
	waitCounter(t, c, 0)
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if in := inspect(t, c); in.State.Status != StatusPaused || !in.State.Paused || !in.State.Running {
		t.Errorf("paused: %+v", in.State)
	}
	frozen := counter(t, c)
	time.Sleep(100 * time.Millisecond)
	if n := counter(t, c); n != frozen {
		t.Errorf("counter went from %d to %d while paused", frozen, n)
	}
	if err := c.Pause(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("pause a paused container: %v, want ErrConflict", err)
	}
	// Another Runtime sees it paused, and it is listed by default.
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if list, err := rt2.Containers(ctx, WithFilterStatus(StatusPaused)); err != nil || len(list) != 1 || inspect(t, list[0]).State.Status != StatusPaused {
		t.Errorf("paused containers: %v %v", list, err)
	}
	if _, err := c.Stats(ctx); err != nil {
		t.Errorf("stats while paused: %v", err)
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, c).State.Status; st != StatusRunning {
		t.Errorf("resumed: %s", st)
	}
	waitCounter(t, c, frozen)
	if err := c.Resume(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("resume a running container: %v, want ErrConflict", err)
	}
}

func TestContainerKillPaused(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	for _, how := range []string{"kill", "stop", "remove"} {
		c := startBusybox(t, rt, "sleep 1000")
		if err := c.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		switch how {
		case "kill":
			if err := c.Kill(ctx, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		case "stop":
			if err := c.Stop(ctx, 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		case "remove":
			pid := inspect(t, c).State.Pid
			if err := c.Remove(ctx, WithForce()); err != nil {
				t.Fatal(err)
			}
			checkGone(t, rt, c.ID(), pid)
			continue
		}
		st, err := c.Wait(ctx)
		if err != nil || st.ExitCode != 137 {
			t.Errorf("%s paused: %+v %v", how, st, err)
		}
		if s := inspect(t, c).State.Status; s != StatusExited {
			t.Errorf("%s paused: status %s", how, s)
		}
		if err := c.Pause(ctx); !errors.Is(err, ErrConflict) {
			t.Errorf("pause an exited container: %v, want ErrConflict", err)
		}
		var te *TransitionError
		if err := c.Resume(ctx); !errors.As(err, &te) || te.Status != StatusExited || te.Action != "resume" {
			t.Errorf("resume an exited container: %v", err)
		}
	}
}

func TestContainersFilters(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	running := startBusybox(t, rt, "sleep 1000", WithName("up"), WithLabels(map[string]string{"tier": "web"}))
	exited := startBusybox(t, rt, "true", WithName("down"), WithLabels(map[string]string{"tier": "db", "x": ""}))
	if _, err := exited.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	ids := func(filters ...ContainersOption) []string {
		list, err := rt.Containers(ctx, filters...)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.Name())
		}
		return out
	}
	for _, tc := range []struct {
		filters []ContainersOption
		want    string
	}{
		{nil, "up"},
		{[]ContainersOption{WithAllContainers()}, "down up"},
		{[]ContainersOption{WithFilterStatus(StatusExited)}, "down"},
		{[]ContainersOption{WithAllContainers(), WithFilterName("up")}, "up"},
		{[]ContainersOption{WithFilterName("down")}, ""},
		{[]ContainersOption{WithAllContainers(), WithFilterLabel("tier", "")}, "down up"},
		{[]ContainersOption{WithAllContainers(), WithFilterLabel("tier", "db")}, "down"},
		{[]ContainersOption{WithAllContainers(), WithFilterLabel("x", "")}, "down"},
		{[]ContainersOption{WithFilterLabel("tier", "db")}, ""},
	} {
		got := ids(tc.filters...)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%d filters: %v, want %q", len(tc.filters), got, tc.want)
		}
	}
	if l := inspect(t, running).Config.Labels; l["tier"] != "web" {
		t.Errorf("labels %v", l)
	}
}

func TestContainerRestart(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	var out syncBuffer
	// Each run appends to /runs and exits with the number of runs so far.
	c := startBusybox(t, rt, `echo run >> /runs; n=$(wc -l < /runs); echo "run $n"; [ $n -ge 3 ] && exit $n; sleep 1000`,
		WithStdout(&out), WithName("again"))
	waitOutput := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), s); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in %q", s, out.String())
			}
		}
	}
	// The shell ignores SIGTERM (it is PID 1): Stop kills it after the
	// timeout, so let it write first.
	waitOutput("run 1")
	if err := c.Restart(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	in := inspect(t, c)
	if in.State.Status != StatusRunning || in.State.Pid == 0 {
		t.Errorf("restarted: %+v", in.State)
	}
	// Restart of a paused container; then Start of an exited one.
	waitOutput("run 2")
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("start a paused container: %v, want ErrConflict", err)
	}
	if err := c.Restart(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(ctx)
	if err != nil || st.ExitCode != 3 {
		t.Errorf("third run: %+v %v", st, err)
	}
	if got := out.String(); got != "run 1\nrun 2\nrun 3\n" {
		t.Errorf("output %q", got)
	}
	if in := inspect(t, c); in.State.Status != StatusExited || in.State.ExitCode != 3 {
		t.Errorf("after the third run: %+v", in.State)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 4 {
		t.Errorf("fourth run: %+v %v", st, err)
	}
}

func TestContainerStartExitedFromOtherRuntime(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	c := startBusybox(t, rt, `echo x >> /runs; exit $(wc -l < /runs)`)
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 1 {
		t.Fatalf("first run: %+v %v", st, err)
	}
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	other, err := rt2.Container(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := other.Wait(ctx); err != nil || st.ExitCode != 2 {
		t.Errorf("second run, from another Runtime: %+v %v", st, err)
	}
	if st, err := readState(rt.containerDir(c.ID())); err != nil || st.ExitCode != 2 || st.Owner != os.Getpid() {
		t.Errorf("state after the second run: %+v %v", st, err)
	}
}

// TestContainerAutoRemoveDetached: run -d --rm from a process that exits
// at once; the container is gone after it exits (the next Open removes it).
func TestContainerAutoRemoveDetached(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	out, err := helperCmd(rt.Root(), "detachrm").Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var id string
	var pid int
	if _, err := fmt.Sscan(string(out), &id, &pid); err != nil {
		t.Fatalf("helper printed %q", out)
	}
	if c, err := rt.Container(t.Context(), id); err == nil {
		if _, err := c.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if _, err := rt2.Container(t.Context(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("auto-remove container after it exited: %v", err)
	}
	checkGone(t, rt2, id, pid)
}

// TestContainerRestartedElsewhere: a container this Runtime ran and that
// exited is started again by another Runtime; the first sees it running
// and its Close leaves it alone (it is the other's now).
func TestContainerRestartedElsewhere(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "test -f /again && exec sleep 60; touch /again"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c2, err := rt2.Container(t.Context(), c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, c).State; !st.Running || st.Pid != inspect(t, c2).State.Pid {
		t.Errorf("the first Runtime's view after a restart elsewhere: %+v", st)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, c2).State; !st.Running {
		t.Fatalf("the first Runtime's Close ended a container it no longer owns: %+v", st)
	}
	var logs strings.Builder
	if err := c2.Logs(t.Context(), WithLogsStdout(&logs)); err != nil {
		t.Error(err)
	}
	pid := inspect(t, c2).State.Pid
	if err := c2.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	checkGone(t, rt2, c.ID(), pid)
}

// TestContainerPrivilegedDevices: a privileged container gets the host's
// devices (docker --privileged), an ordinary one only the default few;
// its terminal still comes from its own devpts.
func TestContainerPrivilegedDevices(t *testing.T) {
	t.Parallel()
	var dev string
	for _, d := range []string{"/dev/kmsg", "/dev/loop-control", "/dev/tty1", "/dev/fuse"} {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			dev = d
			break
		}
	}
	if dev == "" {
		t.Skip("no host device to look for")
	}
	rt := containerTest(t)
	probe := "test -c " + dev + " && echo has-device; tty"
	st, out, err := run(t, rt, WithPrivileged(), WithTTY(), WithCmd("sh", "-c", probe))
	if err != nil || st.ExitCode != 0 || !strings.Contains(out, "has-device") || !strings.Contains(out, "/dev/pts/") {
		t.Errorf("privileged: %+v %v %q", st, err, out)
	}
	if _, out, _ := run(t, rt, WithCmd("sh", "-c", probe)); strings.Contains(out, "has-device") {
		t.Errorf("an ordinary container has %s: %q", dev, out)
	}
}

// TestContainerVolatileRootfs: an owned container's overlay is mounted
// volatile (nothing syncs it), a Detached one's is not; the mark a
// volatile run leaves in the work dir, which fails any later mount of
// the upper dir, stops neither CopyTo into the stopped container nor its
// next start, and its writes are all still there.
func TestContainerVolatileRootfs(t *testing.T) {
	t.Parallel()
	if !initproc.VolatileOverlay() {
		t.Skip("kernel older than 5.10: no volatile overlays")
	}
	rt := containerTest(t)
	ctx := t.Context()
	rootOptions := func(c *Container) string {
		t.Helper()
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", inspect(t, c).State.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
				return f[len(f)-1] // the superblock's options
			}
		}
		t.Fatalf("no root in %s", data)
		return ""
	}
	var out syncBuffer
	owned := startBusybox(t, rt, "echo run >> /runs; cat /runs; [ ! -e /copied ] || cat /copied; sleep 1000",
		WithStdout(&out), WithStderr(&out))
	detached := startBusybox(t, rt, "sleep 1000", WithDetached())
	if o := rootOptions(owned); !strings.Contains(o, "volatile") { // "fsync=volatile" since Linux 6.4
		t.Errorf("owned container's root: %s, want volatile", o)
	}
	if o := rootOptions(detached); strings.Contains(o, "volatile") {
		t.Errorf("detached container's root: %s", o)
	}
	mark := filepath.Join(rt.containerDir(owned.ID()), "work", initproc.VolatileMarker)
	// stop waits for the run's output, stops it and checks the mark is there.
	stop := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); out.String() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("output %q, want %q", out.String(), want)
			}
		}
		if err := owned.Stop(ctx, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(mark); err != nil {
			t.Fatalf("no volatile mark after the run (the test would prove nothing): %v", err)
		}
	}
	stop("run\n")
	if err := owned.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stop("run\nrun\nrun\n")
	if err := owned.CopyTo(ctx, "/", bytes.NewReader(testutil.TarBytes(t, []testutil.File{{Name: "copied", Mode: 0o644, Body: []byte("copied\n")}}))); err != nil {
		t.Fatal(err)
	}
	if err := owned.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stop("run\nrun\nrun\nrun\nrun\nrun\ncopied\n")
}
