//go:build linux

package hull

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// syncBuffer is a bytes.Buffer safe to write from the output copier and
// read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// containerTest opens a runtime with a busybox image tagged "busybox:test".
func containerTest(t *testing.T) *Runtime {
	t.Helper()
	rt := openTest(t)
	files := testutil.BusyboxFiles(t)
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), "busybox:test", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	return rt
}

// run runs a busybox command to completion and returns its exit status and
// output (stdout and stderr together).
func run(t *testing.T, rt *Runtime, opts ...RunOption) (ExitStatus, string, error) {
	t.Helper()
	return runRef(t, rt, "busybox:test", opts...)
}

// runRef is run of the image ref.
func runRef(t *testing.T, rt *Runtime, ref string, opts ...RunOption) (ExitStatus, string, error) {
	t.Helper()
	var out syncBuffer
	opts = append([]RunOption{WithStdout(&out), WithStderr(&out)}, opts...)
	c, err := rt.Run(t.Context(), ref, opts...)
	if c == nil {
		// A failed start: Run removed the container; its code is the
		// error's.
		var se *StartError
		if errors.As(err, &se) {
			return ExitStatus{ExitCode: se.ExitCode}, out.String(), err
		}
		return ExitStatus{}, out.String(), err
	}
	t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	st, werr := c.Wait(t.Context())
	if err == nil {
		err = werr
	}
	return st, out.String(), err
}

func TestContainerRunPID1AndHostname(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	var out syncBuffer
	c, err := rt.Run(t.Context(), "busybox:test", WithStdout(&out),
		WithCmd("sh", "-c", "echo $$; hostname; cat /proc/1/cmdline; echo; cat /etc/hostname; grep -c $(hostname) /etc/hosts"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context())
	st, err := c.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 || st.OOMKilled {
		t.Fatalf("exit %+v, output %q", st, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"1", c.ID()[:12], "sh\x00-c\x00" + "echo $$; hostname; cat /proc/1/cmdline; echo; cat /etc/hostname; grep -c $(hostname) /etc/hosts\x00", c.ID()[:12], "1"}
	if len(lines) != len(want) {
		t.Fatalf("output %q, want lines %q", out.String(), want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	in := inspect(t, c)
	if in.State.Status != StatusExited || in.State.ExitCode != 0 || in.Config.Hostname != c.ID()[:12] {
		t.Errorf("inspect: %+v", in)
	}
}

func TestContainerExitCodes(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, tc := range []struct {
		name string
		cmd  []string
		code int
		text string // in the error
	}{
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"missing", []string{"no-such-command"}, 127, "no-such-command"},
		{"missing path", []string{"/bin/nope"}, 127, "/bin/nope"},
		{"not executable", []string{"/etc/passwd"}, 126, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, err := run(t, rt, WithCmd(tc.cmd...))
			if st.ExitCode != tc.code {
				t.Errorf("exit code %d, want %d (err %v)", st.ExitCode, tc.code, err)
			}
			if tc.text == "" {
				if err != nil {
					t.Errorf("error %v", err)
				}
				return
			}
			var se *StartError
			if !errors.As(err, &se) || se.ExitCode != tc.code || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %v, want a *StartError with code %d naming %q", err, tc.code, tc.text)
			}
			if tc.code == 127 && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap ENOENT", err)
			}
		})
	}
}

func TestContainerIsolation(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	script := `
ls /proc | grep -c '^[0-9]'
cat /proc/mounts
echo ---
touch /proc/sys/kernel/hostname 2>/dev/null && echo procsys-writable || echo procsys-ro
mount -t tmpfs x /mnt 2>/dev/null && echo mount-ok || echo mount-denied
ip=$(cat /sys/class/net/lo/operstate); echo lo-$ip
`
	st, out, err := run(t, rt, WithCmd("sh", "-c", script))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("exit %+v, %v: %s", st, err, out)
	}
	procs, rest, _ := strings.Cut(out, "\n")
	// sh, ls and grep (those still alive when ls reads /proc).
	if n, _ := strconv.Atoi(procs); n < 1 || n > 4 {
		t.Errorf("/proc shows %s processes, want only the container's:\n%s", procs, out)
	}
	mounts, checks, _ := strings.Cut(rest, "---\n")
	root := rt.Root()
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (strings.HasPrefix(f[1], root) || strings.HasPrefix(f[1], "/tmp") || strings.HasPrefix(f[1], "/work")) {
			t.Errorf("host mount visible: %s", line)
		}
	}
	for _, want := range []string{"procsys-ro", "mount-denied"} {
		if !strings.Contains(checks, want) {
			t.Errorf("want %s in:\n%s", want, checks)
		}
	}
	if !strings.Contains(checks, "lo-unknown") && !strings.Contains(checks, "lo-up") {
		t.Errorf("loopback not up:\n%s", checks)
	}
}

