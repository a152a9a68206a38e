package hull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/hostobj"
	"github.com/hullbox/hull/internal/netsetup"
	"github.com/hullbox/hull/internal/testutil"
	"github.com/moby/sys/mountinfo"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/vishvananda/netlink"
)

// sweptRoot is what a killed owner made under a root: its containers
// (ID and init's PID) and networks (ID and subnet).
type sweptRoot struct {
	root  string
	ids   []string
	pids  []int
	nets  []string
	cidrs []netip.Prefix
	kill  func(*testing.T) // SIGKILLs the owner, waits for its container's death
}

// TestSweepDeletedRoot is issue 16's "a crashed test whose root was
// deleted leaks nothing": a process with a container on the default
// bridge (a published port) and a Detached one on a user network (another
// port) is SIGKILLed, its root deleted as t.TempDir's cleanup deletes it;
// Open of another root must leave nothing of the first: no cgroup,
// process, rule, bridge, veth, route or mount. So must Open of a new root
// made at the same path (another inode: another root, whose rules have
// the same tag).
func TestSweepDeletedRoot(t *testing.T) {
	requirePrivateNetns(t)
	for _, samePath := range []bool{false, true} {
		t.Run(map[bool]string{false: "another-root", true: "same-path"}[samePath], func(t *testing.T) {
			testSweepDeletedRoot(t, samePath)
		})
	}
}

func testSweepDeletedRoot(t *testing.T, samePath bool) {
	s := startSweepOwner(t)
	if left := s.leftovers(); !slices.ContainsFunc(left, func(l string) bool { return strings.HasPrefix(l, "rule") }) ||
		!slices.ContainsFunc(left, func(l string) bool { return strings.HasPrefix(l, "bridge") }) ||
		!slices.ContainsFunc(left, func(l string) bool { return strings.HasPrefix(l, "cgroup") }) {
		t.Fatalf("before the kill, the owner's objects are not all seen: %q", left)
	}
	s.kill(t)
	// What outlives the owner: cgroups (both), the Detached container
	// and its shim, rules, the bridges (with their routes).
	if left := s.leftovers(); len(left) == 0 {
		t.Fatal("nothing of the killed owner left: the test shows nothing")
	} else {
		t.Logf("left by the killed owner: %d objects: %q", len(left), left)
	}
	if err := os.RemoveAll(s.root); err != nil {
		t.Fatalf("delete the root as a test's cleanup does: %v", err)
	}
	start := time.Now()
	if !samePath {
		openTest(t)
	} else if rt, err := Open(t.Context(), WithRoot(s.root)); err != nil {
		t.Fatal(err)
	} else {
		t.Cleanup(func() { rt.Close() })
	}
	t.Logf("Open of another root took %v (with the sweep)", time.Since(start))
	if left := s.leftovers(); len(left) > 0 {
		t.Errorf("left after Open of another root: %q", left)
	}
}

