//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	digest "github.com/opencontainers/go-digest"
)

func TestPullBusybox(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	for _, docker := range []bool{false, true} {
		img := testutil.BusyboxImage(t)
		img.Docker = docker
		pushed := reg.Push(t, "test/busybox:1", img)
		rt := openTest(t)
		var mu sync.Mutex
		var statuses []string
		got, err := rt.Pull(t.Context(), pushed.Ref, WithProgress(func(p Progress) {
			mu.Lock()
			statuses = append(statuses, p.Status)
			mu.Unlock()
		}))
		if err != nil {
			t.Fatalf("docker=%v: %v", docker, err)
		}
		if got.Digest() != pushed.ManifestDigest || got.ID() != pushed.ConfigDigest.String() {
			t.Errorf("digest/ID = %s/%s, want %s/%s", got.Digest(), got.ID(), pushed.ManifestDigest, pushed.ConfigDigest)
		}
		if tags := got.RepoTags(); !slices.Equal(tags, []string{pushed.Ref}) {
			t.Errorf("RepoTags = %v", tags)
		}
		if !slices.Contains(statuses, "Downloading") || !slices.Contains(statuses, "Pull complete") {
			t.Errorf("progress statuses %v lack Downloading/Pull complete", statuses)
		}
		if got.Size() == 0 || len(got.Layers()) != 1 || got.Layers()[0].DiffID != pushed.DiffIDs[0] {
			t.Errorf("Size %d, Layers %+v", got.Size(), got.Layers())
		}
		if c := got.Config().Cmd; !slices.Equal(c, []string{"sh"}) {
			t.Errorf("Cmd = %v", c)
		}
		rootfs := mountImage(t, rt, got)
		if fi, err := os.Stat(filepath.Join(rootfs, "bin/busybox")); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("bin/busybox: %v %v", fi, err)
		}
		if l, err := os.Readlink(filepath.Join(rootfs, "bin/sh")); err != nil || l != "busybox" {
			t.Errorf("bin/sh -> %q, %v", l, err)
		}
		// Local lookups by tag, digest and ID prefix.
		for _, ref := range []string{pushed.Ref, reg.Host + "/test/busybox@" + pushed.ManifestDigest.String(), digest.Digest(got.ID()).Encoded()[:12], got.ID()} {
			if found, err := rt.Image(t.Context(), ref); err != nil || found.Digest() != got.Digest() {
				t.Errorf("Image(%q) = %v, %v", ref, found, err)
			}
		}
	}
}

// unpackRulesImage is a three-layer image that exercises every unpack rule.
func unpackRulesImage() (testutil.Image, time.Time) {
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 123456789, time.UTC)
	capV3 := string([]byte{0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // cap_net_bind_service
	l1 := []testutil.File{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/config", Body: []byte("v1"), Mode: 0o640, Uid: 1000, Gid: 1001, ModTime: mtime},
		{Name: "etc/gone", Body: []byte("delete me")},
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/suid", Body: []byte("#!"), Mode: 0o4755},
		{Name: "bin/sgid", Body: []byte("#!"), Mode: 0o2755},
		{Name: "bin/capped", Body: []byte("x"), Mode: 0o755, Xattrs: map[string]string{"security.capability": capV3, "user.note": "hello"}},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "data/", Type: tar.TypeDir},
		{Name: "data/original", Body: []byte("lower data")},
		{Name: "data/hardlink", Type: tar.TypeLink, Linkname: "data/original"},
		{Name: "data/link", Type: tar.TypeSymlink, Linkname: "../etc/config"},
		{Name: "opq/", Type: tar.TypeDir},
		{Name: "opq/hidden", Body: []byte("hidden by opaque")},
		{Name: "dev/", Type: tar.TypeDir},
		{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Name: "dev/loop9", Type: tar.TypeBlock, Mode: 0o660, Devmajor: 7, Devminor: 9},
		{Name: "dev/fifo", Type: tar.TypeFifo, Mode: 0o600},
		{Name: "lower/", Type: tar.TypeDir},
		{Name: "lower/target", Body: []byte("from layer one"), Mode: 0o600, Uid: 7},
	}
	l2 := []testutil.File{
		{Name: "etc/.wh.gone", Body: nil},
		{Name: "opq/", Type: tar.TypeDir},
		{Name: "opq/.wh..wh..opq"},
		{Name: "opq/visible", Body: []byte("upper")},
		{Name: "up/", Type: tar.TypeDir},
		{Name: "up/link-to-lower", Type: tar.TypeLink, Linkname: "lower/target"},
	}
	l3 := []testutil.File{
		{Name: "etc/config", Body: []byte("v3"), Mode: 0o600, ModTime: mtime},
		{Name: "etc/.wh.missing-in-lower"}, // harmless whiteout of nothing
	}
	return testutil.Image{Layers: []testutil.Layer{
		{Files: l1, Compression: testutil.Gzip},
		{Files: l2, Compression: testutil.Zstd},
		{Files: l3, Compression: testutil.Uncompressed},
	}}, mtime
}

