//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hostileImage is busybox (containerTest's) with some entries replaced:
// each of extra takes the place of the busybox entry of the same name.
func hostileImage(t *testing.T, extra ...testutil.File) []byte {
	t.Helper()
	clean := func(n string) string { return strings.TrimSuffix(n, "/") }
	files := slices.DeleteFunc(testutil.BusyboxFiles(t), func(f testutil.File) bool {
		return slices.ContainsFunc(extra, func(e testutil.File) bool { return clean(e.Name) == clean(f.Name) })
	})
	return testutil.TarBytes(t, append(files, extra...))
}

// linkChain is name -> /l1 -> /l2 ... -> /ln -> target.
func linkChain(name string, n int, target string) []testutil.File {
	files := []testutil.File{symlink(name, "/l1")}
	for i := 1; i < n; i++ {
		files = append(files, symlink("l"+strconv.Itoa(i), "/l"+strconv.Itoa(i+1)))
	}
	return append(files, symlink("l"+strconv.Itoa(n), target))
}

func symlink(name, target string) testutil.File {
	return testutil.File{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// hostileOutcome is how a container ended, in words that do not depend on
// the runtime (its root and the container's ID are replaced).
type hostileOutcome struct {
	code   int
	out    string
	err    string
	stage  string
	errno  syscall.Errno
	failed bool
}

var idsRE = regexp.MustCompile(`[0-9a-f]{64}|[0-9a-f]{12}`)

// runHostile imports image as ref into rt (once) and runs it to the end.
func runHostile(t *testing.T, rt *Runtime, ref string, image []byte, opts ...RunOption) hostileOutcome {
	t.Helper()
	if _, err := rt.Image(t.Context(), ref); errors.Is(err, ErrNotFound) {
		cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
		if _, err := rt.Import(t.Context(), bytes.NewReader(image), ref, WithImportConfig(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	var out syncBuffer
	detached := slices.ContainsFunc(opts, func(o RunOption) bool { return o == nil })
	opts = slices.DeleteFunc(opts, func(o RunOption) bool { return o == nil })
	if detached { // its output is in its log
		opts = append([]RunOption{WithDetached()}, opts...)
	} else {
		opts = append([]RunOption{WithStdout(&out), WithStderr(&out)}, opts...)
	}
	opts = append([]RunOption{WithNetworkMode(NetworkModeNone), WithHostname("probe")}, opts...)
	c, err := rt.Run(t.Context(), ref, opts...)
	var o hostileOutcome
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
		st, werr := c.Wait(t.Context())
		if err == nil {
			err = werr
		}
		o.code = st.ExitCode
		if detached && werr == nil {
			err = c.Logs(t.Context(), WithLogsStdout(&out), WithLogsStderr(&out))
		}
	}
	norm := func(s string) string { return idsRE.ReplaceAllString(strings.ReplaceAll(s, rt.Root(), "ROOT"), "ID") }
	// Lines in order, but for a Detached container's stdout and stderr,
	// two pipes: compared sorted.
	lines := strings.SplitAfter(out.String(), "\n")
	if detached {
		slices.Sort(lines)
	}
	o.out = norm(strings.Join(lines, ""))
	if err != nil {
		o.failed, o.err = true, norm(err.Error())
		var se *StartError
		if errors.As(err, &se) {
			o.stage, o.code = se.Stage, se.ExitCode
		}
		errors.As(err, &o.errno)
	}
	return o
}

// hostState is what a hostile image must not change on the host: the
// files under dir (names, contents) and the mounts that name dir.
func hostState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v", p, fi.Mode())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, dir) {
			b.WriteString("mount: " + line + "\n")
		}
	}
	return b.String()
}

// TestPlanHostileImages runs images whose symlinks aim the container's
// mounts at the host (absolute paths, "..", loops, the root itself) with
// plan.c's init and with the Go init, each owned and Detached (cloned or
// started by the container's shim): all must start or fail the same
// way, and neither may create, change or mount anything outside the
// container's root. What the image has at /etc/hosts, /etc/hostname,
// /etc/resolv.conf, /dev, /proc and /sys is hidden by the init layer
// (snapshot.InitLayer), as Docker's hides it: those containers start,
// with hull's files and mounts there; the other cases still aim hull's
// mounts (binds, tmpfs) through the image's links.
func TestPlanHostileImages(t *testing.T) {
	t.Parallel()
	rtPlan := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	outside := t.TempDir() // where an escape would land
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir() // a host directory the caller binds
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 12)
	dir := func(name string) testutil.File { return testutil.File{Name: name, Type: tar.TypeDir, Mode: 0o755} }
	cases := []struct {
		name  string
		files []testutil.File
		opts  []RunOption
		fails bool // the container must not start
	}{
		{"hosts to an absolute host path", []testutil.File{symlink("etc/hosts", outside+"/hosts")},
			[]RunOption{WithCmd("sh", "-c", "cat /etc/hosts; readlink /etc/hosts || echo not a link")}, false},
		{"resolv.conf up and out", []testutil.File{symlink("etc/resolv.conf", up+outside[1:]+"/resolv.conf")},
			[]RunOption{WithCmd("sh", "-c", "cat /etc/resolv.conf >/dev/null && grep -c ' /etc/resolv.conf\\| /tmp/' /proc/self/mountinfo")}, false},
		{"hostname onto an existing host file", []testutil.File{symlink("etc/hostname", outside+"/victim")},
			[]RunOption{WithCmd("sh", "-c", "cat /etc/hostname; echo pwned > /etc/hostname")}, false},
		{"dev is a symlink out", []testutil.File{symlink("dev", outside)},
			[]RunOption{WithCmd("sh", "-c", "ls /dev/; echo x > /dev/null; readlink /dev/stdout")}, false},
		{"proc is a symlink up", []testutil.File{symlink("proc", up+outside[1:]+"/proc")},
			[]RunOption{WithCmd("sh", "-c", "wc -c < /proc/timer_list; grep -c '^Name' /proc/self/status; grep -c '/proc/sys ro,' /proc/self/mountinfo")}, false},
		{"proc to the root", []testutil.File{symlink("proc", "/")}, nil, false},
		{"dev to the root", []testutil.File{symlink("dev", "../..")}, nil, false},
		{"tmpfs through a link to ..", []testutil.File{symlink("up", "..")},
			[]RunOption{WithTmpfs("/up/scratch", "size=1m"), WithCmd("sh", "-c", "grep -c ' /scratch ' /proc/self/mountinfo; ls -ld /up")}, false},
		{"bind through a link out", []testutil.File{symlink("data", outside)},
			[]RunOption{WithBind(src, "/data/sub"), WithCmd("sh", "-c", "cat /data/sub/file; grep -c ' /data/sub\\| /tmp/' /proc/self/mountinfo")}, false},
		{"volume onto a link to the root", []testutil.File{symlink("vol", "/")},
			[]RunOption{WithBind(src, "/vol"), WithCmd("true")}, true},
		{"volume onto a link to ..", []testutil.File{dir("a/"), symlink("a/vol", "..")},
			[]RunOption{WithBind(src, "/a/vol"), WithCmd("true")}, true},
		{"volume in a file", nil, []RunOption{WithBind(src, "/etc/passwd/x"), WithCmd("true")}, true},
		{"tmpfs onto a file", nil, []RunOption{WithTmpfs("/etc/passwd", ""), WithCmd("true")}, true},
		{"hosts is a directory", []testutil.File{dir("etc/hosts/")}, nil, false},
		{"symlink loop at a mount point", []testutil.File{symlink("loop", "loop")},
			[]RunOption{WithTmpfs("/loop", ""), WithCmd("true")}, true},
		{"symlink cycle at a bind", []testutil.File{symlink("a", "/b"), symlink("b", "a/x")},
			[]RunOption{WithBind(src, "/a/y"), WithCmd("true")}, true},
		{"hosts loops", []testutil.File{symlink("etc/hosts", "hosts")}, nil, false},
		// 100 links to follow: more than Linux's 40, fewer than securejoin's 255.
		{"hosts through a long chain", linkChain("etc/hosts", 100, "/tmp/hosts"),
			[]RunOption{WithCmd("sh", "-c", "grep -c localhost /etc/hosts; test ! -e /tmp/hosts")}, false},
		{"hosts through a too long chain", linkChain("etc/hosts", 300, "/tmp/hosts"), nil, false},
		{"resolv.conf through /proc/self", []testutil.File{symlink("etc/resolv.conf", "/proc/self/root"+outside+"/r")},
			[]RunOption{WithCmd("true")}, false},
		// /proc/self's links read differently before pivot_root (the
		// init's cwd then) and after (the reader's): /sys/firmware would
		// be masked where sysfs is not.
		{"sys through /proc/self/cwd", []testutil.File{symlink("sys", "/proc/self/cwd")},
			[]RunOption{WithCmd("sh", "-c", "for m in $(grep ' - sysfs ' /proc/self/mountinfo | cut -d' ' -f5); do ls $m/firmware; done")}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			image := hostileImage(t, tc.files...)
			ref := "hostile:" + strconv.Itoa(i)
			before := hostState(t, outside) + hostState(t, src)
			// Owned, then Detached (its shim starts the init: a nil
			// option says so to runHostile).
			var got [4]hostileOutcome
			for j, rt := range []*Runtime{rtPlan, rtGo, rtPlan, rtGo} {
				opts := tc.opts
				if j >= 2 {
					opts = append([]RunOption{nil}, opts...)
				}
				got[j] = runHostile(t, rt, ref, image, opts...)
				if after := hostState(t, outside) + hostState(t, src); after != before {
					t.Fatalf("goInit=%v detached=%v: the host changed:\nbefore:\n%safter:\n%s", rt.goInit, j >= 2, before, after)
				}
			}
			if got[2] != got[3] {
				t.Errorf("Detached, plan.c's init and the Go init differ:\nplan: %+v\ngo:   %+v", got[2], got[3])
			}
			sorted := got[0]
			lines := strings.SplitAfter(sorted.out, "\n")
			slices.Sort(lines)
			sorted.out = strings.Join(lines, "")
			if got[2] != sorted {
				t.Errorf("owned and Detached differ:\nowned:    %+v\ndetached: %+v", sorted, got[2])
			}
			t.Logf("plan: %+v", got[0])
			// The same outcome in the same words (planWord words both),
			// which never name a host path.
			if strings.Contains(got[0].err, "ROOT") {
				t.Errorf("the error names a host path: %s", got[0].err)
			}
			if got[0] != got[1] {
				t.Errorf("plan.c's init and the Go init differ:\nplan: %+v\ngo:   %+v", got[0], got[1])
			}
			if started := !got[0].failed && got[0].code == 0; started == tc.fails {
				t.Errorf("fails=%v, want %v: %+v", !started, tc.fails, got[0])
			}
		})
	}
}