// TestSweepLeavesLiveRoots: Sweep removes nothing of a root that exists,
// whether its owner runs (a container with a published port on a user
// network, in this process) or died (a Detached container whose creator
// exited), and reports nothing of them.
func TestSweepLeavesLiveRoots(t *testing.T) {
	requirePrivateNetns(t)
	ctx := t.Context()
	rt := containerTest(t)
	n, err := rt.CreateNetwork(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	c := runBG(t, rt, nil, WithNetwork(n), WithPublish("18393:80"), WithCmd("sleep", "60"))
	cst, _ := c.snapshot()
	live := sweptRoot{root: rt.Root(), ids: []string{c.ID()}, pids: []int{cst.Pid}, nets: []string{n.ID()}}

	orphan := containerTest(t)
	cmd := helperCmd(orphan.Root(), "detach")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	det, err := orphan.Container(ctx, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { det.Remove(context.Background(), WithForce()) })
	dst, _ := det.snapshot()
	dead := sweptRoot{root: orphan.Root(), ids: []string{det.ID()}, pids: []int{dst.Pid}}

	before := append(live.leftovers(), dead.leftovers()...)
	rep, err := openTest(t).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.RootsSwept {
		if r == live.root || r == orphan.Root() {
			t.Errorf("Sweep swept root %s, which exists", r)
		}
	}
	if slices.Contains(rep.ContainersDeleted, c.ID()) || slices.Contains(rep.ContainersDeleted, det.ID()) {
		t.Errorf("Sweep reports containers of live roots deleted: %+v", rep)
	}
	if after := append(live.leftovers(), dead.leftovers()...); !slices.Equal(before, after) {
		t.Errorf("Sweep changed live roots' objects:\nbefore %q\nafter  %q", before, after)
	}
	if st := inspect(t, c).State; !st.Running {
		t.Errorf("the live root's container after Sweep: %+v", st)
	}
	if st := inspect(t, det).State; !st.Running {
		t.Errorf("the Detached container of a root whose owner died, after Sweep: %+v", st)
	}
}

// startSweepOwner prepares a root (busybox:test) below the test's temp
// dir and starts the sweep-owner helper on it.
func startSweepOwner(t *testing.T) *sweptRoot {
	t.Helper()
	s := &sweptRoot{root: filepath.Join(t.TempDir(), "root")}
	rt, err := Open(t.Context(), WithRoot(s.root))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	_, err = rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, testutil.BusyboxFiles(t))), "busybox:test", WithImportConfig(cfg))
	if err := errors.Join(err, rt.Close()); err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(s.root, "sweep-owner")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 2 {
		var id string
		var pid int
		if _, err := fmt.Fscan(stdout, &id, &pid); err != nil {
			t.Fatalf("helper: %v", err)
		}
		s.ids, s.pids = append(s.ids, id), append(s.pids, pid)
	}
	for range 2 {
		var id, cidr string
		if _, err := fmt.Fscan(stdout, &id, &cidr); err != nil {
			t.Fatalf("helper: %v", err)
		}
		s.nets, s.cidrs = append(s.nets, id), append(s.cidrs, netip.MustParsePrefix(cidr))
	}
	s.kill = func(t *testing.T) { killOwner(t, cmd, s.pids[0]) }
	return s
}

// leftovers lists the host objects of s's root that exist: cgroups of its
// containers in any hierarchy, their processes and shims, its rules, its
// networks' bridges and routes, its containers' host veths, mounts below
// the root (scripts/leakcheck.sh's kinds).
func (s *sweptRoot) leftovers() []string {
	var out []string
	for _, id := range s.ids {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/hull/" + id)
		if d := "/sys/fs/cgroup/hull/" + id; exists(d) {
			dirs = append(dirs, d)
		}
		for _, d := range dirs {
			out = append(out, "cgroup "+d)
		}
	}
	for _, pid := range s.pids {
		if pid > 0 && procStartTime(pid) != 0 {
			out = append(out, "process "+strconv.Itoa(pid))
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		args, _ := os.ReadFile(p)
		for _, id := range s.ids {
			if string(args) == "hull-shim\x00"+id+"\x00" {
				out = append(out, "shim "+p)
			}
		}
	}
	ctrs, brs, _ := netsetup.Owners()
	for _, o := range append(ctrs, brs...) {
		if strings.HasPrefix(o, hostobj.RuleTag(s.root)+":") {
			out = append(out, "rule "+o)
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		if slices.Contains(s.nets, a.Alias) {
			out = append(out, "bridge "+a.Name)
		}
		for _, id := range s.ids {
			if strings.HasPrefix(a.Name, "hv"+id[:9]) {
				out = append(out, "veth "+a.Name)
			}
		}
	}
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		for _, p := range s.cidrs {
			if r.Dst.String() == p.Masked().String() {
				out = append(out, "route "+r.Dst.String())
			}
		}
	}
	ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(s.root))
	for _, m := range ms {
		out = append(out, "mount "+m.Mountpoint)
	}
	slices.Sort(out)
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
