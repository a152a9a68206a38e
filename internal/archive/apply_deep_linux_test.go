package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openDeep opens the directory rel of root one name at a time, as no path string can
// reach below PATH_MAX; the caller closes it.
func openDeep(t *testing.T, root, rel string) int {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Split(strings.Trim(rel, "/"), "/") {
		next, err := unix.Openat(fd, name, dirFlags, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("open %.80s... (%d bytes): %v", rel, len(rel), err)
		}
		fd = next
	}
	return fd
}

func statAt(t *testing.T, dirfd int, name string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	return st
}

// openFDs counts the descriptors of the process.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// withFDLimit runs fn with RLIMIT_NOFILE just above the descriptors open now: room for
// 100 more (maxOpenDirs is 64), not for one per level of a deep tree.
func withFDLimit(t *testing.T, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(openFDs(t) + 100)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
	}()
	fn()
}

// TestApplyDeepPaths: names longer than PATH_MAX unpack, with every kind of entry, the
// whiteouts among them, in a bounded number of descriptors; the result writes back to
// the same tar. Not parallel: it lowers the process's descriptor limit.
func TestApplyDeepPaths(t *testing.T) {
	requireRoot(t)
	deepDir := "deep/" + strings.Repeat(strings.Repeat("d", 100)+"/", 60) // 6065 bytes
	ents := []ent{dirEnt("deep/", 0o755)}
	for p := "deep/"; len(p) < len(deepDir); {
		p += strings.Repeat("d", 100) + "/"
		ents = append(ents, owned(dirEnt(p, 0o750), 7, 8))
	}
	ents = append(ents,
		withXattrs(owned(file(deepDir+"f", "bottom\n", 0o640), 1000, 1001), "user.k", "v"),
		symlinkEnt(deepDir+"l", "f"),
		hardlinkEnt(deepDir+"h", deepDir+"f"),
		hardlinkEnt("top-h", deepDir+"f"),
		device(deepDir+"fifo", tar.TypeFifo, 0, 0),
		marker(deepDir+".wh.gone"),
		dirEnt(deepDir+"opq/", 0o755),
		marker(deepDir+"opq/.wh..wh..opq"),
		file(deepDir+"x/y", "implicit parent\n", 0o644),
		// 2500 implicit levels (5000 bytes), then replaced by a file: the whole chain
		// is removed, with as few descriptors as it was made with.
		file(strings.Repeat("e/", 2500)+"f", "deepest\n", 0o644),
		file("e", "replaced\n", 0o644),
		// A directory the tar left, then came back to below PATH_MAX's reach.
		file("deep/later", "back up\n", 0o644),
		file(deepDir+"g", "back down\n", 0o644),
	)
	tarball := makeTar(t, ents...)
	layer := t.TempDir()
	before := openFDs(t)
	withFDLimit(t, func() {
		if _, err := Apply(t.Context(), layer, bytes.NewReader(tarball), Options{}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	})
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after Apply, %d before", after, before)
	}

	fd := openDeep(t, layer, deepDir)
	defer unix.Close(fd)
	f := statAt(t, fd, "f")
	if f.Mode != unix.S_IFREG|0o640 || f.Uid != 1000 || f.Gid != 1001 || f.Nlink != 3 {
		t.Errorf("deep file: mode %o, owner %d:%d, %d links", f.Mode, f.Uid, f.Gid, f.Nlink)
	}
	for _, link := range []struct {
		dir  int
		name string
	}{{fd, "h"}, {-1, layer + "/top-h"}} {
		var st unix.Stat_t
		dir := link.dir
		if dir < 0 {
			dir = unix.AT_FDCWD
		}
		if err := unix.Fstatat(dir, link.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Ino != f.Ino {
			t.Errorf("hardlink %s: inode %d, %v; want %d", link.name, st.Ino, err, f.Ino)
		}
	}
	ffd, err := unix.Openat(fd, "f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(os.NewFile(uintptr(ffd), "f"))
	if v, err := unix.Fgetxattr(ffd, "user.k", make([]byte, 8)); string(body) != "bottom\n" || err != nil || v != 1 {
		t.Errorf("deep file: content %q, xattr %d bytes, %v", body, v, err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Readlinkat(fd, "l", buf); err != nil || string(buf[:n]) != "f" {
		t.Errorf("deep symlink: %q, %v", buf[:n], err)
	}
	if st := statAt(t, fd, "fifo"); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("deep fifo: mode %o", st.Mode)
	}
	if st := statAt(t, fd, "gone"); !isWhiteout(&st) {
		t.Errorf("deep whiteout: mode %o, rdev %d", st.Mode, st.Rdev)
	}
	opq := openDeep(t, layer, deepDir+"opq")
	defer unix.Close(opq)
	if !fdOpaque(opq) {
		t.Error("deep opaque directory is not marked opaque")
	}
	if st := statAt(t, fd, "x"); st.Mode != unix.S_IFDIR|0o755 || st.Uid != 0 {
		t.Errorf("implicit deep parent: mode %o, uid %d", st.Mode, st.Uid)
	}
	// The directory entries' times, set after what was written inside them, and the
	// deepest one's owner and mode.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != unix.S_IFDIR|0o750 || st.Uid != 7 || !time.Unix(st.Mtim.Unix()).Equal(mtime) {
		t.Errorf("deepest directory: mode %o, uid %d, mtime %v", st.Mode, st.Uid, time.Unix(st.Mtim.Unix()))
	}
	wantMtime(t, layer+"/deep", mtime)
	if got := readFile(t, layer+"/e"); got != "replaced\n" {
		t.Errorf("e = %q", got)
	}

	// Written back as a layer, unpacked again and written again: the same bytes.
	diff := tarOf(t, func(w io.Writer) error { return WriteDiff(t.Context(), w, layer) })
	hdrs, _ := entries(t, diff)
	for _, name := range []string{deepDir + "f", deepDir + ".wh.gone", deepDir + "opq/.wh..wh..opq"} {
		if hdrs[name] == nil {
			t.Errorf("WriteDiff lacks %.40s...%s", name, name[len(name)-20:])
		}
	}
	again := t.TempDir()
	if _, err := Apply(t.Context(), again, bytes.NewReader(diff), Options{}); err != nil {
		t.Fatalf("Apply of the written layer: %v", err)
	}
	if diff2 := tarOf(t, func(w io.Writer) error { return WriteDiff(t.Context(), w, again) }); !bytes.Equal(diff, diff2) {
		t.Errorf("the layer unpacked again writes a different tar (%d bytes, was %d)", len(diff2), len(diff))
	}
}

// TestApplyDeepHostile: at depth as near the root, a symlink on the way is refused and
// nothing is written outside the layer.
func TestApplyDeepHostile(t *testing.T) {
	requireRoot(t)
	deepDir := strings.Repeat(strings.Repeat("d", 200)+"/", 25) // 5025 bytes
	for _, tt := range []struct {
		name    string
		entries []ent
		bad     string
	}{
		{"file through a deep symlink", []ent{dirEnt(deepDir, 0o755), symlinkEnt(deepDir+"evil", "$OUT"), file(deepDir+"evil/x", "pwned", 0o644)}, deepDir + "evil/x"},
		{"whiteout through a deep symlink", []ent{symlinkEnt(deepDir+"evil", "$OUT"), marker(deepDir + "evil/.wh.secret")}, deepDir + "evil/.wh.secret"},
		{"hardlink target through a deep symlink", []ent{symlinkEnt(deepDir+"evil", "$OUT"), hardlinkEnt("stolen", deepDir+"evil/secret")}, "stolen"},
		{"deep directory replaced by a symlink", []ent{file(deepDir+"a/f", "ok", 0o644), symlinkEnt(deepDir+"a", "$OUT"), file(deepDir+"a/secret", "pwned", 0o644)}, deepDir + "a/secret"},
		{"escape after a deep path", []ent{file(deepDir+strings.Repeat("../", 26)+"outside/secret", "pwned", 0o644)}, deepDir + strings.Repeat("../", 26) + "outside/secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, layer, outside := sandbox(t)
			for i := range tt.entries {
				tt.entries[i].hdr.Linkname = strings.ReplaceAll(tt.entries[i].hdr.Linkname, "$OUT", outside)
			}
			_, err := Apply(t.Context(), layer, bytes.NewReader(makeTar(t, tt.entries...)), Options{})
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Apply: %v, want ErrUnsafe", err)
			}
			if !strings.Contains(err.Error(), quote(tt.bad)) {
				t.Errorf("error %.300q does not name the entry", err)
			}
			checkSandbox(t, base)
		})
	}
}
