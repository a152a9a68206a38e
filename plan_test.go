//go:build linux

package hull

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/initproc"

	"golang.org/x/sys/unix"
)

// planProbe prints what a container's init set up: credentials,
// capabilities, seccomp, limits, mounts (without the numbers that differ
// between any two containers), /dev, the network and the environment.
const planProbe = `
grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status
cat /proc/self/limits
echo "pwd $(pwd) hostname $(hostname) umask $(umask)"
cut -d' ' -f5- /proc/self/mountinfo | sed -E 's/(shared|master|propagate_from):[0-9]+/\1/g'
for f in /dev/* /dev/.[!.]*; do [ -e "$f" ] || [ -L "$f" ] || continue; stat -c '%n %f %u %g %t %T' "$f"; [ -L "$f" ] && readlink "$f"; done
cat /etc/hosts /etc/hostname /etc/resolv.conf
cat /sys/class/net/lo/operstate /sys/class/net/lo/flags
ls -a /
env | sort
`

// TestPlanInitMatchesGoInit runs the same containers with a plan init
// (initproc.Spawn) and with the Go init and wants the same container from
// both, and the same errors.
func TestPlanInitMatchesGoInit(t *testing.T) {
	t.Parallel()
	rtPlan := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "motd"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(host, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []RunOption{WithNetworkMode(NetworkModeNone), WithHostname("probe")}
	cases := []struct {
		name string
		opts []RunOption
	}{
		{"defaults", nil},
		{"options", []RunOption{
			WithUser("app"), WithCapAdd("CAP_NET_ADMIN"), WithCapDrop("CAP_CHOWN"),
			WithEnv("A=1", "PATH=/usr/bin:/bin"), WithWorkdir("/new/work/dir"), WithReadOnlyRootfs(),
			WithTmpfs("/scratch", "size=1m"), WithBind(host, "/data", WithReadOnly()),
			WithBind(filepath.Join(host, "motd"), "/etc/motd"), WithBind(filepath.Join(host, "dir"), "/deep/in/here", WithPropagation("rslave")),
			WithUlimit("nofile", 512, 1024), WithSysctl("net.ipv4.ip_forward", "1"),
		}},
		{"root with capabilities", []RunOption{WithUser("0:1000"), WithCapAdd("ALL")}},
		{"privileged", []RunOption{WithPrivileged()}},
		{"tmpfs shared", []RunOption{WithTmpfs("/shared", "rshared")}},
		{"terminal", []RunOption{WithTTY()}},
	}
	ids := regexp.MustCompile(`[0-9a-f]{64}|[0-9a-f]{12}`)
	// Every op plan.c executes must be compared here: the ops the plans
	// of these cases went through.
	var mu sync.Mutex
	seen := map[string]bool{}
	run := func(t *testing.T, rt *Runtime, opts ...RunOption) (ExitStatus, string, error) {
		t.Helper()
		var out syncBuffer
		c, err := rt.Run(t.Context(), "busybox:test", append([]RunOption{WithStdout(&out), WithStderr(&out)}, opts...)...)
		if c == nil {
			return ExitStatus{}, "", err
		}
		t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
		if lp := c.live(); lp != nil {
			mu.Lock()
			for _, op := range initproc.PlanOps(lp.in.Plan) {
				seen[op] = true
			}
			mu.Unlock()
		}
		st, werr := c.Wait(t.Context())
		if err == nil {
			err = werr
		}
		return st, out.String(), err
	}
	// "network of another container": each runtime's own.
	others := map[*Runtime]*Container{}
	for _, rt := range []*Runtime{rtPlan, rtGo} {
		other, err := rt.Run(t.Context(), "busybox:test", WithNetworkMode(NetworkModeNone), WithCmd("sleep", "60"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Remove(context.Background(), WithForce()) })
		others[rt] = other
	}
	cases = append(cases, struct {
		name string
		opts []RunOption
	}{"network of another container", nil})
	runBoth := func(t *testing.T, opts []RunOption) (plan, gotGo string) {
		t.Helper()
		var outs [2]string
		for i, rt := range []*Runtime{rtPlan, rtGo} {
			o := append(append(append([]RunOption{}, base...), opts...), WithCmd("sh", "-c", planProbe))
			if t.Name() == "TestPlanInitMatchesGoInit/network_of_another_container" {
				o = append(o, WithNetworkMode(NetworkMode("container:"+others[rt].ID())))
			}
			st, out, err := run(t, rt, o...)
			if err != nil || st.ExitCode != 0 {
				t.Fatalf("goInit=%v: %+v %v\n%s", rt.goInit, st, err, out)
			}
			outs[i] = ids.ReplaceAllString(strings.ReplaceAll(out, rt.Root(), "ROOT"), "ID")
		}
		return outs[0], outs[1]
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, goOut := runBoth(t, tc.opts)
			if plan != goOut {
				t.Errorf("plan.c's init and the Go init differ:\n%s", lineDiff(goOut, plan))
			}
			if !strings.Contains(plan, "pwd ") || !strings.Contains(plan, "CapBnd") || !strings.Contains(plan, "\n/proc ") {
				t.Errorf("probe output incomplete:\n%s", plan)
			}
		})
	}

	// Failures: the same exit code and the same words.
	defer func() {
		if len(seen) == 0 {
			return // no plan init ran: a build without cgo
		}
		for _, op := range initproc.COps() {
			// keepcaps: no option leads to it (internal/spec gives a
			// non-root user no permitted set); TestPlanExecutors checks
			// that both sides have it. fork and setns_fd: only an exec's
			// plan has them (TestExecMatchesInit).
			if !seen[op] && op != "keepcaps" && op != "fork" && op != "setns_fd" {
				t.Errorf("no case runs plan.c's op %s: add one", op)
			}
		}
	}()
	for _, tc := range []struct {
		name string
		opts []RunOption
	}{
		{"missing command", []RunOption{WithCmd("no-such-command")}},
		{"missing path", []RunOption{WithCmd("/bin/nope")}},
		{"not executable", []RunOption{WithCmd("/etc/passwd")}},
		{"workdir is a file", []RunOption{WithWorkdir("/etc/passwd/x"), WithCmd("true")}},
		{"bind over a directory", []RunOption{WithBind(filepath.Join(host, "motd"), "/etc"), WithCmd("true")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]string
			for i, rt := range []*Runtime{rtPlan, rtGo} {
				st, out, err := run(t, rt, append(append([]RunOption{}, base...), tc.opts...)...)
				if err == nil {
					t.Fatalf("goInit=%v: no error (%+v, %s)", rt.goInit, st, out)
				}
				got[i] = ids.ReplaceAllString(strings.ReplaceAll(err.Error(), rt.Root(), "ROOT"), "ID") + " / exit " + strconv.Itoa(st.ExitCode)
			}
			if got[0] != got[1] {
				t.Errorf("plan.c's init: %s\nGo init:       %s", got[0], got[1])
			}
		})
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- go:   " + a + "\n+ plan: " + c + "\n")
		}
	}
	return b.String()
}