// TestPlanNoInheritedFDs: the user's process gets stdin, stdout and
// stderr only (ls's own directory is fd 3), with either init, even when
// the program that runs the container holds a descriptor without
// O_CLOEXEC, and starts with no signal blocked or ignored, even when that
// program ignores SIGPIPE. Not parallel: it changes the process's
// descriptors and signals.
func TestPlanNoInheritedFDs(t *testing.T) {
	rtPlan := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	leak, err := syscall.Open(t.TempDir(), syscall.O_RDONLY|syscall.O_DIRECTORY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(leak)
	signal.Ignore(syscall.SIGPIPE)
	defer signal.Reset(syscall.SIGPIPE)
	probe := "ls /proc/self/fd; exec grep -E '^Sig(Blk|Ign)' /proc/self/status"
	for _, opts := range [][]RunOption{
		{WithCmd("sh", "-c", probe)},
		{WithUser("app"), WithCmd("sh", "-c", probe)},
		{WithPrivileged(), WithCmd("sh", "-c", probe)},
	} {
		var outs [2]string
		for i, rt := range []*Runtime{rtPlan, rtGo} {
			st, out, err := run(t, rt, append([]RunOption{WithNetworkMode(NetworkModeNone)}, opts...)...)
			if err != nil || st.ExitCode != 0 {
				t.Fatalf("goInit=%v: %+v %v\n%s", rt.goInit, st, err, out)
			}
			outs[i] = out
		}
		want := "0\n1\n2\n3\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
		if outs[0] != want || outs[1] != want {
			t.Errorf("descriptors and signals:\nplan: %q\ngo:   %q\nwant: %q", outs[0], outs[1], want)
		}
	}
}

// TestPlanManyEnv: more arguments and environment entries together than
// plan.c takes (MAX_ARGS) leave the container to the Go init, which runs
// it: both inits run it the same.
func TestPlanManyEnv(t *testing.T) {
	t.Parallel()
	rtPlan := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	env := make([]string, 3000)
	for i := range env {
		env[i] = fmt.Sprintf("V%d=%d", i, i)
	}
	args := make([]string, 0, 1500)
	args = append(args, "sh", "-c", `echo "$# $(env | grep -c '^V')"`, "sh")
	for len(args) < cap(args) {
		args = append(args, "a")
	}
	for _, rt := range []*Runtime{rtPlan, rtGo} {
		st, out, err := run(t, rt, WithNetworkMode(NetworkModeNone), WithEnv(env...), WithCmd(args...))
		if err != nil || st.ExitCode != 0 || out != "1496 3000\n" {
			t.Errorf("goInit=%v: %+v %v %q", rt.goInit, st, err, out)
		}
	}
}

func init() {
	// owner-user runs a container as a user other than root (the Go init
	// if HULL_TEST_GOINIT is set), prints its ID and PID and waits to be
	// killed (TestPlanOwnerKilledNonRoot).
	helperRoles["owner-user"] = func(ctx context.Context, rt *Runtime) error {
		rt.goInit = os.Getenv("HULL_TEST_GOINIT") != ""
		return ownContainer(rt.Run(ctx, "busybox:test", WithUser("app"), WithCmd("sleep", "60")))
	}
}

// TestPlanOwnerKilledNonRoot: a container whose user is not root dies
// with its owner, with either init. The user change clears the parent
// death signal; the init sets it again.
func TestPlanOwnerKilledNonRoot(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, goInit := range []string{"", "1"} {
		cmd := helperCmd(rt.Root(), "owner-user", "HULL_TEST_GOINIT="+goInit)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var id string
		var pid int
		if _, err := fmt.Fscan(stdout, &id, &pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper: %v", err)
		}
		cmd.Process.Kill()
		cmd.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for procStartTime(pid) != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if procStartTime(pid) != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("goInit=%q: the container (pid %d) outlived its owner", goInit, pid)
		}
	}
	// The next Open recovers what the owners left (cgroups, state).
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	rt2.Close()
}

