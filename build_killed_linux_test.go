package hull

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	// build builds the context HULL_TEST_DIR, tagged killed:build; it
	// prints "running" when its RUN step has printed "started", and is
	// to be killed meanwhile (TestBuildKilled).
	helperRoles["build"] = func(ctx context.Context, rt *Runtime) error {
		_, err := rt.Build(ctx, os.Getenv("HULL_TEST_DIR"), WithTags("killed:build"), WithBuildProgress(func(e BuildEvent) {
			if e.Kind == BuildStepOutput && e.Line == "started" {
				fmt.Println("running")
			}
		}))
		return err
	}
}

// TestBuildKilled: a process SIGKILLed while its build runs a RUN step
// leaves a container, its cgroup and its process; the next Open cleans
// them all, and no tag moved.
func TestBuildKilled(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo started; sleep 600\n"})
	helper := helperCmd(rt.Root(), "build", "HULL_TEST_DIR="+dir)
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "running" {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper: %q %v", line, err)
	}
	cs, err := rt.Containers(ctx, WithAllContainers())
	if err != nil || len(cs) != 1 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("want the RUN step's container: %d %v", len(cs), err)
	}
	id := cs[0].ID()
	pid := inspect(t, cs[0]).State.Pid
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()

	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if cs, err := rt2.Containers(ctx, WithAllContainers()); err != nil || len(cs) != 0 {
		t.Errorf("after Open: %d containers, %v", len(cs), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid > 0 && pidAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pid > 0 && pidAlive(pid) {
		t.Errorf("the RUN step's process %d survived", pid)
	}
	if _, err := os.Stat("/sys/fs/cgroup/hull/" + id); err == nil {
		t.Errorf("cgroup of %s left", id)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), id) {
		t.Errorf("a mount of %s is left", id)
	}
	if _, err := rt2.Image(ctx, "killed:build"); err == nil {
		t.Error("the killed build tagged its image")
	}
}