func TestContainerUser(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, tc := range []struct{ user, want string }{
		{"", "0 0 /root"},
		{"app", "1000 1000 /home/app"},
		{"1000:0", "1000 0 /home/app"},
		{"4242", "4242 0 /"}, // Docker: gid 0 when the uid has no passwd entry
	} {
		st, out, err := run(t, rt, WithUser(tc.user), WithCmd("sh", "-c", "echo $(id -u) $(id -g) $HOME"))
		if err != nil || st.ExitCode != 0 || strings.TrimSpace(out) != tc.want {
			t.Errorf("user %q: %+v %v %q, want %q", tc.user, st, err, out, tc.want)
		}
	}
	_, _, err := run(t, rt, WithUser("nosuchuser"), WithCmd("true"))
	if err == nil || !strings.Contains(err.Error(), "nosuchuser") {
		t.Errorf("unknown user: %v", err)
	}
}

func TestContainerMemoryLimit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithMemory(32<<20),
		WithCmd("sh", "-c", `x=$(head -c 100000000 /dev/zero | tr "\0" x); echo survived`))
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled || st.ExitCode != 137 {
		t.Errorf("exit %+v, want OOMKilled and 137; output %q", st, out)
	}
}

func TestContainerPidsLimit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithPidsLimit(5),
		WithCmd("sh", "-c", `for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; echo started`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "fork") && st.ExitCode == 0 {
		t.Errorf("10 forks under a limit of 5 succeeded: %+v %q", st, out)
	}
}