// TestPlanExecWords: commands that cannot run fail with the same code and
// the same words from either init: names that %q escapes, and PATH
// entries that filepath.Join cleans.
func TestPlanExecWords(t *testing.T) {
	t.Parallel()
	rtPlan := containerTest(t)
	rtGo := containerTest(t)
	rtGo.goInit = true
	for _, opts := range [][]RunOption{
		{WithCmd("no\nsuch\tcommand\x01")},
		{WithCmd("/bin/né-pas-là")},
		{WithCmd("passwd"), WithEnv("PATH=/nonexistent:/usr/../etc//:/bin")},
		{WithCmd("sh/"), WithEnv("PATH=bin:.")},
		{WithCmd("nope"), WithEnv("PATH=")},
	} {
		var got [2]string
		for i, rt := range []*Runtime{rtPlan, rtGo} {
			st, out, err := run(t, rt, append([]RunOption{WithNetworkMode(NetworkModeNone)}, opts...)...)
			if err == nil {
				t.Fatalf("goInit=%v: no error (%+v, %s)", rt.goInit, st, out)
			}
			got[i] = idsRE.ReplaceAllString(err.Error(), "ID") + " / exit " + strconv.Itoa(st.ExitCode)
		}
		if got[0] != got[1] {
			t.Errorf("plan.c's init: %s\nGo init:       %s", got[0], got[1])
		}
	}
}
