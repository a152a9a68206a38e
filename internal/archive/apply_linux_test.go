package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// capNetBindService is a VFS_CAP_REVISION_2 security.capability value granting
// CAP_NET_BIND_SERVICE (effective).
func capNetBindService() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000001)
	binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_NET_BIND_SERVICE)
	return string(b)
}

var atime = time.Unix(1600000000, 987654321)

func owned(e ent, uid, gid int) ent { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }

// withXattrs adds SCHILY.xattr PAX records: key, value, key, value...
func withXattrs(e ent, kv ...string) ent {
	e.hdr.PAXRecords = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		e.hdr.PAXRecords["SCHILY.xattr."+kv[i]] = kv[i+1]
	}
	return e
}

func device(name string, typ byte, major, minor int64) ent {
	return ent{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o620, Devmajor: major, Devminor: minor, ModTime: mtime}}
}

// applyTests are the layer semantics TestApply checks, each on a fresh layer directory.
var applyTests = []struct {
	name    string
	entries []ent
	check   func(t *testing.T, dir string, res Result)
}{{
	name: "regular file with owner, mode and nanosecond times",
	entries: []ent{func() ent {
		e := owned(file("etc/motd", "hello\n", 0o640), 1000, 1001)
		e.hdr.AccessTime = atime
		return e
	}()},
	check: func(t *testing.T, dir string, res Result) {
		p := filepath.Join(dir, "etc/motd")
		// Before reading the file, which updates its atime.
		if st := lstat(t, p); !time.Unix(st.Atim.Unix()).Equal(atime) {
			t.Errorf("atime %v, want %v", time.Unix(st.Atim.Unix()), atime)
		}
		if got := readFile(t, p); got != "hello\n" {
			t.Errorf("content %q", got)
		}
		wantMode(t, p, unix.S_IFREG, 0o640)
		wantOwner(t, p, 1000, 1001)
		wantMtime(t, p, mtime)
		// etc was not in the tar: created 0755, root.
		wantMode(t, filepath.Join(dir, "etc"), unix.S_IFDIR, 0o755)
		wantOwner(t, filepath.Join(dir, "etc"), 0, 0)
		if res.Size != 6 {
			t.Errorf("Size %d, want 6", res.Size)
		}
	},
}, {
	name: "setuid, setgid and sticky bits survive chown",
	entries: []ent{
		owned(file("bin/su", "elf", 0o4755), 1000, 1000),
		owned(file("bin/wall", "elf", 0o2755), 0, 5),
		owned(dirEnt("srv", 0o2775), 0, 50),
		dirEnt("tmp", 0o1777),
	},
	check: func(t *testing.T, dir string, _ Result) {
		wantMode(t, filepath.Join(dir, "bin/su"), unix.S_IFREG, 0o4755)
		wantMode(t, filepath.Join(dir, "bin/wall"), unix.S_IFREG, 0o2755)
		wantMode(t, filepath.Join(dir, "srv"), unix.S_IFDIR, 0o2775)
		wantMode(t, filepath.Join(dir, "tmp"), unix.S_IFDIR, 0o1777)
	},
}, {
	name:    "directory",
	entries: []ent{owned(dirEnt("var/lib/app/", 0o700), 5, 6)},
	check: func(t *testing.T, dir string, _ Result) {
		p := filepath.Join(dir, "var/lib/app")
		wantMode(t, p, unix.S_IFDIR, 0o700)
		wantOwner(t, p, 5, 6)
		wantMtime(t, p, mtime)
	},
}, {
	name:    "symlink keeps its target, owner and times",
	entries: []ent{owned(symlinkEnt("usr/bin/python", "/usr/bin/python3"), 7, 8)},
	check: func(t *testing.T, dir string, _ Result) {
		p := filepath.Join(dir, "usr/bin/python")
		if got, err := os.Readlink(p); err != nil || got != "/usr/bin/python3" {
			t.Errorf("readlink: %q, %v", got, err)
		}
		wantOwner(t, p, 7, 8)
		wantMtime(t, p, mtime)
	},
}, {
	name:    "hardlink within the layer shares the inode",
	entries: []ent{file("bin/bash", "sh", 0o755), hardlinkEnt("bin/sh", "bin/bash"), hardlinkEnt("./bin/rbash", "./bin/bash")},
	check: func(t *testing.T, dir string, res Result) {
		a, b := lstat(t, filepath.Join(dir, "bin/bash")), lstat(t, filepath.Join(dir, "bin/sh"))
		if a.Ino != b.Ino || a.Nlink != 3 {
			t.Errorf("inodes %d, %d (nlink %d): want one inode, 3 links", a.Ino, b.Ino, a.Nlink)
		}
		if len(res.PendingLinks) != 0 || res.Size != 2 {
			t.Errorf("result %+v: want no pending links, size 2", res)
		}
	},
}, {
	name: "devices and fifo",
	entries: []ent{
		device("dev/null", tar.TypeChar, 1, 3),
		device("dev/loop0", tar.TypeBlock, 7, 0),
		device("run/fifo", tar.TypeFifo, 0, 0),
	},
	check: func(t *testing.T, dir string, _ Result) {
		for _, c := range []struct {
			name     string
			typ      uint32
			dev      uint64
			wantPerm uint32
		}{{"dev/null", unix.S_IFCHR, unix.Mkdev(1, 3), 0o620}, {"dev/loop0", unix.S_IFBLK, unix.Mkdev(7, 0), 0o620}, {"run/fifo", unix.S_IFIFO, 0, 0o620}} {
			p := filepath.Join(dir, c.name)
			wantMode(t, p, c.typ, c.wantPerm)
			if st := lstat(t, p); st.Rdev != c.dev {
				t.Errorf("%s: rdev %x, want %x", c.name, st.Rdev, c.dev)
			}
		}
	},
}, {
	name: "xattrs, but never overlayfs's own",
	entries: []ent{
		withXattrs(owned(file("bin/ping", "elf", 0o755), 0, 0),
			"security.capability", capNetBindService(), "user.origin", "test",
			"trusted.overlay.redirect", "/etc"),
		withXattrs(dirEnt("forged", 0o755), "trusted.overlay.opaque", "y", "user.overlay.opaque", "y", "user.kept", "1"),
	},
	check: func(t *testing.T, dir string, _ Result) {
		p := filepath.Join(dir, "bin/ping")
		if v, ok := xattr(t, p, "security.capability"); !ok || v != capNetBindService() {
			t.Errorf("security.capability %x, %v", v, ok)
		}
		if v, _ := xattr(t, p, "user.origin"); v != "test" {
			t.Errorf("user.origin %q", v)
		}
		for _, k := range []string{"trusted.overlay.redirect", "trusted.overlay.opaque", "user.overlay.opaque"} {
			for _, name := range []string{"bin/ping", "forged"} {
				if _, ok := xattr(t, filepath.Join(dir, name), k); ok {
					t.Errorf("%s has %s from the tar", name, k)
				}
			}
		}
		if v, _ := xattr(t, filepath.Join(dir, "forged"), "user.kept"); v != "1" {
			t.Errorf("user.kept %q", v)
		}
	},
}, {
	name: "a later entry replaces an earlier one",
	entries: []ent{
		file("a", "file", 0o644), symlinkEnt("a", "target"),
		dirEnt("b", 0o755), file("b/child", "x", 0o644), file("b", "now a file", 0o600),
		file("c", "file", 0o644), dirEnt("c", 0o750),
		symlinkEnt("d", "/etc"), file("d", "over the symlink", 0o644),
		file("e", "old", 0o644), file("e", "new", 0o600),
	},
	check: func(t *testing.T, dir string, res Result) {
		if got, _ := os.Readlink(filepath.Join(dir, "a")); got != "target" {
			t.Errorf("a -> %q", got)
		}
		wantMode(t, filepath.Join(dir, "b"), unix.S_IFREG, 0o600)
		wantMode(t, filepath.Join(dir, "c"), unix.S_IFDIR, 0o750)
		if got := readFile(t, filepath.Join(dir, "d")); got != "over the symlink" {
			t.Errorf("d = %q", got)
		}
		if got := readFile(t, filepath.Join(dir, "e")); got != "new" {
			t.Errorf("e = %q", got)
		}
	},
}, {
	name:    "a directory entry over a directory only updates metadata",
	entries: []ent{dirEnt("x", 0o755), file("x/keep", "k", 0o644), owned(dirEnt("x", 0o700), 3, 3)},
	check: func(t *testing.T, dir string, _ Result) {
		wantMode(t, filepath.Join(dir, "x"), unix.S_IFDIR, 0o700)
		wantOwner(t, filepath.Join(dir, "x"), 3, 3)
		if got := readFile(t, filepath.Join(dir, "x/keep")); got != "k" {
			t.Errorf("x/keep = %q", got)
		}
	},
}, {
	name:    "whiteouts become character devices 0:0",
	entries: []ent{dirEnt("etc", 0o755), owned(marker("etc/.wh.gone"), 1, 1), marker("etc/.wh..wh.plnk"), marker(".wh.top")},
	check: func(t *testing.T, dir string, _ Result) {
		for _, name := range []string{"etc/gone", "top"} {
			p := filepath.Join(dir, name)
			if !isWhiteoutAt(t, p) {
				t.Errorf("%s is not a whiteout", name)
			}
			wantOwner(t, p, 0, 0)
		}
		requireAbsent(t, filepath.Join(dir, "etc/.wh.gone"))
		requireAbsent(t, filepath.Join(dir, "etc/.wh..wh.plnk"))
		requireAbsent(t, filepath.Join(dir, "etc/plnk"))
	},
}, {
	name:    "opaque directories get trusted.overlay.opaque",
	entries: []ent{dirEnt("data", 0o755), marker("data/.wh..wh..opq"), file("data/new", "n", 0o644), marker("missing/.wh..wh..opq")},
	check: func(t *testing.T, dir string, _ Result) {
		for _, name := range []string{"data", "missing"} {
			if v, _ := xattr(t, filepath.Join(dir, name), opaqueXattr); v != "y" {
				t.Errorf("%s: opaque %q, want y", name, v)
			}
		}
		requireAbsent(t, filepath.Join(dir, "data/.wh..wh..opq"))
		wantMode(t, filepath.Join(dir, "missing"), unix.S_IFDIR, 0o755)
	},
}, {
	name: "a whiteout replaces an earlier entry; a directory recreated after one is opaque",
	entries: []ent{
		file("x", "x", 0o644), marker(".wh.x"),
		dirEnt("y", 0o755), file("y/child", "c", 0o644), marker(".wh.y"),
		marker(".wh.z"), dirEnt("z", 0o755),
		marker(".wh.w"), file("w/inside", "i", 0o644),
	},
	check: func(t *testing.T, dir string, _ Result) {
		for _, name := range []string{"x", "y"} {
			if !isWhiteoutAt(t, filepath.Join(dir, name)) {
				t.Errorf("%s is not a whiteout", name)
			}
		}
		for _, name := range []string{"z", "w"} {
			if v, _ := xattr(t, filepath.Join(dir, name), opaqueXattr); v != "y" {
				t.Errorf("%s: opaque %q, want y", name, v)
			}
		}
	},
}, {
	name: "directory times are set after their children",
	entries: []ent{
		dirEnt("d", 0o755), dirEnt("d/sub", 0o755), file("d/f", "f", 0o644),
		file("d/sub/f", "f", 0o644), marker("d/.wh.old"), symlinkEnt("d/sub/l", "f"),
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: mtime}},
	},
	check: func(t *testing.T, dir string, _ Result) {
		for _, name := range []string{"", "d", "d/sub"} {
			wantMtime(t, filepath.Join(dir, name), mtime)
		}
	},
}, {
	name: "hardlinks to other layers are pending until ResolveLinks",
	entries: []ent{
		hardlinkEnt("bin/sh", "bin/bash"),
		hardlinkEnt("replaced", "lower"), file("replaced", "r", 0o644),
		hardlinkEnt("gone/link", "lower"), marker(".wh.gone"),
		hardlinkEnt("usr/bin/sh", "usr/bin/dash"),
	},
	check: func(t *testing.T, dir string, res Result) {
		want := []Link{{"bin/sh", "bin/bash"}, {"usr/bin/sh", "usr/bin/dash"}}
		if !slices.Equal(res.PendingLinks, want) {
			t.Errorf("PendingLinks %v, want %v", res.PendingLinks, want)
		}
		requireAbsent(t, filepath.Join(dir, "bin/sh"))
		wantMode(t, filepath.Join(dir, "bin"), unix.S_IFDIR, 0o755)
	},
}, {
	name: "unsupported entry types are skipped",
	entries: []ent{
		{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "global", PAXRecords: map[string]string{"comment": "c"}}},
		file("kept", "k", 0o644),
	},
	check: func(t *testing.T, dir string, _ Result) {
		requireAbsent(t, filepath.Join(dir, "global"))
		if got := readFile(t, filepath.Join(dir, "kept")); got != "k" {
			t.Errorf("kept = %q", got)
		}
	},
}}

func TestApply(t *testing.T) {
	requireRoot(t)
	for _, tt := range applyTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			res := applyTar(t, dir, tt.entries...)
			tt.check(t, dir, res)
		})
	}
}

func TestApplyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tarball := makeTar(t, file("f", "x", 0o644))
	_, err := Apply(ctx, t.TempDir(), bytes.NewReader(tarball), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply: %v, want context.Canceled", err)
	}
}

func TestApplyTruncated(t *testing.T) {
	requireRoot(t)
	tarball := makeTar(t, file("big", string(make([]byte, 4096)), 0o644))
	_, err := Apply(t.Context(), t.TempDir(), bytes.NewReader(tarball[:512+1000]), Options{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Apply: %v, want io.ErrUnexpectedEOF", err)
	}
}

// A digest verifier wrapping the reader must see every byte, padding included.
func TestApplyReadsToEOF(t *testing.T) {
	requireRoot(t)
	tarball := append(makeTar(t, file("f", "x", 0o644)), make([]byte, 10240)...)
	r := bytes.NewReader(tarball)
	if _, err := Apply(t.Context(), t.TempDir(), r, Options{}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
}