// TestPlanInitWhen: Run starts a plan init (initproc.Spawn), and so do
// the Start of an exited container and that of a created one (Create
// starts no process: a plan init would hold one of our threads until
// Start); one pinned to memory nodes gets the Go init. Either way the
// command runs. A plan init shares this
// program's memory until it execs, and its setuid marks that memory
// non-dumpable: this program must be as dumpable after as before, either
// way. Not parallel: it reads and sets the process's dumpable flag.
func TestPlanInitWhen(t *testing.T) {
	rt := containerTest(t)
	ctx := t.Context()
	c, err := rt.Run(ctx, "busybox:test", WithUser("app"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	if kind := c.live().kind; kind != "plan" {
		t.Errorf("Run: %s init, want plan", kind)
	}
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 0 {
		t.Fatalf("Run: %+v %v", st, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if kind := c.live().kind; kind != "plan" {
		t.Errorf("Start of an exited container: %s init, want plan", kind)
	}
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 0 {
		t.Fatalf("restart: %+v %v", st, err)
	}
	// Pinned to memory nodes: moving a plan init into that cpuset would
	// move this program's pages there.
	pinned, err := rt.Run(ctx, "busybox:test", WithCPUSet("0", "0"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pinned.Remove(context.Background(), WithForce()) })
	if kind := pinned.live().kind; kind != "go" && kind != "go-warm" {
		t.Errorf("Run with cpuset mems: %s init, want the Go one", kind)
	}
	if st, err := pinned.Wait(ctx); err != nil || st.ExitCode != 0 {
		t.Fatalf("Run with cpuset mems: %+v %v", st, err)
	}
	created, err := rt.Create(ctx, "busybox:test", WithCmd("sh", "-c", "exit 4"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { created.Remove(context.Background(), WithForce()) })
	if lp := created.live(); lp != nil {
		t.Errorf("Create started a %s init, want none until Start", lp.kind)
	}
	if err := created.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if kind := created.live().kind; kind != "plan" {
		t.Errorf("Start of a created container: %s init, want plan", kind)
	}
	if st, err := created.Wait(ctx); err != nil || st.ExitCode != 4 {
		t.Fatalf("Create, Start: %+v %v", st, err)
	}
	dumpableAfterRun := func(set int) int {
		t.Helper()
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, uintptr(set), 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		if st, _, err := run(t, rt, WithUser("app"), WithCmd("true")); err != nil || st.ExitCode != 0 {
			t.Fatalf("%+v %v", st, err)
		}
		d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Until this program's first Exec (other tests may have made one).
	if !initproc.Undumpable() {
		for _, want := range []int{1, 0, 1} {
			if d := dumpableAfterRun(want); d != want {
				t.Errorf("this program's dumpable flag after a run: %d, want %d", d, want)
			}
		}
	}
	// After an Exec, whose child may be stopped in the container with
	// our memory, it stays 0.
	sleeping, err := rt.Run(ctx, "busybox:test", WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeping.Remove(context.Background(), WithForce()) })
	if res, err := sleeping.Exec(ctx, []string{"true"}); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %+v %v", res, err)
	}
	if d := dumpableAfterRun(1); d != 0 || !initproc.Undumpable() {
		t.Errorf("after an Exec, the dumpable flag after a run is %d (undumpable %v), want 0", d, initproc.Undumpable())
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0) // for the tests after this one: as it was
}

// TestExecMatchesInit: a process exec'd into a running container (its
// plan, initproc.CompileExec) sees what the container's own process
// sees: the same credentials, capabilities, no_new_privs, seccomp,
// limits, working directory, mounts, /dev, network and environment, for
// the same options.
func TestExecMatchesInit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ids := regexp.MustCompile(`[0-9a-f]{64}|[0-9a-f]{12}`)
	for _, tc := range []struct {
		name string
		opts []RunOption
	}{
		{"defaults", nil},
		{"options", []RunOption{
			WithUser("app"), WithCapAdd("CAP_NET_ADMIN"), WithCapDrop("CAP_CHOWN"),
			WithEnv("A=1", "PATH=/usr/bin:/bin"), WithWorkdir("/new/work/dir"), WithReadOnlyRootfs(),
			WithTmpfs("/scratch", "size=1m"), WithUlimit("nofile", 512, 1024),
		}},
		{"root with capabilities", []RunOption{WithUser("0:1000"), WithCapAdd("ALL")}},
		{"privileged", []RunOption{WithPrivileged()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]RunOption{WithNetworkMode(NetworkModeNone), WithHostname("probe")}, tc.opts...)
			var initOut syncBuffer
			c, err := rt.Run(t.Context(), "busybox:test", append(opts, WithCmd("sh", "-c", planProbe+"sleep 60"), WithStdout(&initOut))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
			var execOut bytes.Buffer
			res, err := c.Exec(t.Context(), []string{"sh", "-c", planProbe}, WithExecStdout(&execOut), WithExecStderr(&execOut))
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("exec: %+v %v\n%s", res, err, execOut.String())
			}
			clean := func(s string) string { return ids.ReplaceAllString(strings.ReplaceAll(s, rt.Root(), "ROOT"), "ID") }
			got := clean(execOut.String())
			want := ""
			for range 100 { // the init's probe may still be printing
				if want = clean(initOut.String()); strings.Count(want, "\n") >= strings.Count(got, "\n") {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got != want {
				t.Errorf("the exec'd process and the container's differ:\n%s", lineDiff(want, got))
			}
		})
	}
}
