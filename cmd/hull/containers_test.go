package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
)

// busyboxRoot makes a root with busybox:test imported through `hull import`.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	root := t.TempDir()
	tar := testutil.TarBytes(t, testutil.BusyboxFiles(t))
	mustHull(t, root, tar, "import", "-c", "ENV "+testutil.DefaultPath, "-c", `CMD ["sh"]`, "-", "busybox:test")
	return root
}

func TestRunForeground(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	if r := mustHull(t, root, nil, "run", "--rm", "-e", "X=hi", "busybox:test", "sh", "-c", "echo $X; echo err >&2"); r.stdout != "hi\n" || r.stderr != "err\n" {
		t.Errorf("run echo: %+v", r)
	}
	if r := hullCmd(t, root, nil, "run", "--rm", "busybox:test", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("run exit 3: %+v", r)
	}
	if r := hullCmd(t, root, nil, "run", "--rm", "busybox:test", "/no/such/command"); r.code != 127 {
		t.Errorf("run missing command: %+v", r)
	}
	if r := mustHull(t, root, []byte("from stdin\n"), "run", "--rm", "-i", "busybox:test", "cat"); r.stdout != "from stdin\n" {
		t.Errorf("run -i cat: %+v", r)
	}
	// A foreground run belongs to hull and goes when hull exits (unlike
	// docker, whose daemon keeps it): nothing is left behind.
	mustHull(t, root, nil, "run", "--name", "fg", "busybox:test", "true")
	if r := mustHull(t, root, nil, "ps", "-a"); strings.Contains(r.stdout, "fg") {
		t.Errorf("ps -a after a foreground run: %q", r.stdout)
	}
	// A detached one stays, exited, as with docker.
	mustHull(t, root, nil, "run", "-d", "--name", "kept", "busybox:test", "true")
	mustHull(t, root, nil, "wait", "kept")
	if r := mustHull(t, root, nil, "ps", "-a"); !strings.Contains(r.stdout, "Exited (0)") || !strings.Contains(r.stdout, "kept") {
		t.Errorf("ps -a after run -d: %q", r.stdout)
	}
	if r := mustHull(t, root, nil, "inspect", "-f", "{{.State.Status}} {{.Name}}", "kept"); r.stdout != "exited /kept\n" {
		t.Errorf("inspect container: %q", r.stdout)
	}
	mustHull(t, root, nil, "rm", "kept")
}

func TestDetachedLifecycle(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	id := strings.TrimSpace(mustHull(t, root, nil, "run", "-d", "--name", "bg", "busybox:test", "sh", "-c", "echo started; exec sleep 60").stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	defer hullCmd(t, root, nil, "rm", "-f", id)
	if r := mustHull(t, root, nil, "ps", "-q"); r.stdout != id[:12]+"\n" {
		t.Errorf("ps -q: %q", r.stdout)
	}
	if r := mustHull(t, root, nil, "ps"); !strings.Contains(r.stdout, "CONTAINER ID") || !strings.Contains(r.stdout, "Up ") || !strings.Contains(r.stdout, "bg") {
		t.Errorf("ps: %q", r.stdout)
	}
	var logs string
	for i := 0; i < 100 && !strings.Contains(logs, "started"); i++ {
		logs = mustHull(t, root, nil, "logs", "bg").stdout
	}
	if logs != "started\n" {
		t.Errorf("logs: %q", logs)
	}
	if r := mustHull(t, root, nil, "exec", id[:8], "sh", "-c", "echo in $(pwd)"); r.stdout != "in /\n" {
		t.Errorf("exec: %+v", r)
	}
	if r := hullCmd(t, root, nil, "exec", "bg", "sh", "-c", "exit 4"); r.code != 4 {
		t.Errorf("exec exit 4: %+v", r)
	}
	if r := mustHull(t, root, nil, "top", "bg"); !strings.Contains(r.stdout, "sleep 60") {
		t.Errorf("top: %q", r.stdout)
	}
	if r := mustHull(t, root, nil, "stats", "--no-stream", "bg"); !strings.Contains(r.stdout, "MEM USAGE") {
		t.Errorf("stats: %q", r.stdout)
	}
	mustHull(t, root, nil, "stop", "-t", "1", "bg")
	// sleep has no SIGTERM handler: as PID 1 under Docker, it ignores the
	// signal and is killed after the timeout.
	if r := mustHull(t, root, nil, "wait", "bg"); r.stdout != "137\n" {
		t.Errorf("wait after stop: %q", r.stdout)
	}
	mustHull(t, root, nil, "rm", "bg")
	if r := mustHull(t, root, nil, "ps", "-aq"); r.stdout != "" {
		t.Errorf("ps -aq after rm: %q", r.stdout)
	}
}

func TestCreateStartWait(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	var ids []string
	for _, code := range []string{"5", "0"} {
		id := strings.TrimSpace(mustHull(t, root, nil, "create", "busybox:test", "sh", "-c", "echo ran; exit "+code).stdout)
		if len(id) != 64 {
			t.Fatalf("create printed %q", id)
		}
		ids = append(ids, id)
	}
	if r := mustHull(t, root, nil, "ps", "-a"); strings.Count(r.stdout, "Created") != 2 {
		t.Errorf("ps -a after create: %q", r.stdout)
	}
	r := mustHull(t, root, nil, "ps", "-aq")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(ids[0], lines[1]) || !strings.HasPrefix(ids[1], lines[0]) {
		t.Errorf("ps -aq: %q, want the two IDs newest first", r.stdout)
	}
	mustHull(t, root, nil, "start", ids[0])
	if r := mustHull(t, root, nil, "wait", ids[0]); r.stdout != "5\n" {
		t.Errorf("wait: %q", r.stdout)
	}
	if r := mustHull(t, root, nil, "logs", ids[0]); r.stdout != "ran\n" {
		t.Errorf("logs: %q", r.stdout)
	}
	if r := hullCmd(t, root, nil, "start", "-a", ids[1][:10]); r.code != 0 || r.stdout != "ran\n" {
		t.Errorf("start -a: %+v", r)
	}
	mustHull(t, root, nil, "rm", ids[0], ids[1])
}

// TestRunKilledCLIKillsContainer: `hull run` without -d owns its container;
// SIGKILL of the CLI kills it, and the next command finds nothing running.
func TestRunKilledCLIKillsContainer(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	cmd := exec.Command(hullBin, "--root", root, "run", "--name", "victim", "busybox:test", "sleep", "1000")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(mustHull(t, root, nil, "ps").stdout, "victim") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the container never showed up in ps")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for {
		r := mustHull(t, root, nil, "ps", "-q")
		if r.stdout == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container still running after its CLI was SIGKILLed: %q", r.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
