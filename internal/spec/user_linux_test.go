package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"
)

func TestResolveUser(t *testing.T) {
	t.Parallel()
	rootfs := fakeRootfs(t, testPasswd, testGroup)
	tests := []struct {
		user     string
		uid, gid uint32
		groups   []uint32
		home     string
		err      error
	}{
		{user: "", uid: 0, gid: 0, groups: []uint32{10}, home: "/root"},
		{user: "root", uid: 0, gid: 0, groups: []uint32{10}, home: "/root"},
		{user: "0", uid: 0, gid: 0, groups: []uint32{10}, home: "/root"},
		{user: "alice", uid: 1000, gid: 1000, groups: []uint32{10, 29, 50}, home: "/home/alice"},
		{user: "1000", uid: 1000, gid: 1000, groups: []uint32{10, 29, 50}, home: "/home/alice"},
		{user: "daemon", uid: 1, gid: 1, groups: []uint32{29}, home: "/usr/sbin"},
		{user: "nohome", uid: 1001, gid: 1001, home: "/"},
		// An explicit group sets the gid and, as in runc, no supplementary groups.
		{user: "alice:staff", uid: 1000, gid: 50, home: "/home/alice"},
		{user: "alice:10", uid: 1000, gid: 10, home: "/home/alice"},
		{user: "alice:777", uid: 1000, gid: 777, home: "/home/alice"},
		{user: "1000:1000", uid: 1000, gid: 1000, home: "/home/alice"},
		// Numeric ids need no entry.
		{user: "4242", uid: 4242, gid: 0, home: "/"},
		{user: "4242:4343", uid: 4242, gid: 4343, home: "/"},
		{user: "4242:staff", uid: 4242, gid: 50, home: "/"},
		{user: "mallory", err: ErrUnknownUser},
		{user: "broken", err: ErrUnknownUser}, // its line is malformed, so it is skipped
		{user: "alice:nogroup", err: ErrUnknownUser},
		{user: "2147483648", err: ErrInvalid},
		{user: "1:99999999999", err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			uid, gid, groups, home, err := ResolveUser(rootfs, tt.user)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ResolveUser(%q) error %v; want %v", tt.user, err, tt.err)
				}
				return
			}
			if err != nil || uid != tt.uid || gid != tt.gid || !slices.Equal(groups, tt.groups) || home != tt.home {
				t.Fatalf("ResolveUser(%q) = %d, %d, %v, %q, %v; want %d, %d, %v, %q",
					tt.user, uid, gid, groups, home, err, tt.uid, tt.gid, tt.groups, tt.home)
			}
		})
	}
}

func TestResolveUserErrorText(t *testing.T) {
	t.Parallel()
	rootfs := fakeRootfs(t, testPasswd, testGroup)
	_, _, _, _, err := ResolveUser(rootfs, "mallory")
	if err == nil || err.Error() != "unable to find user mallory: no matching entries in passwd file" {
		t.Errorf("user error %q", err)
	}
	_, _, _, _, err = ResolveUser(rootfs, "alice:nogroup")
	if err == nil || err.Error() != "unable to find group nogroup: no matching entries in group file" {
		t.Errorf("group error %q", err)
	}
}

func TestResolveUserWithoutFiles(t *testing.T) {
	t.Parallel()
	rootfs := t.TempDir() // no /etc at all
	uid, gid, groups, home, err := ResolveUser(rootfs, "1234:5678")
	if err != nil || uid != 1234 || gid != 5678 || groups != nil || home != "/" {
		t.Errorf("numeric user: %d %d %v %q %v", uid, gid, groups, home, err)
	}
	if uid, gid, _, home, err = ResolveUser(rootfs, ""); err != nil || uid != 0 || gid != 0 || home != "/" {
		t.Errorf("default user: %d %d %q %v", uid, gid, home, err)
	}
	if _, _, _, _, err = ResolveUser(rootfs, "nobody"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("named user without passwd: %v", err)
	}
	if _, _, _, _, err = ResolveUser(rootfs, "0:wheel"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("named group without group file: %v", err)
	}
}

