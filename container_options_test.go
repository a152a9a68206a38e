//go:build linux

package hull

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/hullbox/hull/internal/cgroup"
)

// runOK runs a busybox command that must exit 0 and returns its output.
func runOK(t *testing.T, rt *Runtime, opts ...RunOption) string {
	t.Helper()
	st, out, err := run(t, rt, opts...)
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("exit %+v, err %v; output:\n%s", st, err, out)
	}
	return out
}

func TestContainerSeccomp(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	// Unprivileged user namespaces need no capability: only seccomp stops
	// them (and the privileged container below shows the kernel allows them).
	st, out, err := run(t, rt, WithCmd("sh", "-c", "busybox unshare -U true && echo unshared; busybox swapon /dev/null; busybox reboot -f; echo done"))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("exit %+v, err %v: %s", st, err, out)
	}
	if strings.Contains(out, "unshared") || strings.Count(out, "Operation not permitted") < 2 {
		t.Errorf("seccomp did not deny unshare -U / swapon / reboot:\n%s", out)
	}
	// Capabilities open the matching syscalls, as Docker's profile does.
	out = runOK(t, rt, WithCapAdd("SYS_ADMIN"), WithCmd("sh", "-c", "mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted"))
	if !strings.Contains(out, "mounted") {
		t.Errorf("mount with SYS_ADMIN: %s", out)
	}
	// Ordinary programs are unaffected.
	out = runOK(t, rt, WithCmd("sh", "-c", "ls / >/dev/null && (sleep 0 &) && wait && date >/dev/null && echo fine; grep Seccomp: /proc/self/status"))
	if !strings.Contains(out, "fine") || !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("ordinary commands: %s", out)
	}
}

func TestContainerPrivileged(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	out := runOK(t, rt, WithPrivileged(), WithCmd("sh", "-c",
		"busybox unshare -U true && echo unshared; mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"))
	for _, want := range []string{"unshared", "mounted", "NoNewPrivs:\t0", "Seccomp:\t0"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CapEff:\t00000000a80425fb") {
		t.Errorf("privileged has the default capabilities:\n%s", out)
	}
}

func TestContainerCapabilities(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	const ipDown = "busybox ip link set lo down && echo down"
	if out := runOK(t, rt, WithCmd("sh", "-c", ipDown+"; true")); strings.Contains(out, "down\n") {
		t.Errorf("ip link set without NET_ADMIN worked:\n%s", out)
	}
	if out := runOK(t, rt, WithCapAdd("NET_ADMIN"), WithCmd("sh", "-c", ipDown)); !strings.Contains(out, "down") {
		t.Errorf("ip link set with NET_ADMIN:\n%s", out)
	}
	const chown = "touch /tmp/f && chown 1000 /tmp/f && echo chowned"
	if out := runOK(t, rt, WithCmd("sh", "-c", chown)); !strings.Contains(out, "chowned") {
		t.Errorf("chown as root:\n%s", out)
	}
	if out := runOK(t, rt, WithCapDrop("CHOWN"), WithCmd("sh", "-c", chown+"; true")); strings.Contains(out, "chowned") {
		t.Errorf("chown without CAP_CHOWN worked:\n%s", out)
	}
	// A capability kept for a non-root user ends up in its effective set
	// only through the file or ambient sets; the bounding set has it.
	out := runOK(t, rt, WithUser("app"), WithCapAdd("NET_ADMIN"), WithCmd("sh", "-c", "grep -E '^(CapBnd|CapEff):' /proc/self/status"))
	if !strings.Contains(out, "CapEff:\t0000000000000000") || !strings.Contains(out, "CapBnd:\t00000000a80435fb") {
		t.Errorf("non-root capability sets:\n%s", out)
	}
}

func TestContainerUlimitAndSysctl(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	out := runOK(t, rt, WithUlimit("nofile", 1000, 2000), WithUlimit("core", 0, 0), WithSysctl("kernel.shm_rmid_forced", "1"),
		WithCmd("sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; cat /proc/sys/kernel/shm_rmid_forced"))
	if got := strings.Fields(out); strings.Join(got, " ") != "1000 2000 0 1" {
		t.Errorf("ulimits and sysctl: %q, want 1000 2000 0 1", got)
	}
	if _, err := rt.Create(t.Context(), "busybox:test", WithSysctl("kernel.panic", "1")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("host sysctl: err = %v, want ErrInvalidArgument", err)
	}
}