func TestPullUnpackRules(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	img, mtime := unpackRulesImage()
	pushed := reg.Push(t, "test/rules:1", img)
	rt := openTest(t)
	got, err := rt.Pull(t.Context(), pushed.Ref)
	if err != nil {
		t.Fatal(err)
	}
	root := mountImage(t, rt, got)
	p := func(name string) string { return filepath.Join(root, name) }

	checkFile(t, p("etc/config"), "v3", 0o600, 0, 0)
	if fi, err := os.Lstat(p("etc/config")); err == nil && !fi.ModTime().Equal(mtime.Truncate(time.Second)) {
		t.Errorf("etc/config mtime %v, want %v", fi.ModTime(), mtime)
	}
	if _, err := os.Lstat(p("etc/gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etc/gone should be whited out: %v", err)
	}
	checkMode(t, p("bin/suid"), os.ModeSetuid|0o755)
	checkMode(t, p("bin/sgid"), os.ModeSetgid|0o755)
	checkMode(t, p("tmp"), os.ModeDir|os.ModeSticky|0o777)
	checkXattr(t, p("bin/capped"), "user.note", "hello")
	if v := getXattr(t, p("bin/capped"), "security.capability"); len(v) == 0 {
		t.Errorf("bin/capped lost security.capability")
	}
	checkFile(t, p("data/hardlink"), "lower data", 0o644, 0, 0)
	if sameInode(t, p("data/original"), p("data/hardlink")) == false {
		t.Errorf("data/hardlink is not a hard link of data/original")
	}
	if l, _ := os.Readlink(p("data/link")); l != "../etc/config" {
		t.Errorf("data/link -> %q", l)
	}
	if entries, _ := os.ReadDir(p("opq")); len(entries) != 1 || entries[0].Name() != "visible" {
		t.Errorf("opaque dir shows %v, want only visible", entries)
	}
	checkFile(t, p("up/link-to-lower"), "from layer one", 0o600, 7, 0)
	checkDev(t, p("dev/null"), unix.S_IFCHR, 1, 3)
	checkDev(t, p("dev/loop9"), unix.S_IFBLK, 7, 9)
	checkDev(t, p("dev/fifo"), unix.S_IFIFO, 0, 0)
	// Directory mtimes survive the writing of their children.
	if fi, err := os.Lstat(p("lower")); err != nil || !fi.ModTime().Equal(testutil.Epoch) {
		t.Errorf("lower/ mtime %v, want %v (%v)", fi.ModTime(), testutil.Epoch, err)
	}
}

func checkFile(t *testing.T, path, body string, mode os.FileMode, uid, gid int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || string(data) != body {
		t.Errorf("%s = %q, %v; want %q", path, data, err, body)
		return
	}
	checkMode(t, path, mode)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s owner %d:%d, want %d:%d (%v)", path, st.Uid, st.Gid, uid, gid, err)
	}
}

func checkMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode() != mode {
		t.Errorf("%s mode %v, want %v (%v)", path, fi.Mode(), mode, err)
	}
}

