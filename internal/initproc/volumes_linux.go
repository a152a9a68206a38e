package initproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/hullbox/hull/internal/archive"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootPropagation is how the container's mount namespace is detached from
// the host's before anything is mounted: private, unless a mount asks for
// slave or shared propagation; then slave, so that the host's later mounts
// still reach it. Either way nothing mounted in the container reaches the
// host.
func rootPropagation(mounts []specs.Mount) uintptr {
	for _, m := range mounts {
		for _, o := range m.Options {
			switch o {
			case "slave", "rslave", "shared", "rshared":
				return unix.MS_SLAVE
			}
		}
	}
	return unix.MS_PRIVATE
}

// recursivePropagation returns MS_REC when a mount's propagation option is
// a recursive one (rprivate, rslave, rshared): it then applies to the
// submounts of a recursive bind too.
func recursivePropagation(opts []string) uintptr {
	for _, o := range opts {
		switch o {
		case "rprivate", "rslave", "rshared":
			return unix.MS_REC
		}
	}
	return 0
}

// bindDir binds the directory src at dest inside rootfs with the new
// mount API: the source tree is cloned (open_tree), given its flags and
// propagation as a whole (mount_setattr: ro is recursive), and attached
// (move_mount) to a handle on the destination that pathrs opened,
// creating it, inside rootfs. No path inside the container is looked up
// twice, so a symlink swapped in meanwhile (by another container sharing
// a volume above the destination) cannot send the mount outside rootfs.
// done is false, and nothing done, when the kernel lacks the API (before
// 5.12). Failures are goBindAt's (stepFailure).
func bindDir(rootfs, dest, src string, flags uintptr) (done bool, err error) {
	treeFlags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if flags&unix.MS_REC != 0 {
		treeFlags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, treeFlags)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) && !haveMountAPI() {
		return false, nil
	}
	if err != nil {
		return true, failAt(failOpenTree, 0, err)
	}
	defer unix.Close(tree)
	attr := unix.MountAttr{Propagation: uint64(flags & (unix.MS_PRIVATE | unix.MS_SHARED | unix.MS_SLAVE | unix.MS_UNBINDABLE))}
	for _, a := range [...]struct{ ms, attr uintptr }{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	} {
		if flags&a.ms != 0 {
			attr.Attr_set |= uint64(a.attr)
		}
	}
	if attr.Attr_set != 0 || attr.Propagation != 0 {
		if err := unix.MountSetattr(tree, "", setFlags, &attr); err != nil {
			return true, failAt(failMountSetattr, 0, err)
		}
	}
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, failAt(failRootFD, 0, errnoOf(err))
	}
	defer root.Close()
	// SecureJoin resolves the destination's symlinks inside rootfs, dangling
	// ones too (which pathrs would refuse to create through); pathrs then
	// creates and opens the result without leaving rootfs, whatever changed.
	joined, err := secureDest(rootfs, dest)
	if err != nil {
		return true, walkFailure(err)
	}
	rel, err := filepath.Rel(rootfs, joined)
	if err != nil {
		return true, walkFailure(err)
	}
	dst, err := pathrs.MkdirAllHandle(root, rel, 0o755)
	if err != nil {
		return true, walkFailure(err)
	}
	defer dst.Close()
	if err := unix.MoveMount(tree, "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return true, failAt(failMoveMount, 0, err)
	}
	return true, nil
}

// haveMountAPI tells a seccomp-style EPERM from a real one: fsopen with
// no name fails EINVAL where the new mount API exists.
func haveMountAPI() bool {
	_, err := unix.Fsopen("", 0)
	return !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM)
}

// prepareVolume does a volume's copy-up (opCopyUp) into vol from dest in
// rootfs. It runs just before the volume is mounted: what is at the
// destination then (the image's content, or a mount below) is what gets
// copied.
func prepareVolume(rootfs, dest, vol string) error {
	src, err := secureDest(rootfs, dest) // never copy the whole root up
	if err != nil {
		return err
	}
	var rootSt, st unix.Stat_t
	if err := unix.Stat(rootfs, &rootSt); err != nil {
		return err
	}
	fd, err := unix.Open(src, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing there, or a file: nothing Docker would copy
	} else if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	// Docker copies the image's content only, never another mount's: a
	// destination inside a volume mounted earlier is not copied from. That
	// also keeps a symlink swapped in by a container sharing that volume
	// from pointing the copy at the host's files.
	if st.Dev != rootSt.Dev {
		return nil
	}
	return copyUp(fmt.Sprintf("/proc/self/fd/%d", fd), vol, &st)
}

// copyUp copies the tree src into the volume directory vol if vol is
// empty, then gives vol src's owner and mode. An flock on vol keeps two
// containers starting at once from copying into it together.
func copyUp(src, vol string, st *unix.Stat_t) error {
	d, err := os.Open(vol)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	if _, err := d.Readdirnames(1); !errors.Is(err, io.EOF) {
		if err == nil {
			return nil // not empty: the volume keeps its content
		}
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteTree(context.Background(), pw, src)) }()
	err = applyConfined(int(d.Fd()), pr)
	pr.CloseWithError(errors.New("copy-up ended"))
	if err != nil {
		return fmt.Errorf("copy-up of %s: %w", src, err)
	}
	if err := unix.Fchown(int(d.Fd()), int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmod(int(d.Fd()), st.Mode&0o7777) // after chown, which clears setuid/setgid
}

// applyConfined unpacks the tar r into the directory dirFD from a thread
// of its own whose root is that directory (unshare CLONE_FS, chroot): a
// running container that shares the volume and plants a symlink in it
// meanwhile cannot make the copy write outside the volume.
func applyConfined(dirFD int, r io.Reader) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, with its own root, ends with the goroutine.
		runtime.LockOSThread()
		err := unix.Unshare(unix.CLONE_FS)
		if err == nil {
			err = unix.Fchdir(dirFD)
		}
		if err == nil {
			err = unix.Chroot(".")
		}
		if err == nil {
			_, err = archive.Apply(context.Background(), "/", r, archive.Options{})
		}
		errc <- err
	}()
	return <-errc
}
