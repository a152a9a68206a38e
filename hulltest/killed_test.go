package hulltest_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/hulltest"
)

// childEnv names the role a re-run of this test binary plays.
const childEnv = "HULLTEST_CHILD"

// TestKilledOwnerChild is the child of TestKilledOwner: a test that runs
// a container on its own network and one on the default bridge with a
// published port, prints "READY <id> <pid> <id> <pid> <network id>
// <bridge>" and sleeps until it is killed or times out.
func TestKilledOwnerChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("the child of TestKilledOwner")
	}
	ref := hulltest.Image(t, hulltest.WithBusybox(), hulltest.WithExpose("80/tcp"))
	n := hulltest.Network(t)
	a := hulltest.Run(t, ref, hull.WithNetwork(n, hull.WithAlias("a")), hull.WithCmd("sleep", "60"))
	b := hulltest.Run(t, ref, hull.WithCmd("sleep", "60"))
	ni, err := n.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	line := "READY"
	for _, c := range []*hull.Container{a, b} {
		in, err := c.Inspect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		line += fmt.Sprintf(" %s %d", c.ID(), in.State.Pid)
	}
	fmt.Println(line, n.ID(), ni.Options["com.docker.network.bridge.name"])
	time.Sleep(time.Minute)
}

// TestKilledOwner is issue 18's "when the test binary is SIGKILLed or
// times out, nothing outlives it": a test binary that ran containers on
// a network of its own dies (SIGKILL, or -test.timeout's panic); its
// containers die with it, and once the next test opens the root
// (hulltest.Runtime), no process, record, mount, cgroup, veth, bridge or
// nftables rule of them remains.
func TestKilledOwner(t *testing.T) {
	hulltest.Require(t)
	for _, how := range []string{"sigkill", "timeout"} {
		t.Run(how, func(t *testing.T) {
			root := tempRoot(t)
			args := []string{"-test.run=^TestKilledOwnerChild$"}
			if how == "timeout" {
				args = append(args, "-test.timeout=4s")
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), childEnv+"=1", hulltest.RootEnv+"="+root)
			var stderr strings.Builder
			cmd.Stderr = &stderr // a timeout's panic: every goroutine's stack
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var ids [2]string
			var pids [2]int
			var netID, bridge string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if _, err := fmt.Sscanf(sc.Text(), "READY %s %d %s %d %s %s", &ids[0], &pids[0], &ids[1], &pids[1], &netID, &bridge); err == nil {
					break
				}
			}
			if netID == "" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the child printed no READY line; stderr:\n%s", stderr.String())
			}
			if how == "sigkill" {
				cmd.Process.Kill()
			}
			go func() { // drain, until the child is gone
				for sc.Scan() {
				}
			}()
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child: %v, want it killed or failed; stderr:\n%s", err, stderr.String())
			}
			t.Logf("child: %v", err)
			for _, pid := range pids {
				waitGone(t, pid)
			}

			t.Setenv(hulltest.RootEnv, root)
			rt := hulltest.Runtime(t)
			ctx := t.Context()
			for _, id := range ids {
				if _, err := rt.Container(ctx, id); !errors.Is(err, hull.ErrNotFound) {
					t.Errorf("container %.12s: %v, want ErrNotFound", id, err)
				}
				if _, err := os.Stat("/sys/fs/cgroup/hull/" + id); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cgroup of %.12s: %v, want it gone", id, err)
				}
			}
			if _, err := rt.Network(ctx, netID); !errors.Is(err, hull.ErrNotFound) {
				t.Errorf("network: %v, want ErrNotFound", err)
			}
			if m := mountsUnder(t, root); len(m) > 0 {
				t.Errorf("mounts left: %v", m)
			}
			// Other packages' tests may run in this network namespace at
			// the same time: look for the dead test's links by name, the
			// bridge and the host veths ("hv" + 9 hex digits of the ID).
			for _, l := range linkNames(t) {
				if l == bridge || strings.HasPrefix(l, "hv"+ids[0][:9]) || strings.HasPrefix(l, "hv"+ids[1][:9]) {
					t.Errorf("link %s of the dead test left (its bridge was %s)", l, bridge)
				}
			}
			if nft, err := exec.Command("nft", "list", "table", "ip", "hull").CombinedOutput(); err == nil {
				for _, s := range []string{ids[0], ids[1], bridge} {
					if strings.Contains(string(nft), s) {
						t.Errorf("nftables rules of %s left:\n%s", s, nft)
					}
				}
			}
		})
	}
}

// waitGone waits up to 5 s for process pid to be gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("container init %d outlived its test binary", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// linkNames lists the network interfaces of this network namespace.
func linkNames(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Skipf("cannot list interfaces: %v", err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

// mountsUnder lists the mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+string(filepath.Separator)) {
			out = append(out, f[4])
		}
	}
	return out
}