func getXattr(t *testing.T, path, name string) []byte {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		t.Errorf("getxattr %s %s: %v", path, name, err)
		return nil
	}
	return buf[:n]
}

func checkXattr(t *testing.T, path, name, want string) {
	t.Helper()
	if got := getXattr(t, path, name); string(got) != want {
		t.Errorf("%s xattr %s = %q, want %q", path, name, got, want)
	}
}

func sameInode(t *testing.T, a, b string) bool {
	t.Helper()
	var sa, sb unix.Stat_t
	if unix.Lstat(a, &sa) != nil || unix.Lstat(b, &sb) != nil {
		return false
	}
	return sa.Ino == sb.Ino && sa.Dev == sb.Dev
}

func checkDev(t *testing.T, path string, typ uint32, major, minor uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if st.Mode&unix.S_IFMT != typ || unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor {
		t.Errorf("%s: type %o dev %d:%d, want %o %d:%d", path, st.Mode&unix.S_IFMT, unix.Major(st.Rdev), unix.Minor(st.Rdev), typ, major, minor)
	}
}

func TestPullIndexPlatform(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	mk := func(arch, variant, marker string) testutil.Image {
		return testutil.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant},
			Layers:   []testutil.Layer{{Files: []testutil.File{{Name: "arch", Body: []byte(marker)}}, Compression: testutil.Gzip}},
		}
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for _, docker := range []bool{false, true} {
		idx, children := reg.PushIndex(t, "test/multi:1", []testutil.Image{
			mk("s390x", "", "s390x"), mk(runtime.GOARCH, manifest.HostPlatform().Variant, "host"), mk(other, "", "other"),
		}, docker)
		rt := openTest(t)
		img, err := rt.Pull(t.Context(), idx.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest() != children[1].ManifestDigest {
			t.Errorf("docker=%v: host pull chose %s, want %s", docker, img.Digest(), children[1].ManifestDigest)
		}
		if rd := img.RepoDigests(); len(rd) != 1 || rd[0] != reg.Host+"/test/multi@"+idx.ManifestDigest.String() {
			t.Errorf("RepoDigests = %v, want the index digest", rd)
		}
		img, err = rt.Pull(t.Context(), idx.Ref, WithPlatform("linux/"+other))
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest() != children[2].ManifestDigest || img.Platform().Architecture != other {
			t.Errorf("WithPlatform chose %s (%s)", img.Digest(), img.Platform().Architecture)
		}
		if _, err := rt.Pull(t.Context(), idx.Ref, WithPlatform("windows/mips")); !errors.Is(err, ErrNotFound) {
			t.Errorf("absent platform: %v, want ErrNotFound", err)
		}
	}
}

func TestPullSkipsStoredContent(t *testing.T) {
	t.Parallel()
	counts, count := testutil.CountRequests()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(count))
	base := testutil.BusyboxImage(t)
	pushed := reg.Push(t, "test/base:1", base)
	derived := base
	derived.Layers = append(slices.Clone(base.Layers), testutil.Layer{Files: []testutil.File{{Name: "app", Body: bytes.Repeat([]byte("a"), 4096)}}, Compression: testutil.Gzip})
	pushed2 := reg.Push(t, "test/derived:1", derived)
	rt := openTest(t)
	if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
		t.Fatal(err)
	}
	counts.Reset()
	if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
		t.Fatal(err)
	}
	if n := counts.BlobGets(pushed.LayerDigests[0].String()); n != 0 {
		t.Errorf("second pull fetched the layer %d times", n)
	}
	if _, err := rt.Pull(t.Context(), pushed2.Ref); err != nil {
		t.Fatal(err)
	}
	if n := counts.BlobGets(pushed2.LayerDigests[0].String()); n != 0 {
		t.Errorf("shared base layer fetched %d times", n)
	}
	if n := counts.BlobGets(pushed2.LayerDigests[1].String()); n != 1 {
		t.Errorf("new layer fetched %d times, want 1", n)
	}
}
