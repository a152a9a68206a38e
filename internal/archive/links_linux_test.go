package archive

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestResolveLinks(t *testing.T) {
	requireRoot(t)
	// bottom <- middle <- top (the layer being resolved).
	bottom := []ent{
		file("bin/bash", "bash", 0o755), file("both", "bottom", 0o644),
		file("deleted/f", "f", 0o644), file("opaque/f", "f", 0o644),
		file("hidden-by-file/f", "f", 0o644), file("real/f", "f", 0o644),
		file("here/f", "f", 0o644),
	}
	middle := []ent{
		file("both", "middle", 0o644), marker(".wh.deleted"), marker("opaque/.wh..wh..opq"),
		file("hidden-by-file", "file", 0o644), symlinkEnt("sym", "real"), file("usr/f", "f", 0o644),
	}
	tests := []struct {
		name    string
		top     []ent // entries of the top layer besides the link
		link    Link
		from    string // the layer ("middle" or "bottom") whose file the link must be
		wantErr error
	}{
		{name: "in the layer below", link: Link{"sh", "usr/f"}, from: "middle"},
		{name: "two layers down", link: Link{"bin/sh", "bin/bash"}, from: "bottom"},
		{name: "the upper copy wins", link: Link{"l", "both"}, from: "middle"},
		{name: "deleted by a whiteout", link: Link{"l", "deleted/f"}, wantErr: fs.ErrNotExist},
		{name: "hidden by an opaque directory", link: Link{"l", "opaque/f"}, wantErr: fs.ErrNotExist},
		{name: "hidden by a file", link: Link{"l", "hidden-by-file/f"}, wantErr: fs.ErrNotExist},
		{name: "deleted in the layer itself", top: []ent{marker("here/.wh.f")}, link: Link{"l", "here/f"}, wantErr: fs.ErrNotExist},
		{name: "absent", link: Link{"l", "nowhere"}, wantErr: fs.ErrNotExist},
		{name: "escaping target", link: Link{"l", "../bottom/bin/bash"}, wantErr: ErrUnsafe},
		{name: "escaping name", link: Link{"../l", "bin/bash"}, wantErr: ErrUnsafe},
		{name: "target through a symlink", link: Link{"l", "sym/f"}, wantErr: ErrUnsafe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			layers := map[string]string{"top": t.TempDir(), "middle": t.TempDir(), "bottom": t.TempDir()}
			applyTar(t, layers["bottom"], bottom...)
			applyTar(t, layers["middle"], middle...)
			applyTar(t, layers["top"], tt.top...)
			err := ResolveLinks(layers["top"], []Link{tt.link}, []string{layers["middle"], layers["bottom"]})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ResolveLinks: %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, want := lstat(t, filepath.Join(layers["top"], tt.link.Name)), lstat(t, filepath.Join(layers[tt.from], tt.link.Target))
			if got.Ino != want.Ino {
				t.Errorf("link is inode %d, want %d from the %s layer", got.Ino, want.Ino, tt.from)
			}
		})
	}
}

// An Apply result feeds ResolveLinks, and resolving twice is harmless.
func TestResolveLinksFromApply(t *testing.T) {
	requireRoot(t)
	lower, upper := t.TempDir(), t.TempDir()
	applyTar(t, lower, file("bin/bash", "bash", 0o755))
	res := applyTar(t, upper, dirEnt("bin", 0o755), hardlinkEnt("bin/sh", "bin/bash"), hardlinkEnt("bin/rbash", "bin/sh"))
	if want := []Link{{"bin/sh", "bin/bash"}, {"bin/rbash", "bin/sh"}}; !slices.Equal(res.PendingLinks, want) {
		t.Fatalf("PendingLinks %v, want %v", res.PendingLinks, want)
	}
	for range 2 {
		if err := ResolveLinks(upper, res.PendingLinks, []string{lower}); err != nil {
			t.Fatal(err)
		}
	}
	wantMtime(t, filepath.Join(upper, "bin"), mtime)
	want := lstat(t, filepath.Join(lower, "bin/bash"))
	for _, name := range []string{"bin/sh", "bin/rbash"} {
		if st := lstat(t, filepath.Join(upper, name)); st.Ino != want.Ino {
			t.Errorf("%s: inode %d, want %d", name, st.Ino, want.Ino)
		}
	}
}

