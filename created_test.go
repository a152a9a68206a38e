//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
)

// tarOf is a tar stream of one regular file.
func tarOf(t *testing.T, name, content string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// TestCreatedContainer: Create starts no process (no init, no cgroup);
// the created container acts as Docker's does until Start: inspected as
// created with no PID, listed only with -a, Kill and Pause refused as
// not running, Stop a no-op, Exec refused; CopyTo writes its root
// filesystem and Commit takes it; a Wait and an Attach made before
// Start see the run; Start runs it with a plan init.
func TestCreatedContainer(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	var out syncBuffer
	c, err := rt.Create(ctx, "busybox:test", WithStdout(&out), WithCmd("sh", "-c", "cat /seed; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	if lp := c.live(); lp != nil {
		t.Fatalf("Create started a %s init", lp.kind)
	}
	for _, ctl := range []string{"memory", "pids", "unified"} {
		if _, err := os.Stat(filepath.Join(cgroup.Root, ctl, cgroup.Path(c.ID()))); err == nil {
			t.Errorf("a created container has a %s cgroup", ctl)
		}
	}
	if st := inspect(t, c).State; st.Status != StatusCreated || st.Pid != 0 || st.Running {
		t.Errorf("inspect: %+v, want created with no PID", st)
	}
	if list, _ := rt.Containers(ctx); len(list) != 0 {
		t.Errorf("ps lists a created container")
	}
	if list, _ := rt.Containers(ctx, WithFilterStatus(StatusCreated)); len(list) != 1 {
		t.Errorf("ps --filter status=created: %d containers", len(list))
	}
	if err := c.Kill(ctx, syscall.SIGKILL); !errors.Is(err, ErrConflict) {
		t.Errorf("kill: %v, want ErrConflict (not running)", err)
	}
	if err := c.Stop(ctx, time.Second); err != nil {
		t.Errorf("stop: %v, want nil, as docker stop", err)
	}
	var te *TransitionError
	if err := c.Pause(ctx); !errors.As(err, &te) || te.Status != StatusCreated {
		t.Errorf("pause: %v, want a *TransitionError from created", err)
	}
	if _, err := c.Exec(ctx, []string{"true"}); !errors.Is(err, ErrConflict) {
		t.Errorf("exec: %v, want ErrConflict", err)
	}
	if _, err := c.Top(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("top: %v, want ErrConflict", err)
	}
	if _, err := c.Stats(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("stats: %v, want ErrConflict", err)
	}
	var logs syncBuffer
	if err := c.Logs(ctx, WithLogsStdout(&logs)); err != nil || logs.String() != "" {
		t.Errorf("logs: %q %v, want none", logs.String(), err)
	}
	n, err := rt.CreateNetwork(ctx, "created-net")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Remove(context.Background()) })
	if err := n.Connect(ctx, c); err != nil {
		t.Errorf("connect: %v", err)
	}
	if nets := inspect(t, c).NetworkSettings.Networks; len(nets) != 2 {
		t.Errorf("networks after connect: %v", nets)
	}
	if err := n.Disconnect(ctx, c); err != nil {
		t.Errorf("disconnect: %v", err)
	}
	if err := c.CopyTo(ctx, "/", tarOf(t, "seed", "seeded\n")); err != nil {
		t.Fatal(err)
	}
	img, err := c.Commit(ctx, "created:commit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Image(ctx, img.ID()); err != nil {
		t.Errorf("the committed image: %v", err)
	}
	waited := make(chan ExitStatus, 1)
	go func() {
		st, err := c.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		waited <- st
	}()
	var attached syncBuffer
	ready, attachDone := make(chan struct{}), make(chan error, 1)
	go func() {
		attachDone <- c.Attach(ctx, WithAttachStdout(&attached), WithAttachReady(func() { close(ready) }))
	}()
	<-ready
	select {
	case st := <-waited:
		t.Fatalf("Wait returned before Start: %+v", st)
	case <-time.After(100 * time.Millisecond):
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if kind := c.live().kind; kind != "plan" {
		t.Errorf("Start: a %s init, want plan", kind)
	}
	select {
	case st := <-waited:
		if st.ExitCode != 3 {
			t.Errorf("wait: %+v, want exit 3", st)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return after the container ran")
	}
	if err := <-attachDone; err != nil {
		t.Errorf("attach: %v", err)
	}
	if out.String() != "seeded\n" || attached.String() != "seeded\n" {
		t.Errorf("output %q, attached %q: want the file CopyTo wrote", out.String(), attached.String())
	}
	// Started again: it runs again (respawn).
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 3 {
		t.Errorf("second run: %+v %v", st, err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCreatedStartedElsewhere: a container created in one Runtime is
// started from another on the same root, from its files: it runs with a
// plan init, the starter owns it (its Close removes it), and the
// creator's Close leaves it. A created container that was never started
// is removed by its creator's Close, and a Remove without force removes
// it.
func TestCreatedStartedElsewhere(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	creator, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := creator.Create(ctx, "busybox:test", WithCmd("sh", "-c", "echo from-files; sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	never, err := creator.Create(ctx, "busybox:test", WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := rt.Container(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if lp := other.live(); lp == nil || lp.kind != "plan" {
		t.Errorf("Start from another Runtime: %+v, want a plan init", lp)
	}
	if err := other.Start(ctx); err != nil {
		t.Errorf("start of a running container: %v", err)
	}
	if st := inspect(t, c).State; st.Status != StatusRunning {
		t.Errorf("the creator sees %+v, want running", st)
	}
	if err := c.Start(ctx); err != nil {
		t.Errorf("the creator's Start of the container started elsewhere: %v", err)
	}
	if err := creator.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Container(ctx, never.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("the creator's Close left its created container: %v", err)
	}
	if st := inspect(t, other).State; st.Status != StatusRunning {
		t.Fatalf("the creator's Close touched the container started elsewhere: %+v", st)
	}
	var logs string
	for range 100 {
		var b syncBuffer
		if other.Logs(ctx, WithLogsStdout(&b)) == nil && b.String() != "" {
			logs = b.String()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs != "from-files\n" {
		t.Errorf("logs: %q", logs)
	}
	if err := other.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	c2, err := rt.Create(ctx, "busybox:test", WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Remove(ctx); err != nil {
		t.Errorf("remove of a created container without force: %v", err)
	}
}

// TestCreatedOwnerKilled: a container created (on the default bridge) by
// a process that then died stays created at the next Open, with no
// address held, and starts from there.
func TestCreatedOwnerKilled(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	cmd, id, pid := startOwner(t, rt.Root(), "creator")
	if pid != 0 {
		t.Errorf("a created container's PID: %d, want 0", pid)
	}
	killOwner(t, cmd, pid)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c, err := rt2.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	in := inspect(t, c)
	if in.State.Status != StatusCreated || in.State.Pid != 0 {
		t.Errorf("after its creator died: %+v, want created", in.State)
	}
	if in.NetworkSettings.IPAddress != "" {
		t.Errorf("a dead creator's container shows address %s", in.NetworkSettings.IPAddress)
	}
	actx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	if err := c.Attach(actx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("attach before Start with no one serving: %v, want it to wait for Start", err)
	}
	cancel()
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if in := inspect(t, c); in.State.Status != StatusRunning || in.NetworkSettings.IPAddress == "" {
		t.Errorf("started: %+v, address %q", in.State, in.NetworkSettings.IPAddress)
	}
	if err := c.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
}
