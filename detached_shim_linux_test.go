//go:build linux

package hull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/initproc"
)

// TestDetachedShimPaths runs the same Detached containers through every
// way their shim starts: a cold shim with the Go init (goInit), a cold
// shim with a plan init, and a warm shim (started ahead, then reused from
// one container to the next) with a plan init. Each must end the same
// (exit code, signal, exit.json, logs), show as hull-shim <id>, and a plan
// init's must be the plan path (no Go start-up in the container).
func TestDetachedShimPaths(t *testing.T) {
	t.Parallel()
	rtPlan := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	cases := []struct {
		name   string
		script string
		code   int
		signal int
		out    string
	}{
		{"exit 3", "echo out; echo err >&2; exit 3", 3, 0, "err\nout\n"},
		{"killed", "echo before; exec sleep 60", 137, 9, "before\n"}, // SIGKILL from outside
		{"true", "true", 0, 0, ""},
		{"exit 0 with output", "echo a; echo b", 0, 0, "a\nb\n"},
		{"missing command", "", 127, 0, ""},
	}
	type outcome struct {
		code, signal int
		exit         initproc.Exit
		out, err     string
	}
	shims := map[*Runtime][]int{}
	for _, tc := range cases {
		var got [2]outcome
		for i, rt := range []*Runtime{rtPlan, rtGo} {
			// The sleep: the init is still there to find its shim.
			cmd := WithCmd("sh", "-c", "sleep 0.1; "+tc.script)
			if tc.script == "" {
				cmd = WithCmd("no-such-command")
			}
			c, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithNetworkMode(NetworkModeNone), cmd)
			var se *StartError
			if errors.As(err, &se) {
				got[i] = outcome{code: se.ExitCode, err: strings.ReplaceAll(se.Error(), shortContainerID(se.ID), "ID")}
				continue
			}
			if err != nil {
				t.Fatalf("%s goInit=%v: %v", tc.name, rt.goInit, err)
			}
			lp := c.live()
			shim := ppid(lp.proc.Pid)
			if args, _ := os.ReadFile("/proc/" + strconv.Itoa(shim) + "/cmdline"); string(args) != "hull-shim\x00"+c.ID()+"\x00" {
				t.Errorf("%s goInit=%v: shim %d has command line %q", tc.name, rt.goInit, shim, args)
			}
			shims[rt] = append(shims[rt], shim)
			if tc.signal != 0 {
				time.Sleep(200 * time.Millisecond) // its output logged
				if err := c.Kill(t.Context(), syscall.Signal(tc.signal)); err != nil {
					t.Fatal(err)
				}
			}
			if plan := lp.in.Plan != nil; plan == rt.goInit {
				t.Errorf("%s goInit=%v: plan init %v", tc.name, rt.goInit, plan)
			}
			st, err := c.Wait(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			if err := c.Logs(t.Context(), WithLogsStdout(&logs), WithLogsStderr(&logs)); err != nil {
				t.Fatal(err)
			}
			// Two pipes, two copiers: lines of stdout and stderr in either order.
			lines := strings.SplitAfter(logs.String(), "\n")
			slices.Sort(lines)
			o := outcome{code: st.ExitCode, signal: int(st.Signal), out: strings.Join(lines, "")}
			data, err := os.ReadFile(filepath.Join(rt.containerDir(c.ID()), initproc.ExitName))
			if err != nil || json.Unmarshal(data, &o.exit) != nil {
				t.Errorf("%s goInit=%v: exit.json: %v %q", tc.name, rt.goInit, err, data)
			}
			o.exit.FinishedAt = time.Time{}
			if err := c.Remove(t.Context()); err != nil {
				t.Fatal(err)
			}
			got[i] = o
		}
		want := outcome{code: tc.code, signal: tc.signal, exit: initproc.Exit{Code: tc.code, Signal: tc.signal}, out: tc.out}
		if tc.script == "" { // fails to start, in the same words
			want = outcome{code: tc.code, err: got[1].err}
			if !strings.Contains(want.err, "no-such-command") {
				t.Errorf("%s: %q", tc.name, want.err)
			}
		}
		for i, o := range got {
			if o != want {
				t.Errorf("%s goInit=%v: %+v, want %+v", tc.name, i == 1, o, want)
			}
		}
	}
	// From the third Detached start on, a shim is a warm one, reused from
	// then on: the same shim for the last two that started.
	for rt, s := range shims {
		if len(s) != 4 || s[1] == s[2] || s[2] != s[3] {
			t.Errorf("goInit=%v: shims %v: want a new one for the first three, then the third again", rt.goInit, s)
			continue
		}
		// Back in the pool, it is no container's: not in ps, not for
		// the sweep, not writing to the last one's log.
		proc := "/proc/" + strconv.Itoa(s[3])
		want := "hull-shim\x00" + initproc.ShimIDPlaceholder + "\x00"
		deadline := time.Now().Add(5 * time.Second)
		for {
			args, _ := os.ReadFile(proc + "/cmdline")
			if string(args) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("goInit=%v: the warm shim back in the pool says %q", rt.goInit, args)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if errOut, _ := os.Readlink(proc + "/fd/2"); errOut != "/dev/null" {
			t.Errorf("goInit=%v: the warm shim back in the pool writes its stderr to %s", rt.goInit, errOut)
		}
	}
}

// TestWarmShimDiesWithOwner: a warm shim not yet assigned never outlives
// its Runtime (Close kills it) nor its process (pdeathsig SIGKILL); one
// that serves a container does (its creator's death changes nothing).
func TestWarmShimDiesWithOwner(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	// Two Detached starts: the second starts the pool.
	for range 2 {
		if _, _, err := runDetached(t.Context(), rt, "true"); err != nil {
			t.Fatal(err)
		}
	}
	w := waitWarmShim(t, os.Getpid())
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, w, "warm shim after Close")

	// The helper's third container runs on a warm shim; the pool starts
	// another a moment later. Killing the helper kills that one, not the
	// container's.
	cmd, _, pid := startOwner(t, rt.Root(), "warm-shim")
	w = ppid(pid)
	ready := waitWarmShim(t, cmd.Process.Pid)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitGone(t, ready, "warm shim after its Runtime's process died")
	if !pidAlive(w) {
		t.Fatalf("the shim %d of a Detached container died with its creator", w)
	}
	again, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	cs, err := again.Containers(t.Context())
	if err != nil || len(cs) != 1 {
		t.Fatalf("running containers: %v %v", cs, err)
	}
	if err := cs[0].Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, w, "shim after its container's removal")
	for _, pid := range childShims(cmd.Process.Pid) {
		t.Errorf("shim %d of the dead helper left", pid)
	}
}

