package hull

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestCommitKilledThaws is issue 16's "SIGKILL during commit left the
// container frozen": a process killed while its Commit has the container
// paused leaves it frozen; the next Open thaws it and it runs again. A
// pause a user asked for stays (TestContainerPauseResume).
func TestCommitKilledThaws(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	// 200 MB to commit: long enough to be caught frozen.
	c, err := rt.Run(ctx, "busybox:test", WithDetached(), WithNetworkMode("none"),
		WithCmd("sh", "-c", "dd if=/dev/urandom of=/big bs=1M count=200 2>/dev/null; echo ready; exec sleep 600"))
	if c != nil {
		t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var logs syncBuffer
		if err := c.Logs(ctx, WithLogsStdout(&logs)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container never wrote its file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cg := rt.loadCgroup(c.ID())
	if cg == nil {
		t.Fatal("no cgroup")
	}
	helper := helperCmd(rt.Root(), "commit", "HULL_TEST_ID="+c.ID())
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	for !cg.Frozen() {
		if time.Now().After(deadline) {
			helper.Process.Kill()
			helper.Wait()
			t.Skip("the commit never froze the container (no freezer here?)")
		}
		time.Sleep(2 * time.Millisecond)
	}
	helper.Process.Kill()
	helper.Wait()
	if !cg.Frozen() {
		t.Skip("the commit was done before the kill")
	}
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c2, err := rt2.Container(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if cg.Frozen() || inspect(t, c2).State.Status != StatusRunning {
		t.Fatalf("after Open: frozen %v, status %s", cg.Frozen(), inspect(t, c2).State.Status)
	}
	if code, out := execOut(t, c2, []string{"echo", "alive"}); code != 0 || out != "alive\n" {
		t.Errorf("exec after the thaw: %d %q", code, out)
	}
}
