//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	"github.com/hullbox/hull/internal/volumes"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// volumeImage imports busybox plus extra files as ref, with cfg's Volumes
// (Cmd sh, busybox's PATH).
func volumeImage(t *testing.T, rt *Runtime, ref string, extra []testutil.File, volumes ...string) {
	t.Helper()
	files := append(testutil.BusyboxFiles(t), extra...)
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if len(volumes) > 0 {
		cfg.Volumes = map[string]struct{}{}
		for _, v := range volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), ref, WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
}

// runIn runs a shell script in image ref to completion and returns its
// exit code and output; the container is removed at the end of the test
// (with its anonymous volumes).
func runIn(t *testing.T, rt *Runtime, ref, script string, opts ...RunOption) (int, string, *Container) {
	t.Helper()
	var out syncBuffer
	opts = append([]RunOption{WithStdout(&out), WithStderr(&out), WithCmd("sh", "-c", script)}, opts...)
	c, err := rt.Run(t.Context(), ref, opts...)
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce(), WithRemoveVolumes()) })
	}
	if err != nil {
		t.Fatalf("run %q: %v (output %q)", script, err, out.String())
	}
	st, err := c.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitCode, out.String(), c
}

func mustVolume(t *testing.T, rt *Runtime, name string, opts ...VolumeOption) *Volume {
	t.Helper()
	v, err := rt.CreateVolume(t.Context(), name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVolumeCreateInspectList(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	v, err := rt.CreateVolume(ctx, "data", WithVolumeLabels(map[string]string{"a": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	in := inspect(t, v)
	if in.Name != "data" || in.Driver != "local" || in.Scope != "local" || in.Labels["a"] != "b" ||
		in.Mountpoint != filepath.Join(rt.cfg.root, "volumes", "data", "_data") || in.CreatedAt.IsZero() || in.Anonymous {
		t.Errorf("inspect %+v", in)
	}
	if fi, err := os.Stat(in.Mountpoint); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("mountpoint: %v %v", fi, err)
	}
	// An existing name returns the volume, as docker volume create.
	again, err := rt.CreateVolume(ctx, "data", WithVolumeLabels(map[string]string{"c": "d"}))
	if err != nil || inspect(t, again).CreatedAt != in.CreatedAt || inspect(t, again).Labels["c"] != "" {
		t.Errorf("create again: %+v, %v", inspect(t, again), err)
	}
	anon, err := rt.CreateVolume(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := anon.Name(); len(n) != 64 || !isHex(n) || !inspect(t, anon).Anonymous {
		t.Errorf("anonymous volume %+v", inspect(t, anon))
	}
	for _, bad := range []string{"a", "-x", "../x", "a/b", "x y", ".hidden", strings.Repeat("a", 256)} {
		if _, err := rt.CreateVolume(ctx, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("CreateVolume(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
	if _, err := rt.Volume(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Volume(nope) = %v", err)
	}
	if _, err := rt.Volume(ctx, "../content"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Volume(../content) = %v", err)
	}
	got, err := rt.Volume(ctx, "data")
	if err != nil || inspect(t, got).Labels["a"] != "b" {
		t.Fatalf("Volume(data) = %v, %v", got, err)
	}
	vols, err := rt.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		names = append(names, v.Name())
	}
	if want := slices.Sorted(slices.Values([]string{anon.Name(), "data"})); !slices.Equal(names, want) {
		t.Errorf("Volumes = %q, want %q", names, want)
	}
	if err := v.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Volume(ctx, "data"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Remove: %v", err)
	}
	if err := v.Remove(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove twice: %v", err)
	}
}

func TestVolumePersistsAcrossContainers(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	vol := mustVolume(t, rt, "keep")
	code, out, c := runIn(t, rt, "busybox:test", "echo hello > /data/f && chown 123:45 /data/f", WithVolume(vol, "/data"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	mounts := inspect(t, c).Mounts
	want := MountPoint{Type: MountTypeVolume, Name: "keep", Source: vol.Mountpoint(), Destination: "/data", Driver: "local", RW: true}
	if len(mounts) != 1 || mounts[0] != want {
		t.Errorf("Mounts = %+v, want %+v", mounts, want)
	}
	if err := c.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runIn(t, rt, "busybox:test", "cat /data/f; stat -c %u:%g /data/f", WithVolume(vol, "/data"))
	if code != 0 || out != "hello\n123:45\n" {
		t.Errorf("second container: exit %d, %q", code, out)
	}
}

func TestVolumeSharedByRunningContainers(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	vol := mustVolume(t, rt, "shared")
	var cs []*Container
	for range 2 {
		c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "1000"), WithVolume(vol, "/shared"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
		cs = append(cs, c)
	}
	if res, err := cs[0].Exec(t.Context(), []string{"sh", "-c", "echo one > /shared/x"}); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec write: %+v %v", res, err)
	}
	var out bytes.Buffer
	if res, err := cs[1].Exec(t.Context(), []string{"sh", "-c", "cat /shared/x; echo two >> /shared/x"}, WithExecStdout(&out)); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec read: %+v %v", res, err)
	}
	if out.String() != "one\n" {
		t.Errorf("second container read %q", out.String())
	}
	if data, _ := os.ReadFile(filepath.Join(vol.Mountpoint(), "x")); string(data) != "one\ntwo\n" {
		t.Errorf("volume holds %q", data)
	}
	// In use by running containers, and then by stopped ones: Docker's rule.
	if err := vol.Remove(t.Context()); !errors.Is(err, ErrConflict) {
		t.Errorf("Remove in use = %v, want ErrConflict", err)
	}
	for _, c := range cs {
		if err := c.Kill(t.Context(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := vol.Remove(t.Context()); !errors.Is(err, ErrConflict) {
		t.Errorf("Remove used by exited containers = %v, want ErrConflict", err)
	}
	for _, c := range cs {
		if err := c.Remove(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := vol.Remove(t.Context()); err != nil {
		t.Errorf("Remove unused: %v", err)
	}
}

func TestVolumeReadOnly(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	vol := mustVolume(t, rt, "ro")
	if err := os.WriteFile(filepath.Join(vol.Mountpoint(), "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, c := runIn(t, rt, "busybox:test", "cat /data/f; touch /data/g", WithVolume(vol, "/data", WithReadOnly()))
	if code == 0 || !strings.Contains(out, "x") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("exit %d, %q: want a read-only failure", code, out)
	}
	if m := inspect(t, c).Mounts; len(m) != 1 || m[0].RW {
		t.Errorf("Mounts = %+v", m)
	}
	if _, err := os.Stat(filepath.Join(vol.Mountpoint(), "g")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("g was written: %v", err)
	}
}

// copyUpFiles is an image directory /srv/app with content of its own
// owners and modes, and a hardlink.
var copyUpFiles = []testutil.File{
	{Name: "srv/", Type: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1001},
	{Name: "srv/app/", Type: tar.TypeDir, Mode: 0o2770, Uid: 1000, Gid: 1001},
	{Name: "srv/app/conf", Body: []byte("conf\n"), Mode: 0o640, Uid: 1000, Gid: 1001, Xattrs: map[string]string{"user.k": "v"}},
	{Name: "srv/app/link", Type: tar.TypeLink, Linkname: "srv/app/conf"},
	{Name: "srv/app/sub/", Type: tar.TypeDir, Mode: 0o700, Uid: 7},
	{Name: "srv/app/sub/s", Type: tar.TypeSymlink, Linkname: "../conf"},
}

func TestVolumeCopyUp(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	volumeImage(t, rt, "copyup:test", copyUpFiles)
	ctx := t.Context()

	empty := mustVolume(t, rt, "empty")
	code, out, _ := runIn(t, rt, "copyup:test", "cat /srv/app/conf; echo new > /srv/app/new", WithVolume(empty, "/srv/app"))
	if code != 0 || out != "conf\n" {
		t.Fatalf("exit %d, %q", code, out)
	}
	mp := empty.Mountpoint()
	checkStat(t, mp, 0o770|fs.ModeDir|fs.ModeSetgid, 1000, 1001)
	checkStat(t, filepath.Join(mp, "conf"), 0o640, 1000, 1001)
	checkStat(t, filepath.Join(mp, "sub"), 0o700|fs.ModeDir, 7, 0)
	if target, err := os.Readlink(filepath.Join(mp, "sub", "s")); err != nil || target != "../conf" {
		t.Errorf("symlink: %q %v", target, err)
	}
	var a, b unix.Stat_t
	if unix.Lstat(filepath.Join(mp, "conf"), &a) != nil || unix.Lstat(filepath.Join(mp, "link"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("hardlink not kept: %d %d", a.Ino, b.Ino)
	}
	if v, err := volXattr(filepath.Join(mp, "conf"), "user.k"); err != nil || v != "v" {
		t.Errorf("xattr user.k = %q, %v", v, err)
	}
	if data, _ := os.ReadFile(filepath.Join(mp, "new")); string(data) != "new\n" {
		t.Errorf("write through the volume: %q", data)
	}

	// A volume with content keeps it: no copy-up.
	full := mustVolume(t, rt, "full")
	if err := os.WriteFile(filepath.Join(full.Mountpoint(), "mine"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runIn(t, rt, "copyup:test", "ls /srv/app", WithVolume(full, "/srv/app")); code != 0 || out != "mine\n" {
		t.Errorf("non-empty volume: exit %d, %q", code, out)
	}
	// WithNoCopy: the empty volume stays empty.
	nocopy := mustVolume(t, rt, "nocopy")
	if code, out, _ := runIn(t, rt, "copyup:test", "ls -A /srv/app", WithVolume(nocopy, "/srv/app", WithNoCopy())); code != 0 || out != "" {
		t.Errorf("nocopy: exit %d, %q", code, out)
	}
	// Binds never copy.
	dir := t.TempDir()
	if code, out, _ := runIn(t, rt, "copyup:test", "ls -A /srv/app", WithBind(dir, "/srv/app")); code != 0 || out != "" {
		t.Errorf("bind: exit %d, %q", code, out)
	}
	// Only the image's content is copied, never another volume's: an empty
	// volume mounted inside one with content stays empty.
	outer, inner := mustVolume(t, rt, "outer"), mustVolume(t, rt, "inner")
	if err := os.MkdirAll(filepath.Join(outer.Mountpoint(), "in", "seed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runIn(t, rt, "copyup:test", "ls -A /o/in", WithVolume(outer, "/o"), WithVolume(inner, "/o/in")); code != 0 || out != "" {
		t.Errorf("nested volume: exit %d, %q", code, out)
	}
	if _, err := rt.CreateVolume(ctx, "x"); err == nil {
		t.Error("one-letter name accepted")
	}
}

func checkStat(t *testing.T, p string, mode fs.FileMode, uid, gid uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func volXattr(p, key string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, key, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func TestVolumeAnonymousFromImage(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	volumeImage(t, rt, "vols:test", []testutil.File{
		{Name: "cache/", Type: tar.TypeDir},
		{Name: "cache/seed", Body: []byte("seed")},
	}, "/cache", "/logs")
	ctx := t.Context()
	c, err := rt.Create(ctx, "vols:test", WithCmd("sh", "-c", "cat /cache/seed"))
	if err != nil {
		t.Fatal(err)
	}
	mounts := inspect(t, c).Mounts
	if len(mounts) != 2 || mounts[0].Destination != "/cache" || mounts[1].Destination != "/logs" {
		t.Fatalf("Mounts = %+v", mounts)
	}
	var names []string
	for _, m := range mounts {
		v, err := rt.Volume(ctx, m.Name)
		if err != nil || !m.Anonymous || m.Type != MountTypeVolume || !m.RW || len(m.Name) != 64 || !inspect(t, v).Anonymous {
			t.Errorf("mount %+v: volume %v", m, err)
		}
		names = append(names, m.Name)
	}
	// Start's copy-up filled the anonymous volume from the image (as
	// Docker's, at start).
	if data, _ := os.ReadFile(filepath.Join(rt.volumes().Data(names[0]), "seed")); len(data) != 0 {
		t.Errorf("anonymous volume filled before Start: %q", data)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 0 {
		t.Fatalf("cat /cache/seed: %+v %v", st, err)
	}
	if data, _ := os.ReadFile(filepath.Join(rt.volumes().Data(names[0]), "seed")); string(data) != "seed" {
		t.Errorf("anonymous volume content %q", data)
	}
	// Prune keeps volumes in use.
	if rep, err := rt.PruneVolumes(ctx); err != nil || len(rep.VolumesDeleted) != 0 {
		t.Errorf("prune in use: %+v %v", rep, err)
	}
	if err := c.Remove(ctx, WithRemoveVolumes()); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := rt.Volume(ctx, n); !errors.Is(err, ErrNotFound) {
			t.Errorf("anonymous volume %s after Remove(WithRemoveVolumes): %v", n[:12], err)
		}
	}

	// A volume, bind or tmpfs at a VOLUME path replaces the anonymous one.
	named := mustVolume(t, rt, "named")
	c2, err := rt.Create(ctx, "vols:test", WithVolume(named, "/cache"), WithTmpfs("/logs", "size=1m"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(ctx)
	if m := inspect(t, c2).Mounts; len(m) != 2 || m[0].Name != "named" || m[1].Type != MountTypeTmpfs {
		t.Errorf("Mounts = %+v", m)
	}

	// Without WithRemoveVolumes they stay, until PruneVolumes.
	c3, err := rt.Run(ctx, "vols:test", WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	anon := inspect(t, c3).Mounts
	if err := c3.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := rt.PruneVolumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{anon[0].Name, anon[1].Name}
	slices.Sort(want)
	if !slices.Equal(rep.VolumesDeleted, want) || rep.SpaceReclaimed != 4 {
		t.Errorf("prune: %+v, want %q and 4 bytes", rep, want)
	}
	// "named" is in use by c2; an unused named volume goes only with WithAllVolumes.
	mustVolume(t, rt, "unused")
	if rep, err := rt.PruneVolumes(ctx); err != nil || len(rep.VolumesDeleted) != 0 {
		t.Errorf("prune named: %+v %v", rep, err)
	}
	if rep, err := rt.PruneVolumes(ctx, WithAllVolumes()); err != nil || !slices.Equal(rep.VolumesDeleted, []string{"unused"}) {
		t.Errorf("prune --all: %+v %v", rep, err)
	}
}

func TestVolumeAutoRemoveDeletesAnonymous(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	volumeImage(t, rt, "vols:test", nil, "/cache")
	c, err := rt.Run(t.Context(), "vols:test", WithCmd("true"), WithAutoRemove())
	if err != nil {
		t.Fatal(err)
	}
	name := inspect(t, c).Mounts[0].Name
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The removal runs after Wait returns: poll for its effect.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := rt.Volume(t.Context(), name)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("anonymous volume still there after --rm: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBindMounts(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, c := runIn(t, rt, "busybox:test", "cat /mnt/in; echo back > /mnt/out", WithBind(dir, "/mnt"))
	if code != 0 || out != "from host" {
		t.Errorf("rw bind: exit %d, %q", code, out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "out")); string(data) != "back\n" {
		t.Errorf("host sees %q", data)
	}
	want := MountPoint{Type: MountTypeBind, Source: dir, Destination: "/mnt", RW: true, Propagation: "rprivate"}
	if m := inspect(t, c).Mounts; len(m) != 1 || m[0] != want {
		t.Errorf("Mounts = %+v, want %+v", m, want)
	}
	code, out, _ = runIn(t, rt, "busybox:test", "cat /mnt/in; touch /mnt/x; echo y > /f/in",
		WithBind(dir, "/mnt", WithReadOnly()), WithBind(filepath.Join(dir, "in"), "/f/in", WithReadOnly()))
	if code == 0 || strings.Count(out, "Read-only file system") != 2 {
		t.Errorf("ro bind: exit %d, %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("ro bind was written")
	}
	for name, opt := range map[string]RunOption{
		"relative": WithBind("rel/path", "/mnt"),
		"missing":  WithBind(filepath.Join(dir, "nope"), "/mnt"),
		"target":   WithBind(dir, "mnt"),
		"root":     WithBind(dir, "/"),
		"prop":     WithBind(dir, "/mnt", WithPropagation("weird")),
		"volprop":  WithVolume(&Volume{rt: rt, meta: volumes.Meta{Name: "v1"}}, "/mnt", WithPropagation("rslave")),
		"nil":      WithVolume(nil, "/mnt"),
	} {
		if _, err := rt.Create(t.Context(), "busybox:test", opt); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := rt.Create(t.Context(), "busybox:test", WithBind(dir, "/mnt"), WithBind(dir, "/mnt/")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("duplicate target: %v", err)
	}
}

func TestBindPropagationSlave(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// The host's mounts may be private: make dir a shared mount of its
	// own, so that the container's slave bind has a master.
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "1000"), WithBind(dir, "/mnt", WithPropagation("rslave")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context(), WithForce())
	// A mount made on the host afterwards shows in the container: in the
	// test's own mount namespace it would not reach the host anyway.
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "late"), []byte("late"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if res, err := c.Exec(t.Context(), []string{"cat", "/mnt/sub/late"}, WithExecStdout(&out), WithExecStderr(&out)); err != nil || res.ExitCode != 0 || out.String() != "late" {
		t.Errorf("rslave bind: %+v %v %q", res, err, out.String())
	}
}

func TestTmpfsSize(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	code, out, c := runIn(t, rt, "busybox:test", "grep ' /scratch ' /proc/mounts", WithTmpfs("/scratch", "size=64m,mode=750"))
	if code != 0 || !strings.HasPrefix(out, "tmpfs /scratch tmpfs ") || !strings.Contains(out, "size=65536k") || !strings.Contains(out, "mode=750") {
		t.Errorf("exit %d, %q", code, out)
	}
	if m := inspect(t, c).Mounts; len(m) != 1 || m[0] != (MountPoint{Type: MountTypeTmpfs, Destination: "/scratch", RW: true}) {
		t.Errorf("Mounts = %+v", m)
	}
	// The size is enforced.
	code, out, _ = runIn(t, rt, "busybox:test", "dd if=/dev/zero of=/scratch/f bs=1M count=3", WithTmpfs("/scratch", "size=1m"))
	if code == 0 || !strings.Contains(out, "No space left") {
		t.Errorf("over size: exit %d, %q", code, out)
	}
}

// TestVolumeSymlinkEscape mounts at image paths that are symlinks out of
// the root filesystem: the mount lands inside it, never on the host.
func TestVolumeSymlinkEscape(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	volumeImage(t, rt, "evil:test", []testutil.File{
		{Name: "data", Type: tar.TypeSymlink, Linkname: "/../../../tmp/hull-escape"},
		{Name: "rel", Type: tar.TypeSymlink, Linkname: "../../../../../tmp/hull-escape-rel"},
		{Name: "etcdata", Type: tar.TypeSymlink, Linkname: "/../../etc"},
	})
	vol := mustVolume(t, rt, "target")
	dir := t.TempDir()
	marker := "marker-" + filepath.Base(dir)
	code, out, _ := runIn(t, rt, "evil:test", "echo in > /data/"+marker+" && echo bind > /rel/"+marker,
		WithVolume(vol, "/data"), WithBind(dir, "/rel"))
	if code != 0 {
		t.Fatalf("exit %d, %q", code, out)
	}
	if data, err := os.ReadFile(filepath.Join(vol.Mountpoint(), marker)); err != nil || string(data) != "in\n" {
		t.Errorf("volume content: %q, %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, marker)); err != nil || string(data) != "bind\n" {
		t.Errorf("bind content: %q, %v", data, err)
	}
	// A symlink inside a mounted volume (written by an earlier container)
	// is resolved inside the rootfs too, for a mount nested below it.
	if err := os.Symlink("/../../../../tmp/hull-escape-nested", filepath.Join(vol.Mountpoint(), "sub")); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runIn(t, rt, "evil:test", "echo nested > /data/sub/"+marker, WithVolume(vol, "/data"), WithBind(dir, "/data/sub"))
	if code != 0 {
		t.Fatalf("nested: exit %d, %q", code, out)
	}
	if data, err := os.ReadFile(filepath.Join(dir, marker)); err != nil || string(data) != "nested\n" {
		t.Errorf("nested bind content: %q, %v", data, err)
	}
	// A symlink to /../../etc is the container's /etc: the volume covers
	// it (filled from the image's /etc first), never the host's.
	etcVol := mustVolume(t, rt, "etcvol")
	code, out, _ = runIn(t, rt, "evil:test", "echo etc > /etcdata/"+marker+" && cat /etc/"+marker, WithVolume(etcVol, "/etcdata"))
	if code != 0 || out != "etc\n" {
		t.Fatalf("etc: exit %d, %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(etcVol.Mountpoint(), marker)); err != nil {
		t.Errorf("etc volume: %v", err)
	}
	for _, p := range []string{"/tmp/hull-escape", "/tmp/hull-escape-rel", "/tmp/hull-escape-nested", "/etc/" + marker} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists on the host: %v", p, err)
		}
	}
}

// fillVolume writes a tree with every kind of entry and metadata into dir.
func fillVolume(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a/b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a/file"), []byte("content"), 0o640))
	must(os.Chown(filepath.Join(dir, "a/file"), 1000, 2000))
	must(os.Chmod(filepath.Join(dir, "a/b"), 0o1777))
	must(os.Chown(filepath.Join(dir, "a/b"), 33, 33))
	must(os.WriteFile(filepath.Join(dir, "a/b/suid"), bytes.Repeat([]byte("x"), 100000), 0o755))
	must(os.Chmod(filepath.Join(dir, "a/b/suid"), 0o4755))
	must(os.Link(filepath.Join(dir, "a/file"), filepath.Join(dir, "hard")))
	must(os.Symlink("a/file", filepath.Join(dir, "sym")))
	must(os.Symlink("/nowhere", filepath.Join(dir, "dangling")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	must(unix.Lsetxattr(filepath.Join(dir, "a/file"), "user.note", []byte("kept"), 0))
	must(os.Chmod(dir, 0o700))
	must(os.Chown(dir, 5, 6))
	old := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	for _, p := range []string{"a/file", "a/b/suid", "a/b", "a", "."} {
		must(os.Chtimes(filepath.Join(dir, p), old, old))
	}
}

// treeSummary describes every entry of a tree: type, mode, owner, size,
// content checksum, link target, xattrs, mtime and hardlink group.
func treeSummary(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s %o %d:%d %d mtime=%d", rel, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Nano())
		switch {
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			line += " sha256=" + hex.EncodeToString(sum[:8])
			if first, ok := inodes[st.Ino]; ok {
				line += " hardlink=" + first
			}
			inodes[st.Ino] = rel
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		if v, err := volXattr(p, "user.note"); err == nil {
			line += " user.note=" + v
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVolumeExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	src := mustVolume(t, rt, "src")
	fillVolume(t, src.Mountpoint())
	var tar1 bytes.Buffer
	if err := src.Export(ctx, &tar1); err != nil {
		t.Fatal(err)
	}
	dst, err := rt.ImportVolume(ctx, "dst", bytes.NewReader(tar1.Bytes()), WithVolumeLabels(map[string]string{"restored": "yes"}))
	if err != nil {
		t.Fatal(err)
	}
	if inspect(t, dst).Labels["restored"] != "yes" || inspect(t, dst).Anonymous {
		t.Errorf("imported volume %+v", inspect(t, dst))
	}
	want, got := treeSummary(t, src.Mountpoint()), treeSummary(t, dst.Mountpoint())
	if !slices.Equal(want, got) {
		t.Errorf("imported tree differs:\n got %q\nwant %q", got, want)
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "hard ") && strings.Contains(s, "hardlink=a/file") }) {
		t.Errorf("no hardlink in %q", got)
	}
	// Exporting the copy gives the same bytes.
	var tar2 bytes.Buffer
	if err := dst.Export(ctx, &tar2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tar1.Bytes(), tar2.Bytes()) {
		t.Errorf("export of the import differs: %d vs %d bytes", tar1.Len(), tar2.Len())
	}
	// A name in use is refused, and an anonymous import gets a name.
	if _, err := rt.ImportVolume(ctx, "src", bytes.NewReader(tar1.Bytes())); !errors.Is(err, ErrConflict) {
		t.Errorf("import over existing: %v", err)
	}
	anon, err := rt.ImportVolume(ctx, "", bytes.NewReader(tar1.Bytes()))
	if err != nil || !inspect(t, anon).Anonymous {
		t.Fatalf("anonymous import: %v", err)
	}
	// And a container sees the imported content.
	volumeImage(t, rt, "busybox:test", nil)
	if code, out, _ := runIn(t, rt, "busybox:test", "cat /v/hard", WithVolume(dst, "/v", WithReadOnly())); code != 0 || out != "content" {
		t.Errorf("container read: exit %d, %q", code, out)
	}
}

func TestVolumeExportRefusesLiveWriter(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	vol := mustVolume(t, rt, "busy")
	c, err := rt.Run(ctx, "busybox:test", WithCmd("sleep", "1000"), WithVolume(vol, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(ctx, WithForce())
	if err := vol.Export(ctx, io.Discard); !errors.Is(err, ErrConflict) {
		t.Errorf("export with a running writer: %v, want ErrConflict", err)
	}
	if err := vol.Export(ctx, io.Discard, WithLiveExport()); err != nil {
		t.Errorf("live export: %v", err)
	}
	// A read-only user does not block it.
	ro := mustVolume(t, rt, "ro-user")
	c2, err := rt.Run(ctx, "busybox:test", WithCmd("sleep", "1000"), WithVolume(ro, "/data", WithReadOnly()))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(ctx, WithForce())
	if err := ro.Export(ctx, io.Discard); err != nil {
		t.Errorf("export with a read-only user: %v", err)
	}
	if err := c.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := vol.Export(ctx, io.Discard); err != nil {
		t.Errorf("export after stop: %v", err)
	}
}

func TestVolumeImportHostile(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	mustVolume(t, rt, "existing")
	before := rootListing(t, rt.cfg.root)
	cases := map[string][]testutil.File{
		"dotdot":        {{Name: "../evil", Body: []byte("x")}},
		"absolute":      {{Name: "/etc/evil", Body: []byte("x")}},
		"through link":  {{Name: "l", Type: tar.TypeSymlink, Linkname: "/etc"}, {Name: "l/evil", Body: []byte("x")}},
		"hardlink out":  {{Name: "h", Type: tar.TypeLink, Linkname: "../../../../etc/passwd"}},
		"hardlink none": {{Name: "h", Type: tar.TypeLink, Linkname: "missing"}},
		"whiteout":      {{Name: "a/.wh.b", Body: nil}},
		"opaque":        {{Name: "a/.wh..wh..opq", Body: nil}},
	}
	for name, files := range cases {
		// A good entry first: it must not survive the refusal.
		files = append([]testutil.File{{Name: "good", Body: []byte("ok")}}, files...)
		_, err := rt.ImportVolume(ctx, "evil", bytes.NewReader(testutil.TarBytes(t, files)))
		if !errors.Is(err, ErrInvalidContent) {
			t.Errorf("%s: %v, want ErrInvalidContent", name, err)
		}
	}
	if _, err := rt.ImportVolume(ctx, "evil", strings.NewReader("not a tar at all, just text that is long enough to fill a header block................................................................................................................................................................................................................................................................................................................................................................................................................................................................................")); err == nil {
		t.Error("garbage imported")
	}
	if _, err := rt.Volume(ctx, "evil"); !errors.Is(err, ErrNotFound) {
		t.Errorf("volume left behind: %v", err)
	}
	if after := rootListing(t, rt.cfg.root); !slices.Equal(before, after) {
		t.Errorf("root changed:\nbefore %q\nafter  %q", before, after)
	}
	if _, err := os.Stat("/etc/evil"); err == nil {
		t.Error("/etc/evil written")
	}
}

func init() {
	// volume-user runs a Detached container that mounts the volume
	// "shared" read-write, prints its ID and returns: the container
	// outlives this child process.
	helperRoles["volume-user"] = func(ctx context.Context, rt *Runtime) error {
		c, err := rt.Run(ctx, "busybox:test", WithCmd("sleep", "600"), WithDetached(), WithNamedVolume("shared", "/d"))
		if err != nil {
			return err
		}
		fmt.Println(c.ID())
		return nil
	}
}

// TestVolumeInUseByOtherProcess: a container another process created
// keeps the volume in use, and a live writer blocks Export.
func TestVolumeInUseByOtherProcess(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	out, err := helperCmd(rt.Root(), "volume-user").Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	c, err := rt.Container(ctx, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(ctx, WithForce())
	vol, err := rt.Volume(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := vol.Remove(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("Remove: %v, want ErrConflict", err)
	}
	if err := vol.Export(ctx, io.Discard); !errors.Is(err, ErrConflict) {
		t.Errorf("Export: %v, want ErrConflict", err)
	}
	if rep, err := rt.PruneVolumes(ctx, WithAllVolumes()); err != nil || len(rep.VolumesDeleted) != 0 {
		t.Errorf("prune: %+v %v", rep, err)
	}
	if err := c.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	if err := vol.Remove(ctx); err != nil {
		t.Errorf("Remove after the container: %v", err)
	}
}

// TestVolumeConcurrentCopyUp starts containers on one empty volume at
// once: the copy-up happens once, whole.
func TestVolumeConcurrentCopyUp(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	volumeImage(t, rt, "copyup:test", copyUpFiles)
	vol := mustVolume(t, rt, "race")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			c, err := rt.Run(t.Context(), "copyup:test", WithCmd("true"), WithVolume(vol, "/srv/app"))
			if c != nil {
				err = errors.Join(err, c.Remove(t.Context(), WithForce()))
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var got []string
	for _, l := range treeSummary(t, vol.Mountpoint()) {
		got = append(got, strings.Fields(l)[0])
	}
	if want := []string{".", "conf", "link", "sub", "sub/s"}; !slices.Equal(got, want) {
		t.Errorf("volume holds %q, want %q", got, want)
	}
}

// TestBindReadOnlyRecursive: a read-only bind makes the mounts below its
// source read-only too.
func TestBindReadOnlyRecursive(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	code, out, _ := runIn(t, rt, "busybox:test", "touch /m/sub/x", WithBind(dir, "/m", WithReadOnly()))
	if code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("exit %d, %q: want a read-only submount", code, out)
	}
}

// TestVolumeStaleDirs: what a crashed create, import or remove left is
// invisible, and PruneVolumes removes it, counting its bytes as
// reclaimed, but not a live import's.
func TestVolumeStaleDirs(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	mustVolume(t, rt, "real")
	for _, d := range []string{".create-1", ".import-2/_data", ".removing-gone/_data"} {
		if err := os.MkdirAll(rt.volumes().Path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A killed import's content.
	if err := os.WriteFile(rt.volumes().Path(".import-2/_data/big"), make([]byte, 300_000), 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := rt.volumes().StartImport()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := os.WriteFile(filepath.Join(live.Data(), "busy"), make([]byte, 100_000), 0o600); err != nil {
		t.Fatal(err)
	}
	if vols, err := rt.Volumes(ctx); err != nil || len(vols) != 1 || vols[0].Name() != "real" {
		t.Errorf("Volumes = %v, %v", vols, err)
	}
	if rep, err := rt.PruneVolumes(ctx); err != nil || len(rep.VolumesDeleted) != 0 || rep.SpaceReclaimed != 300_000 {
		t.Errorf("prune: %+v %v, want 300000 bytes reclaimed (the killed import's)", rep, err)
	}
	ents, _ := os.ReadDir(string(rt.volumes()))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{filepath.Base(filepath.Dir(live.Data())), ".lock", "real"}; !slices.Equal(names, want) {
		t.Errorf("volumes dir holds %q, want %q", names, want)
	}
}

// TestVolumeExportBlocksWriters: while an export runs, no container that
// would write the volume is created or restarted.
func TestVolumeExportBlocksWriters(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	vol := mustVolume(t, rt, "held")
	if err := os.WriteFile(filepath.Join(vol.Mountpoint(), "f"), bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, c := runIn(t, rt, "busybox:test", "true", WithVolume(vol, "/d"))
	if code != 0 {
		t.Fatalf("exit %d, %q", code, out)
	}
	// The export blocks on a pipe nobody reads until the checks are done.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- vol.Export(ctx, pw); pw.Close() }()
	if _, err := pr.Read(make([]byte, 1)); err != nil { // the export has started
		t.Fatal(err)
	}
	if err := c.Start(ctx); !errors.Is(err, ErrConflict) {
		t.Errorf("restart during export: %v, want ErrConflict", err)
	}
	if _, err := rt.Create(ctx, "busybox:test", WithVolume(vol, "/d")); !errors.Is(err, ErrConflict) {
		t.Errorf("create during export: %v, want ErrConflict", err)
	}
	ro, err := rt.Create(ctx, "busybox:test", WithVolume(vol, "/d", WithReadOnly()))
	if err != nil {
		t.Errorf("read-only create during export: %v", err)
	} else {
		ro.Remove(ctx)
	}
	if _, err := io.Copy(io.Discard, pr); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Errorf("restart after export: %v", err)
	}
}

// TestVolumeAutoRemoveOnClose: a --rm container that Close kills takes its
// anonymous volumes along too.
func TestVolumeAutoRemoveOnClose(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt2.Run(t.Context(), "busybox:test", WithCmd("sleep", "1000"), WithAutoRemove(), WithAnonymousVolume("/scratch"))
	if err != nil {
		rt2.Close()
		t.Fatal(err)
	}
	name := inspect(t, c).Mounts[0].Name
	if err := rt2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Volume(t.Context(), name); !errors.Is(err, ErrNotFound) {
		t.Errorf("anonymous volume after Close: %v", err)
	}
}
