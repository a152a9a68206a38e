package hull

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if any test left a mount behind.
func TestMain(m *testing.M) {
	if os.Getenv("HULL_TEST_HELPER") != "" {
		os.Exit(helperProcess())
	}
	skipExamplesWithoutContainers()
	before := ourMounts()
	code := m.Run()
	if after := ourMounts(); code == 0 && len(after) > len(before) {
		fmt.Fprintf(os.Stderr, "mounts leaked by the tests:\n%s\n", strings.Join(after, "\n"))
		code = 1
	}
	os.Exit(code)
}

// skipExamplesWithoutContainers skips the runnable examples that run
// containers (example_*_test.go: those of Runtime, Container, Network and
// Volume) where they cannot run: not root, or no static busybox to make
// their image from. An example has no t.Skip; -test.skip is the way,
// unless the command line already set it.
func skipExamplesWithoutContainers() {
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := os.Stat("/bin/busybox"); err != nil {
		why = "no /bin/busybox (apt-get install busybox-static)"
	}
	if why == "" {
		return
	}
	flag.Parse()
	if f := flag.Lookup("test.skip"); f != nil && f.Value.String() == "" {
		f.Value.Set("^Example(Runtime|Container|Network|Volume)")
		fmt.Fprintf(os.Stderr, "examples that run containers skipped: %s\n", why)
	}
}

