package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// upperFixture builds an overlayfs-style upper directory holding every kind of entry
// WriteDiff must carry.
func upperFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	applyTar(t, dir,
		dirEnt("etc", 0o755),
		owned(file("etc/shadow", "root:x\n", 0o640), 0, 42),
		file("bin/tool", "#!/bin/sh\n", 0o4755),
		withXattrs(file("bin/ping", "elf", 0o755), "security.capability", capNetBindService(), "user.note", "hi"),
		hardlinkEnt("bin/ping2", "bin/ping"),
		symlinkEnt("bin/sh", "/bin/busybox"),
		device("dev/null", tar.TypeChar, 1, 3),
		device("dev/loop0", tar.TypeBlock, 7, 0),
		ent{hdr: fifoHeader("run/fifo")},
		marker("etc/.wh.gone"),
		dirEnt("var/cache", 0o1777),
		marker("var/cache/.wh..wh..opq"),
		file("var/cache/new", "n", 0o600),
	)
	// The whiteout form of newer kernels: an empty file with an xattr.
	xw := filepath.Join(dir, "etc", "gone2")
	if err := os.WriteFile(xw, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(xw, whiteoutXattr, nil, 0); err != nil {
		t.Skipf("trusted xattrs unsupported here: %v", err)
	}
	// overlayfs's own bookkeeping must never reach a tar.
	if err := unix.Lsetxattr(filepath.Join(dir, "etc"), "trusted.overlay.impure", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tarOf(t *testing.T, write func(io.Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// entries indexes a tar's headers by name.
func entries(t *testing.T, data []byte) (map[string]*tar.Header, []string) {
	t.Helper()
	out := map[string]*tar.Header{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, names
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name], names = hdr, append(names, hdr.Name)
	}
}

func TestWriteDiff(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	upper := upperFixture(t)
	data := tarOf(t, func(w io.Writer) error { return WriteDiff(t.Context(), w, upper) })
	hdrs, names := entries(t, data)
	if !slices.IsSorted(names) {
		t.Errorf("entries not in sorted order: %q", names)
	}
	for _, want := range []string{"etc/.wh.gone", "etc/.wh.gone2", "var/cache/.wh..wh..opq"} {
		if h := hdrs[want]; h == nil || h.Typeflag != tar.TypeReg || h.Size != 0 {
			t.Errorf("%s: got %+v, want an empty marker file", want, h)
		}
	}
	if h := hdrs["bin/ping2"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "bin/ping" {
		t.Errorf("bin/ping2: %+v, want a hardlink to bin/ping", h)
	}
	if h := hdrs["bin/ping"]; h == nil || h.PAXRecords["SCHILY.xattr.security.capability"] != capNetBindService() || h.PAXRecords["SCHILY.xattr.user.note"] != "hi" {
		t.Errorf("bin/ping: xattrs not written: %+v", h)
	}
	if h := hdrs["etc/"]; h == nil || h.PAXRecords["SCHILY.xattr.trusted.overlay.impure"] != "" {
		t.Errorf("etc/: overlay xattrs leaked: %+v", h)
	}
	if h := hdrs["dev/loop0"]; h == nil || h.Typeflag != tar.TypeBlock || h.Devmajor != 7 {
		t.Errorf("dev/loop0: %+v", h)
	}
	if h := hdrs["bin/tool"]; h == nil || h.Mode != 0o4755 || !h.ModTime.Equal(mtime) {
		t.Errorf("bin/tool: %+v", h)
	}
	if h := hdrs["etc/shadow"]; h == nil || h.Gid != 42 {
		t.Errorf("etc/shadow: %+v", h)
	}

	// Round trip: the tar applied gives an upper dir that writes the same tar.
	again := t.TempDir()
	if _, err := Apply(t.Context(), again, bytes.NewReader(data), Options{}); err != nil {
		t.Fatal(err)
	}
	if !isWhiteoutAt(t, filepath.Join(again, "etc/gone")) || !isWhiteoutAt(t, filepath.Join(again, "etc/gone2")) {
		t.Error("whiteouts not restored as overlay whiteouts")
	}
	if v, _ := xattr(t, filepath.Join(again, "var/cache"), opaqueXattr); v != "y" {
		t.Error("opaque directory not restored")
	}
	data2 := tarOf(t, func(w io.Writer) error { return WriteDiff(t.Context(), w, again) })
	if !bytes.Equal(data, data2) {
		_, names2 := entries(t, data2)
		t.Errorf("round trip differs:\n%q\n%q", names, names2)
	}
	// And it is deterministic.
	if data3 := tarOf(t, func(w io.Writer) error { return WriteDiff(t.Context(), w, upper) }); !bytes.Equal(data, data3) {
		t.Error("two WriteDiff of one tree differ")
	}
}

func TestWriteTreeKeepsDevices(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	upper := upperFixture(t)
	hdrs, _ := entries(t, tarOf(t, func(w io.Writer) error { return WriteTree(t.Context(), w, upper) }))
	if h := hdrs["etc/gone"]; h == nil || h.Typeflag != tar.TypeChar {
		t.Errorf("etc/gone: %+v, want the 0:0 device as is", h)
	}
	if hdrs["var/cache/.wh..wh..opq"] != nil {
		t.Error("WriteTree interpreted an opaque directory")
	}
}

func TestUnion(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	lower := t.TempDir()
	applyTar(t, lower,
		file("a", "lower", 0o644), file("b", "b", 0o644),
		file("d/x", "x", 0o644), file("d/y", "y", 0o644),
		file("o/old", "old", 0o644),
		symlinkEnt("esc", "../../../etc"), symlinkEnt("abs", "/d"),
		file("etc/passwd", "root", 0o644),
	)
	upper := t.TempDir()
	applyTar(t, upper,
		file("a", "upper", 0o644), marker(".wh.b"),
		file("d/z", "z", 0o644), marker("d/.wh.x"),
		dirEnt("o", 0o755), marker("o/.wh..wh..opq"), file("o/new", "new", 0o644),
		file("c", "c", 0o644),
	)
	u := Union{Layers: []string{upper, lower}}
	_, names := entries(t, tarOf(t, func(w io.Writer) error { return u.WriteTar(t.Context(), w, ".", "") }))
	want := []string{"a", "abs", "c", "d/", "d/y", "d/z", "esc", "etc/", "etc/passwd", "o/", "o/new"}
	if !slices.Equal(names, want) {
		t.Errorf("merged view: %q, want %q", names, want)
	}
	for p, want := range map[string]string{"/d/../d/y": "d/y", "abs/y": "d/y", "esc": "esc", "esc/passwd": "etc/passwd", "/../../d": "d"} {
		follow := p != "esc"
		got, err := u.Resolve(p, follow)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := u.Resolve("esc/shadow", true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Resolve of a missing file: %v", err)
	}
	ch, err := Changes(t.Context(), upper, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range ch {
		got = append(got, c.Kind.String()+" "+c.Path)
	}
	wantCh := []string{"C /a", "D /b", "A /c", "C /d", "D /d/x", "A /d/z", "C /o", "A /o/new", "D /o/old"}
	if !slices.Equal(got, wantCh) {
		t.Errorf("Changes:\n%q\nwant\n%q", got, wantCh)
	}
}

func TestWriteDiffRefusesRedirects(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	upper := t.TempDir()
	applyTar(t, upper, dirEnt("moved", 0o755))
	if err := unix.Lsetxattr(filepath.Join(upper, "moved"), "trusted.overlay.redirect", []byte("/old"), 0); err != nil {
		t.Skipf("trusted xattrs unsupported here: %v", err)
	}
	if err := WriteDiff(t.Context(), io.Discard, upper); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("WriteDiff of a redirected dir: %v, want ErrUnsupported", err)
	}
}
