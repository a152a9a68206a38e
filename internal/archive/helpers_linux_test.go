package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mtime has nanoseconds, so tests see whether they survive.
var mtime = time.Unix(1700000000, 123456789)

// ent is one tar entry; body is the content of a regular file.
type ent struct {
	hdr  tar.Header
	body string
}

func file(name, body string, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: mtime}, body: body}
}

func dirEnt(name string, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: mtime}}
}

func symlinkEnt(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: mtime}}
}

func hardlinkEnt(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: mtime}}
}

// marker is an empty regular file, the way whiteouts appear in a Docker layer tar.
func marker(name string) ent { return file(name, "", 0o644) }

// makeTar returns a PAX tar (nanosecond times, xattrs) of entries.
func makeTar(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Format == tar.FormatUnknown {
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("write header %q: %v", hdr.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatalf("write body %q: %v", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// applyTar applies entries into dir and fails the test on error.
func applyTar(t testing.TB, dir string, entries ...ent) Result {
	t.Helper()
	res, err := Apply(t.Context(), dir, bytes.NewReader(makeTar(t, entries...)), Options{})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mknod, chown to other users and trusted.* xattrs")
	}
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return st
}

func requireAbsent(t testing.TB, p string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("lstat %s: got %v (mode %o), want ENOENT", p, err, st.Mode)
	}
}

// xattr returns the value of key on p, and false if p has no such xattr.
func xattr(t testing.TB, p, key string) (string, bool) {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, key, buf)
	if errors.Is(err, unix.ENODATA) {
		return "", false
	}
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, key, err)
	}
	return string(buf[:n]), true
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantMode(t testing.TB, p string, typ, perm uint32) {
	t.Helper()
	st := lstat(t, p)
	if st.Mode&unix.S_IFMT != typ || st.Mode&0o7777 != perm {
		t.Errorf("%s: mode %o, want type %o perm %o", p, st.Mode, typ, perm)
	}
}

func wantOwner(t testing.TB, p string, uid, gid uint32) {
	t.Helper()
	if st := lstat(t, p); st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

func wantMtime(t testing.TB, p string, want time.Time) {
	t.Helper()
	st := lstat(t, p)
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(want) {
		t.Errorf("%s: mtime %v, want %v", p, got, want)
	}
}

func isWhiteoutAt(t testing.TB, p string) bool {
	t.Helper()
	st := lstat(t, p)
	return isWhiteout(&st)
}

func fifoHeader(name string) tar.Header {
	return tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o640, ModTime: mtime}
}