func TestContainerNameConflictAndHolds(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	c, err := rt.Create(ctx, "busybox:test", WithName("web"), WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Create(ctx, "busybox:test", WithName("web")); !errors.Is(err, ErrConflict) {
		t.Errorf("second create with the same name: %v, want ErrConflict", err)
	}
	if _, err := rt.RemoveImage(ctx, "busybox:test"); !errors.Is(err, ErrConflict) {
		t.Errorf("remove image in use: %v, want ErrConflict", err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := rt.Container(ctx, "web")
	if err != nil || got.ID() != c.ID() {
		t.Fatalf("Container(web) = %v, %v", got, err)
	}
	if got, err := rt.Container(ctx, c.ID()[:6]); err != nil || got.ID() != c.ID() {
		t.Fatalf("Container(prefix) = %v, %v", got, err)
	}
	if in := inspect(t, c); !in.State.Running || in.State.Pid == 0 {
		t.Errorf("inspect running container: %+v", in.State)
	}
	if err := c.Remove(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("remove running container: %v, want ErrConflict", err)
	}
	start := time.Now()
	if err := c.Stop(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Wait(ctx); st.ExitCode != 137 || st.Signal != syscall.SIGKILL {
		t.Errorf("stopped sleep (ignores SIGTERM as PID 1): %+v", st)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	pid := inspect(t, c).State.Pid
	if err := c.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	checkGone(t, rt, c.ID(), pid)
	c2, err := rt.Create(ctx, "busybox:test", WithName("web"))
	if err != nil {
		t.Fatalf("name not freed by Remove: %v", err)
	}
	if err := c2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemoveImage(ctx, "busybox:test"); err != nil {
		t.Errorf("remove image after the container: %v", err)
	}
	if list, err := rt.Containers(ctx, WithAllContainers()); err != nil || len(list) != 0 {
		t.Errorf("Containers after removal: %v %v", list, err)
	}
}

func TestContainerCloseKillsOwned(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	pid := inspect(t, c).State.Pid
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, rt, c.ID(), pid)
}

// checkGone checks that nothing of a container is left: process, cgroup,
// directory.
func checkGone(t *testing.T, rt *Runtime, id string, pid int) {
	t.Helper()
	if pid != 0 {
		// A killed init whose owner died is reaped by the host's init,
		// a moment later.
		p := filepath.Join("/proc", strconv.Itoa(pid))
		for i := 0; i < 200; i++ {
			if _, err := os.Stat(p); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("process %d still exists", pid)
		}
	}
	for _, ctl := range []string{"memory", "pids", "unified"} {
		p := filepath.Join("/sys/fs/cgroup", ctl, "hull", id)
		if _, err := os.Stat(p); err == nil {
			t.Errorf("cgroup %s left", p)
		}
	}
	if _, err := os.Stat(rt.containerDir(id)); err == nil {
		t.Errorf("container directory left")
	}
}

// TestContainerOwnerKilled: when the owning process dies (SIGKILL), its
// container dies with it and the next Open marks it exited and removes
// its cgroup.
func TestContainerOwnerKilled(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	cmd, id, pid := startOwner(t, rt.Root(), "owner")
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
	if st := inspect(t, c).State; st.Status != StatusExited || st.Running {
		t.Errorf("after the owner died: %+v", st)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory/hull", id)); err == nil {
		t.Errorf("cgroup left after recovery")
	}
	if err := c.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkGone(t, rt2, id, pid)
}

func TestRunOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  RunOption
		ok   bool
	}{
		{"name", WithName("web-1.a_b"), true},
		{"name slash", WithName("a/b"), false},
		{"name dash first", WithName("-a"), false},
		{"env", WithEnv("A=1", "B="), true},
		{"env no key", WithEnv("=1"), false},
		{"workdir relative", WithWorkdir("app"), false},
		{"hostname", WithHostname("box"), true},
		{"hostname empty", WithHostname(""), false},
		{"memory tiny", WithMemory(1 << 20), false},
		{"memory", WithMemory(64 << 20), true},
		{"pids zero", WithPidsLimit(0), false},
	} {
		var rc runConfig
		err := tc.opt(&rc)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestContainerLifecycle(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	var out syncBuffer
	c, err := rt.Create(ctx, "busybox:test", WithName("life"), WithStdout(&out), WithHostname("box"),
		WithEnv("GREETING=hi"), WithWorkdir("/work/dir"),
		WithCmd("sh", "-c", `trap "echo term; exit 7" TERM; echo $GREETING $(hostname) $(pwd); while :; do sleep 0.05; done`))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(ctx, WithForce())
	if in := inspect(t, c); in.State.Status != StatusCreated || in.Name != "/life" || in.Path != "sh" {
		t.Errorf("created: %+v", in)
	}
	if list, err := rt.Containers(ctx, WithAllContainers()); err != nil || len(list) != 1 || list[0].ID() != c.ID() {
		t.Errorf("Containers = %v, %v", list, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "hi") {
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Stop(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(ctx)
	if err != nil || st.ExitCode != 7 {
		t.Errorf("stop with a TERM trap: %+v %v", st, err)
	}
	if got := out.String(); got != "hi box /work/dir\nterm\n" {
		t.Errorf("output %q", got)
	}
	if err := c.Kill(ctx, syscall.SIGKILL); !errors.Is(err, ErrConflict) {
		t.Errorf("kill exited container: %v, want ErrConflict", err)
	}
	// Another Runtime on the same root sees it exited.
	rt2, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	other, err := rt2.Container(ctx, "life")
	if err != nil {
		t.Fatal(err)
	}
	if in := inspect(t, other); in.State.Status != StatusExited || in.State.ExitCode != 7 {
		t.Errorf("seen from another runtime: %+v", in.State)
	}
}

func TestRunMissingImage(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	if _, err := rt.Run(t.Context(), "localhost:1/nope:1", WithCmd("true")); err == nil {
		t.Fatal("run of a missing image on an unreachable registry succeeded")
	}
	if _, err := rt.Create(t.Context(), "nope:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("create from a missing image: %v, want ErrNotFound", err)
	}
	if list, _ := rt.Containers(t.Context(), WithAllContainers()); len(list) != 0 {
		t.Errorf("containers left: %d", len(list))
	}
}

// TestRunPullsMissingImage: Run pulls an image it does not have from its
// registry, then runs it, like docker run.
func TestRunPullsMissingImage(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	pushed := reg.Push(t, "run/busybox:1", testutil.BusyboxImage(t))
	rt := openTest(t)
	st, out, err := runRef(t, rt, pushed.Ref, WithNetworkMode(NetworkModeNone), WithCmd("echo", "pulled and ran"))
	if err != nil || st.ExitCode != 0 || out != "pulled and ran\n" {
		t.Fatalf("run of a missing image: %+v %v %q", st, err, out)
	}
	if _, err := rt.Image(t.Context(), pushed.Ref); err != nil {
		t.Errorf("image after Run: %v", err)
	}
}

// TestContainerSurvivesCallerThread: a container created from a goroutine
// locked to its OS thread outlives that thread (Pdeathsig is per thread).
func TestContainerSurvivesCallerThread(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ch := make(chan *Container, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"))
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	c := <-ch
	if c == nil {
		return
	}
	defer c.Remove(t.Context(), WithForce())
	time.Sleep(200 * time.Millisecond)
	if !inspect(t, c).State.Running {
		t.Fatalf("container died with its creator's thread: %+v", inspect(t, c).State)
	}
}

func TestContainerSecurityDefaults(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithCmd("sh", "-c", "grep -E '^(NoNewPrivs|CapBnd|CapEff):' /proc/self/status; ulimit -n"))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("%+v %v: %s", st, err, out)
	}
	// Docker's default capability set, as a mask.
	const dockerCaps = "00000000a80425fb"
	for _, want := range []string{"NoNewPrivs:\t1", "CapBnd:\t" + dockerCaps, "CapEff:\t" + dockerCaps} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	// RLIMIT_NOFILE is 1048576 (Docker's), clamped to the host's hard limit.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if n, _ := strconv.Atoi(lines[len(lines)-1]); n < 1024 || n > 1048576 {
		t.Errorf("ulimit -n = %q", lines[len(lines)-1])
	}
}

func TestContainerCgroupView(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithMemory(64<<20),
		WithCmd("sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; mkdir /sys/fs/cgroup/memory/x 2>/dev/null && echo writable || echo ro"))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("%+v %v: %s", st, err, out)
	}
	if strings.Contains(out, "/hull/") {
		t.Errorf("the container sees its host cgroup path:\n%s", out)
	}
	for _, want := range []string{"memory", strconv.Itoa(64 << 20), "ro"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// TestContainerCreateCancelled: a Create whose context ends rolls back:
// no container, process, cgroup or hold is left.
func TestContainerCreateCancelled(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rt.Create(ctx, "busybox:test", WithCmd("true")); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a cancelled context: %v", err)
	}
	if list, _ := rt.Containers(t.Context(), WithAllContainers()); len(list) != 0 {
		t.Errorf("containers left: %d", len(list))
	}
	if holds, _ := rt.store.Holds(); len(holds) != 0 {
		t.Errorf("holds left: %v", holds)
	}
	entries, _ := os.ReadDir(rt.containersDir())
	for _, e := range entries {
		if n := e.Name(); n != ".lock" && n != recoveryDirName && n != namesDirName {
			t.Errorf("container directory left: %s", n)
		}
	}
	checkNoNames(t, rt)
}

// namesDirName is containers/.names, the name index (statedir.LinkName).
const namesDirName = ".names"

// checkNoNames checks that the name index names no container.
func checkNoNames(t *testing.T, rt *Runtime) {
	t.Helper()
	if names, _ := os.ReadDir(filepath.Join(rt.containersDir(), namesDirName)); len(names) != 0 {
		t.Errorf("names left: %v", names)
	}
}

// TestRunFailureLeavesNothing: a Run whose start fails returns nil and
// the *StartError, and leaves no container, anonymous volume or cgroup
// (Docker SDK habits: if err != nil, return).
func TestRunFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	c, err := rt.Run(ctx, "busybox:test", WithCmd("no-such-command"), WithAnonymousVolume("/data"))
	var se *StartError
	if c != nil || !errors.As(err, &se) || se.ExitCode != 127 {
		t.Fatalf("Run of a missing command: %v, %v; want nil and a *StartError with code 127", c, err)
	}
	if cs, err := rt.Containers(ctx, WithAllContainers()); err != nil || len(cs) != 0 {
		t.Errorf("containers left: %d, %v", len(cs), err)
	}
	if vs, err := rt.Volumes(ctx); err != nil || len(vs) != 0 {
		t.Errorf("volumes left: %d, %v", len(vs), err)
	}
	ents, _ := os.ReadDir(filepath.Join(rt.Root(), "containers"))
	for _, e := range ents {
		// .removing-*: renamed out of sight, deleted in the background
		// (Close waits for it).
		if n := e.Name(); n != ".lock" && n != recoveryDirName && n != namesDirName && !strings.HasPrefix(n, ".removing-") {
			t.Errorf("containers/ holds %q", n)
		}
	}
	checkNoNames(t, rt)
}