// ourMounts lists mount points under the temp dir, where every test root
// lives.
func ourMounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], os.TempDir()+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// helperProcess is the body of a child test process (helperCmd): it
// opens HULL_TEST_ROOT and plays the role HULL_TEST_HELPER names; it
// exits 0 on success.
func helperProcess() int {
	ctx := context.Background()
	rt, err := Open(ctx, WithRoot(os.Getenv("HULL_TEST_ROOT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	role := os.Getenv("HULL_TEST_HELPER")
	fn := helperRoles[role]
	if fn == nil {
		err = fmt.Errorf("no helper role %q", role)
	} else {
		err = fn(ctx, rt)
	}
	err = errors.Join(err, rt.Close())
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", role, err)
		return 1
	}
	return 0
}

// helperRoles are what a child test process can do. The container roles
// expect busybox:test in the root (containerTest).
var helperRoles = map[string]func(context.Context, *Runtime) error{
	// pull pulls HULL_TEST_REF.
	"pull": func(ctx context.Context, rt *Runtime) error {
		_, err := rt.Pull(ctx, os.Getenv("HULL_TEST_REF"))
		return err
	},
	// owner runs a container, prints its ID and PID and waits to be
	// killed (startOwner).
	"owner": func(ctx context.Context, rt *Runtime) error {
		return ownContainer(rt.Run(ctx, "busybox:test", WithCmd("sleep", "60")))
	},
	// creator creates a container on the default bridge (its command:
	// sleep 60), prints its ID and PID (0: none) and waits to be killed.
	"creator": func(ctx context.Context, rt *Runtime) error {
		return ownContainer(rt.Create(ctx, "busybox:test", WithCmd("sleep", "60")))
	},
	// net-owner is owner with the container on the default bridge and
	// the network "crash".
	"net-owner": func(ctx context.Context, rt *Runtime) error {
		n, err := rt.Network(ctx, "crash")
		if err != nil {
			return err
		}
		return ownContainer(rt.Run(ctx, "busybox:test", WithNetworkMode("bridge"), WithNetwork(n), WithCmd("sleep", "60")))
	},
	// publish-owner is owner with the image's command and port 18300
	// published to the container's 80.
	"publish-owner": func(ctx context.Context, rt *Runtime) error {
		return ownContainer(rt.Run(ctx, "busybox:test", WithPublish("18300:80")))
	},
	// sweep-owner makes every kind of host object for TestSweepDeletedRoot:
	// the network "swept", a container on the default bridge with port
	// 18391 published and a Detached one on "swept" with 18392; it prints
	// "<id> <pid>" of both, then "<network id> <subnet>" of both networks,
	// and waits to be killed.
	"sweep-owner": func(ctx context.Context, rt *Runtime) error {
		n, err := rt.CreateNetwork(ctx, "swept")
		if err != nil {
			return err
		}
		owned, err := rt.Run(ctx, "busybox:test", WithPublish("18391:80"), WithCmd("sleep", "60"))
		if err != nil {
			return err
		}
		det, err := rt.Run(ctx, "busybox:test", WithDetached(), WithNetwork(n), WithPublish("18392:80"), WithCmd("sleep", "60"))
		if err != nil {
			return err
		}
		for _, c := range []*Container{owned, det} {
			st, _ := c.snapshot()
			fmt.Println(c.ID(), st.Pid)
		}
		for _, name := range []string{"bridge", "swept"} {
			n, err := rt.Network(ctx, name)
			if err != nil {
				return err
			}
			in, err := n.Inspect(ctx)
			if err != nil {
				return err
			}
			fmt.Println(n.ID(), in.IPAM.Config[0].Subnet)
		}
		time.Sleep(time.Minute)
		return nil
	},
	// logs runs a container that writes to both streams, prints its ID
	// once it exited and waits to be killed.
	"logs": func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Run(ctx, "busybox:test", WithCmd("sh", "-c", "echo to-out; echo to-err >&2"))
		if err != nil {
			return err
		}
		if _, err := c.Wait(ctx); err != nil {
			return err
		}
		fmt.Println(c.ID())
		time.Sleep(time.Minute)
		return nil
	},
	// detach starts a Detached container, prints its ID and exits.
	"detach": func(ctx context.Context, rt *Runtime) error {
		script := `echo started; echo warn >&2; trap 'echo got-term; exit 7' TERM; while true; do echo tick; sleep 0.1; done`
		c, err := rt.Run(ctx, "busybox:test", WithDetached(), WithCmd("sh", "-c", script))
		if err != nil {
			return err
		}
		fmt.Println(c.ID())
		return nil
	},
	// detachrm starts a Detached WithAutoRemove container that exits a
	// moment later, prints its ID and exits.
	"detachrm": func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Run(ctx, "busybox:test", WithDetached(), WithAutoRemove(), WithCmd("sleep", "0.5"))
		if err != nil {
			return err
		}
		st, _ := c.snapshot()
		fmt.Println(c.ID(), st.Pid)
		return nil
	},
	// detachexit starts a Detached container that exits a moment later,
	// prints its ID and exits.
	"detachexit": func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Run(ctx, "busybox:test", WithDetached(), WithCmd("sleep", "0.3"))
		if err != nil {
			return err
		}
		fmt.Println(c.ID())
		return nil
	},
	// detachoom starts a Detached container that its memory limit
	// OOM-kills, prints its ID and exits.
	"detachoom": func(ctx context.Context, rt *Runtime) error {
		// 64 MiB: the init's own OOM score counts the pages of hull's
		// binary it maps (~15-20 MB); the command must outgrow it before
		// the kill, for hosts where the init cannot lower its score
		// (no CAP_SYS_RESOURCE, as on the CI machine).
		c, err := rt.Run(ctx, "busybox:test", WithDetached(), WithMemory(64<<20),
			WithCmd("sh", "-c", `sleep 0.3; x=$(head -c 100000000 /dev/zero | tr "\0" x); echo survived`))
		if err != nil {
			return err
		}
		fmt.Println(c.ID())
		return nil
	},
	// commit commits container HULL_TEST_ID (pausing it), to be killed
	// meanwhile (TestCommitKilledThaws).
	"commit": func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Container(ctx, os.Getenv("HULL_TEST_ID"))
		if err != nil {
			return err
		}
		_, err = c.Commit(ctx, "killed:commit")
		return err
	},
	// events runs a container named HULL_TEST_NAME that exits 2, and
	// removes it.
	"events": func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Run(ctx, "busybox:test", WithName(os.Getenv("HULL_TEST_NAME")), WithCmd("sh", "-c", "exit 2"))
		if err != nil {
			return err
		}
		if _, err := c.Wait(ctx); err != nil {
			return err
		}
		return c.Remove(ctx)
	},
}

// ownContainer is the end of the owner roles: it prints the container's
// ID and PID and waits to be killed.
func ownContainer(c *Container, err error) error {
	if err != nil {
		return err
	}
	st, _ := c.snapshot()
	fmt.Println(c.ID(), st.Pid)
	time.Sleep(time.Minute)
	return nil
}