// copyNode is the fallback when layers are on different filesystems (EXDEV).
func TestCopyNode(t *testing.T) {
	requireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	f := file("f", "content", 0o4750)
	f.hdr.Uid, f.hdr.Gid = 1000, 1001
	f.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": capNetBindService()}
	applyTar(t, src, f, symlinkEnt("l", "f"), ent{hdr: fifoHeader("p")})
	if err := unix.Lsetxattr(filepath.Join(src, "f"), "trusted.overlay.origin", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f", "l", "p"} {
		s, d := filepath.Join(src, name), filepath.Join(dst, name)
		if err := copyNode(s, d); err != nil {
			t.Fatalf("copyNode %s: %v", name, err)
		}
		ss, ds := lstat(t, s), lstat(t, d)
		if ss.Mode != ds.Mode || ss.Uid != ds.Uid || ss.Gid != ds.Gid || ss.Mtim != ds.Mtim || ss.Ino == ds.Ino {
			t.Errorf("%s: copy mode %o %d:%d mtime %v, want mode %o %d:%d mtime %v in a new inode",
				name, ds.Mode, ds.Uid, ds.Gid, ds.Mtim, ss.Mode, ss.Uid, ss.Gid, ss.Mtim)
		}
	}
	d := filepath.Join(dst, "f")
	if got := readFile(t, d); got != "content" {
		t.Errorf("content %q", got)
	}
	if v, _ := xattr(t, d, "user.k"); v != "v" {
		t.Errorf("user.k = %q", v)
	}
	if v, _ := xattr(t, d, "security.capability"); v != capNetBindService() {
		t.Errorf("security.capability = %x", v)
	}
	if _, ok := xattr(t, d, "trusted.overlay.origin"); ok {
		t.Error("trusted.overlay.origin copied")
	}
	if got, _ := os.Readlink(filepath.Join(dst, "l")); got != "f" {
		t.Errorf("l -> %q", got)
	}
}

// TestOverlay mounts two layers unpacked separately and checks the merged view is what
// Docker shows for the same image.
func TestOverlay(t *testing.T) {
	requireRoot(t)
	lower, upper, merged := t.TempDir(), t.TempDir(), t.TempDir()
	applyTar(t, lower,
		file("etc/passwd", "root\n", 0o644), file("etc/gone", "x", 0o644),
		dirEnt("opq", 0o755), file("opq/old", "old", 0o644), file("bin/bash", "#!bash", 0o755))
	res := applyTar(t, upper,
		marker("etc/.wh.gone"), dirEnt("opq", 0o755), marker("opq/.wh..wh..opq"),
		file("opq/new", "new", 0o644), hardlinkEnt("bin/sh", "bin/bash"))
	if err := ResolveLinks(upper, res.PendingLinks, []string{lower}); err != nil {
		t.Fatal(err)
	}
	err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+lower)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) {
		t.Skipf("cannot mount overlayfs here: %v", err)
	}
	if err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmount %s: %v; detaching", merged, err)
			_ = unix.Unmount(merged, unix.MNT_DETACH)
		}
	})
	if got := readFile(t, filepath.Join(merged, "etc/passwd")); got != "root\n" {
		t.Errorf("etc/passwd = %q", got)
	}
	requireAbsent(t, filepath.Join(merged, "etc/gone"))
	ents, err := os.ReadDir(filepath.Join(merged, "opq"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "new" {
		t.Errorf("opq holds %v, want only new", ents)
	}
	if got := readFile(t, filepath.Join(merged, "bin/sh")); got != "#!bash" {
		t.Errorf("bin/sh = %q", got)
	}
	wantMode(t, filepath.Join(merged, "bin/sh"), unix.S_IFREG, 0o755)
	wantMtime(t, filepath.Join(merged, "bin/sh"), mtime)
}