func TestContainerReadOnlyRootfs(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	out := runOK(t, rt, WithReadOnlyRootfs(), WithTmpfs("/scratch", "size=1m"), WithWorkdir("/work"),
		WithCmd("sh", "-c", "touch /x && echo rootfs-writable; touch /tmp/y && echo tmp-writable; touch /scratch/z && echo scratch-ok; touch /dev/shm/a && echo shm-ok; pwd"))
	for _, bad := range []string{"rootfs-writable", "tmp-writable"} {
		if strings.Contains(out, bad) {
			t.Errorf("read-only rootfs: %s:\n%s", bad, out)
		}
	}
	for _, want := range []string{"scratch-ok", "shm-ok", "/work", "Read-only file system"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// TestContainerCgroupResources: cpu, cpuset and memory+swap limits are in
// the cgroup of a running container (Start makes it, with its limits,
// before the process exists), and Remove takes it away.
func TestContainerCgroupResources(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"),
		WithCPUs(0.5), WithCPUShares(512), WithCPUSet("0", "0"), WithMemory(64<<20), WithMemorySwap(128<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	read := func(parts ...string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(append([]string{cgroup.Root}, parts...)...))
		if err != nil {
			t.Error(err)
		}
		return strings.TrimSpace(string(b))
	}
	p := cgroup.Path(c.ID())
	want := map[string]string{}
	got := map[string]string{}
	if cgroups.Mode() == cgroups.Unified {
		got["cpu.max"], want["cpu.max"] = read(p, "cpu.max"), "50000 100000"
		got["cpuset.cpus"], want["cpuset.cpus"] = read(p, "cpuset.cpus"), "0"
		got["memory.max"], want["memory.max"] = read(p, "memory.max"), strconv.Itoa(64<<20)
		got["memory.swap.max"], want["memory.swap.max"] = read(p, "memory.swap.max"), strconv.Itoa(64<<20)
	} else {
		got["quota"], want["quota"] = read("cpu", p, "cpu.cfs_quota_us"), "50000"
		got["period"], want["period"] = read("cpu", p, "cpu.cfs_period_us"), "100000"
		got["shares"], want["shares"] = read("cpu", p, "cpu.shares"), "512"
		got["cpus"], want["cpus"] = read("cpuset", p, "cpuset.cpus"), "0"
		got["mems"], want["mems"] = read("cpuset", p, "cpuset.mems"), "0"
		got["memory"], want["memory"] = read("memory", p, "memory.limit_in_bytes"), strconv.Itoa(64<<20)
		if cgroup.Host().SwapAccounting() {
			got["memsw"], want["memsw"] = read("memory", p, "memory.memsw.limit_in_bytes"), strconv.Itoa(128<<20)
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if err := c.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cgroup.Root, "cpuset", p)); !errors.Is(err, os.ErrNotExist) && cgroups.Mode() != cgroups.Unified {
		t.Errorf("cpuset cgroup left after Remove: %v", err)
	}
}

func TestContainerAutoRemove(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithAutoRemove(), WithCmd("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(t.Context())
	if err != nil || st.ExitCode != 3 {
		t.Fatalf("wait: %+v %v", st, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := rt.Container(t.Context(), c.ID())
		_, derr := os.Stat(rt.containerDir(c.ID()))
		if errors.Is(err, ErrNotFound) && errors.Is(derr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container still there after exit: lookup %v, dir %v", err, derr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if cg := rt.loadCgroup(c.ID()); cg != nil {
		t.Errorf("cgroup left after auto-remove")
	}
}

func TestContainerStopSignalAndTimeout(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	var out syncBuffer
	c, err := rt.Run(t.Context(), "busybox:test", WithStopSignal(syscall.SIGUSR1), WithStdout(&out),
		WithCmd("sh", "-c", "trap 'echo got-usr1; exit 3' USR1; echo ready; while true; do sleep 0.05; done"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	for i := 0; !strings.Contains(out.String(), "ready"); i++ {
		if i > 500 {
			t.Fatal("container never got ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Stop(t.Context(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Wait(t.Context()); st.ExitCode != 3 || !strings.Contains(out.String(), "got-usr1") {
		t.Errorf("stop with USR1: %+v, output %q", st, out.String())
	}

	// A PID 1 without a SIGTERM handler ignores it: Stop(-1) waits the
	// container's stop timeout, then SIGKILLs.
	c2, err := rt.Run(t.Context(), "busybox:test", WithStopTimeout(200*time.Millisecond), WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Remove(t.Context(), WithForce()) })
	start := time.Now()
	if err := c2.Stop(t.Context(), -1); err != nil {
		t.Fatal(err)
	}
	st, _ := c2.Wait(t.Context())
	if d := time.Since(start); d > 5*time.Second || st.Signal != syscall.SIGKILL {
		t.Errorf("stop with timeout 200ms took %v, ended %+v", d, st)
	}
}

func TestContainerOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []RunOption{
		WithCPUs(0), WithCPUs(-1), WithCPUShares(1), WithCPUSet("a", ""), WithMemorySwap(0),
		WithMemorySwap(-2), WithUlimit("", 1, 1), WithTmpfs("rel", ""), WithTmpfs("/", ""),
		WithStopSignal(0), WithStopSignal(65), WithStopTimeout(-time.Second), WithLabels(map[string]string{"": "x"}),
		WithSysctl("", "1"),
	} {
		var rc runConfig
		if err := o(&rc); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("option accepted bad input: %v", err)
		}
	}
	var rc runConfig
	for _, o := range []RunOption{
		WithCPUs(1.5), WithCPUShares(512), WithCPUSet("0-1", ""), WithMemorySwap(-1), WithUlimit("nofile", 10, 20),
		WithReadOnlyRootfs(), WithTmpfs("/run", "size=1m"), WithCapAdd("NET_ADMIN"), WithCapDrop("CHOWN"),
		WithPrivileged(), WithStopSignal(syscall.SIGINT), WithStopTimeout(time.Second), WithLabels(map[string]string{"a": "b"}),
		WithAutoRemove(), WithSysctl("net.ipv4.ip_forward", "1"),
	} {
		if err := o(&rc); err != nil {
			t.Fatal(err)
		}
	}
	if x := rc.opts; x.cpus != 1.5 || x.cpuShares != 512 || x.cpusetCpus != "0-1" || x.memorySwap != -1 ||
		len(x.ulimits) != 1 || !x.readonlyRootfs || x.tmpfs["/run"] != "size=1m" || x.capAdd[0] != "NET_ADMIN" ||
		x.capDrop[0] != "CHOWN" || !x.privileged || x.stopSignal != syscall.SIGINT || *x.stopTimeout != time.Second ||
		x.labels["a"] != "b" || !x.autoRemove || x.sysctls["net.ipv4.ip_forward"] != "1" {
		t.Errorf("options recorded %+v", rc.opts)
	}
}