// A hostile image's /etc/passwd that links outside the rootfs is resolved inside it, as a
// chroot would: the host file is never read.
func TestResolveUserSymlinkStaysInRootfs(t *testing.T) {
	t.Parallel()
	host := t.TempDir()
	hostPasswd := filepath.Join(host, "passwd")
	if err := os.WriteFile(hostPasswd, []byte("hostonly:x:4242:4242::/hostonly:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(t.TempDir(), hostPasswd) // plenty of ../
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{hostPasswd, "../../../../../../../../" + strings.TrimLeft(hostPasswd, "/"), rel} {
		rootfs := fakeRootfs(t, "", testGroup)
		if err := os.Symlink(target, filepath.Join(rootfs, "etc", "passwd")); err != nil {
			t.Fatal(err)
		}
		if _, _, _, _, err := ResolveUser(rootfs, "hostonly"); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("symlink to %s: read the host's passwd (err %v)", target, err)
		}
	}
	// An etc directory linking out is resolved inside too.
	rootfs := t.TempDir()
	if err := os.Symlink(host, filepath.Join(rootfs, "etc")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := ResolveUser(rootfs, "hostonly"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("etc symlinked to a host dir: read the host's passwd (err %v)", err)
	}
}

// Absolute symlinks inside the image resolve against the rootfs, like in the container.
func TestResolveUserSymlinkInsideRootfs(t *testing.T) {
	t.Parallel()
	rootfs := fakeRootfs(t, "", "")
	if err := os.MkdirAll(filepath.Join(rootfs, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "real", "passwd"), []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/real/passwd", filepath.Join(rootfs, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	uid, _, _, home, err := ResolveUser(rootfs, "alice")
	if err != nil || uid != 1000 || home != "/home/alice" {
		t.Errorf("alice via in-rootfs symlink: %d %q %v", uid, home, err)
	}
}

// A FIFO where /etc/passwd should be must not hang the caller.
func TestResolveUserRefusesNonRegular(t *testing.T) {
	t.Parallel()
	rootfs := fakeRootfs(t, "", testGroup)
	if err := unix.Mkfifo(filepath.Join(rootfs, "etc", "passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, _, _, err := ResolveUser(rootfs, "alice")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("FIFO passwd: %v; want ErrInvalid", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ResolveUser blocked on a FIFO")
	}
}

// Unreachable files count as absent, as in runc: numeric ids work, names fail clearly.
func TestResolveUserUnreachableFiles(t *testing.T) {
	t.Parallel()
	loop := fakeRootfs(t, "", "")
	if err := os.Symlink("/etc/passwd", filepath.Join(loop, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	notDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(notDir, "etc"), []byte("a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, rootfs := range map[string]string{"symlink loop": loop, "etc is a file": notDir} {
		if uid, _, _, _, err := ResolveUser(rootfs, "7"); err != nil || uid != 7 {
			t.Errorf("%s: numeric user: %d, %v", name, uid, err)
		}
		if _, _, _, _, err := ResolveUser(rootfs, "alice"); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("%s: named user: %v", name, err)
		}
	}
	if _, _, _, _, err := ResolveUser(filepath.Join(t.TempDir(), "missing"), "0"); err == nil || errors.Is(err, ErrUnknownUser) {
		t.Errorf("missing rootfs: %v", err)
	}
}

func TestResolveUserRefusesHugeAndDevices(t *testing.T) {
	t.Parallel()
	huge := fakeRootfs(t, "", testGroup)
	if err := os.Truncate(filepath.Join(huge, "etc", "passwd"), 0); err == nil {
		t.Fatal("passwd should not exist yet")
	}
	f, err := os.Create(filepath.Join(huge, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxIDFile + 1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	f.Close()
	if _, _, _, _, err := ResolveUser(huge, "alice"); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized passwd: %v; want ErrInvalid", err)
	}

	dev := fakeRootfs(t, "", testGroup)
	if err := unix.Mknod(filepath.Join(dev, "etc", "passwd"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err != nil {
		t.Skipf("cannot make a device node (needs root): %v", err)
	}
	if _, _, _, _, err := ResolveUser(dev, "alice"); !errors.Is(err, ErrInvalid) {
		t.Errorf("/dev/zero as passwd: %v; want ErrInvalid", err)
	}
}

// Options.UserFS replaces the rootfs directory for user lookup (a rootfs that is not
// mounted where hull runs).
func TestGenerateUserFS(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"etc/passwd": {Data: []byte(testPasswd)},
		"etc/group":  {Data: []byte(testGroup)},
	}
	o := baseOptions()
	o.User, o.UserFS = "alice", fsys
	s, err := Generate("/nonexistent/rootfs", o) // the directory is not read
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Process.User; u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{10, 29, 50}) {
		t.Errorf("user %+v", u)
	}
	if !slices.Contains(s.Process.Env, "HOME=/home/alice") {
		t.Errorf("env %q", s.Process.Env)
	}

	tests := map[string]struct {
		fsys fs.FS
		user string
		want error
	}{
		"missing files, numeric": {fstest.MapFS{}, "5:6", nil},
		"missing files, name":    {fstest.MapFS{}, "alice", ErrUnknownUser},
		"passwd is a directory":  {fstest.MapFS{"etc/passwd/x": {}}, "alice", ErrInvalid},
		"passwd too big":         {fstest.MapFS{"etc/passwd": {Data: make([]byte, maxIDFile+1)}}, "alice", ErrInvalid},
	}
	for name, tt := range tests {
		o.User, o.UserFS = tt.user, tt.fsys
		if _, err := Generate("/nonexistent/rootfs", o); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v; want %v", name, err, tt.want)
		}
	}
}

// An os.Root's FS is a safe UserFS: a symlink out of the image is refused, not followed.
func TestUserFSRootRefusesEscape(t *testing.T) {
	t.Parallel()
	host := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(host, []byte("hostonly:x:4242:4242::/h:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := fakeRootfs(t, "", "")
	if err := os.Symlink(host, filepath.Join(rootfs, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := resolveIn("", r.FS(), "hostonly"); err == nil {
		t.Error("read the host's passwd through an os.Root FS")
	}
}

// A running container's root, seen through /proc/PID/root, works as rootfs (for exec).
func TestResolveUserProcRoot(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Skipf("host has no /etc/passwd: %v", err)
	}
	uid, _, _, _, err := ResolveUser("/proc/self/root", "root")
	if err != nil || uid != 0 {
		t.Errorf("ResolveUser(/proc/self/root, root) = %d, %v", uid, err)
	}
}