func init() {
	// warm-shim runs two Detached containers that exit, then a third
	// that sleeps (on the warm shim the second started), prints its ID
	// and init's PID and waits to be killed (TestWarmShimDiesWithOwner).
	helperRoles["warm-shim"] = func(ctx context.Context, rt *Runtime) error {
		for range 2 {
			if _, _, err := runDetached(ctx, rt, "true"); err != nil {
				return err
			}
		}
		for len(childShims(os.Getpid())) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		return ownContainer(rt.Run(ctx, "busybox:test", WithDetached(), WithNetworkMode(NetworkModeNone), WithCmd("sleep", "60")))
	}
}

// runDetached runs script in a Detached container and waits for it.
func runDetached(ctx context.Context, rt *Runtime, script string) (*Container, ExitStatus, error) {
	c, err := rt.Run(ctx, "busybox:test", WithDetached(), WithNetworkMode(NetworkModeNone), WithCmd("sh", "-c", script))
	if err != nil {
		return c, ExitStatus{}, err
	}
	st, err := c.Wait(ctx)
	return c, st, err
}

// childShims are the warm shims (unassigned) whose parent is pid.
func childShims(pid int) []int {
	var shims []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Equal(args, []byte("hull-shim\x00"+initproc.ShimIDPlaceholder+"\x00")) && ppid(p) == pid {
			shims = append(shims, p)
		}
	}
	return shims
}

// waitWarmShim waits for a warm shim of pid's and returns its pid.
func waitWarmShim(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := childShims(pid); len(s) == 1 {
			return s[0]
		}
	}
	t.Fatalf("no warm shim of %d", pid)
	return 0
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !pidAlive(pid) {
			return
		}
	}
	t.Errorf("%s (%d) still there", what, pid)
}

// ppid is pid's parent, or 0.
func ppid(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}
