package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ResolveLinks creates, in the layer directory dir, the hardlinks Apply left pending,
// in order. Each target is looked up the way overlayfs will see it: in dir itself first,
// then in lowers, the directories of the layers below ordered top-most first (the layer
// directly below dir first). A target that is absent, or hidden by a whiteout or an opaque
// directory above it, is an error wrapping fs.ErrNotExist.
//
// The link shares the lower file's inode (layers are immutable and on one filesystem);
// if the layers are on different filesystems (EXDEV) or the inode has too many links,
// the target is copied instead, with its mode, owner, xattrs and times.
//
// A link's name may be longer than PATH_MAX, as in Apply; its target is looked up in the
// layers by path, and so must be shorter (a limit only of cross-layer hardlinks).
func ResolveLinks(dir string, links []Link, lowers []string) error {
	layers := append([]string{dir}, lowers...)
	a, err := newApplier(dir)
	if err != nil {
		return fmt.Errorf("resolve layer links: %w", err)
	}
	defer a.close()
	for _, l := range links {
		if err := a.resolve(l, layers); err != nil {
			return fmt.Errorf("layer link %s to %s: %w", quote(l.Name), quote(l.Target), err)
		}
	}
	return nil
}

func (a *applier) resolve(l Link, layers []string) error {
	name, err := cleanName(l.Name)
	if err != nil {
		return err
	}
	target, err := cleanName(l.Target)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if name == "." || target == "." {
		return unsafe("a link cannot be the layer root")
	}
	dirfd, _, err := a.enter(path.Dir(name), true)
	if err != nil {
		return err
	}
	src, err := lookup(layers, target)
	if err != nil {
		return err
	}
	// The link completes the layer rather than changing it: keep its directory's times
	// as Apply set them from the tar.
	var st unix.Stat_t
	if err := unix.Fstat(dirfd, &st); err != nil {
		return err
	}
	if err := linkOrCopy(src, dirfd, path.Base(name), a.abs(name)); err != nil {
		return err
	}
	ts := [2]unix.Timespec{st.Atim, st.Mtim}
	if err := futimens(dirfd, &ts); err != nil {
		return fmt.Errorf("restore directory times: %w", err)
	}
	return nil
}

// linkOrCopy hardlinks src to base in the directory dirfd, or copies it to dst, the
// same entry's path, where the filesystem cannot link it.
func linkOrCopy(src string, dirfd int, base, dst string) error {
	err := unix.Linkat(unix.AT_FDCWD, src, dirfd, base, 0)
	if errors.Is(err, unix.EEXIST) { // resolved before: replace, so a retry is harmless
		if err = unix.Unlinkat(dirfd, base, 0); err == nil {
			err = unix.Linkat(unix.AT_FDCWD, src, dirfd, base, 0)
		}
	}
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EMLINK) {
		err = copyNode(src, dst)
	}
	return err
}

// lookup returns the host path of target in the merged view of layers (top-most first),
// following overlayfs: the top-most entry for a path wins, a whiteout deletes it, a
// non-directory or an opaque directory hides everything below it.
func lookup(layers []string, target string) (string, error) {
	parts := strings.Split(target, "/")
	active := layers // the layers where the path so far is a merged directory
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		var next []string
		for _, layer := range active {
			p := layer + "/" + prefix
			var st unix.Stat_t
			err := unix.Lstat(p, &st)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				return "", err
			}
			if isWhiteout(&st) {
				break
			}
			if last {
				if isDir(&st) {
					return "", unsafe("target is a directory")
				}
				return p, nil
			}
			if !isDir(&st) {
				if len(next) == 0 && st.Mode&unix.S_IFMT == unix.S_IFLNK {
					return "", unsafe("target parent %s is a symlink", quote(prefix))
				}
				break
			}
			next = append(next, layer)
			if opaque(p) {
				break
			}
		}
		if len(next) == 0 {
			break
		}
		active = next
	}
	return "", fmt.Errorf("target absent from the lower layers or deleted: %w", fs.ErrNotExist)
}

func opaque(p string) bool {
	var v [1]byte
	n, err := unix.Lgetxattr(p, opaqueXattr, v[:])
	return err == nil && n == 1 && v[0] == 'y'
}

// copyNode copies the file, symlink or device at src to dst, which must not exist, with
// its owner, mode, xattrs (but overlayfs's own) and times.
func copyNode(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	var err error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		err = copyFile(src, dst)
	case unix.S_IFLNK:
		var target string
		if target, err = os.Readlink(src); err == nil {
			err = unix.Symlink(target, dst)
		}
	default:
		err = unix.Mknod(dst, st.Mode, int(st.Rdev))
	}
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("copy owner: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return fmt.Errorf("copy mode: %w", err)
		}
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy times: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return shortPathErr(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return shortPathErr(err)
	}
	_, err = io.Copy(out, in) // copy_file_range where the kernel can
	return errors.Join(shortPathErr(err), shortPathErr(out.Close()))
}

func copyXattrs(src, dst string) error {
	size, err := unix.Llistxattr(src, nil)
	if errors.Is(err, unix.EOPNOTSUPP) || size == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list xattrs: %w", err)
	}
	list := make([]byte, size)
	if size, err = unix.Llistxattr(src, list); err != nil {
		return fmt.Errorf("list xattrs: %w", err)
	}
	for _, key := range strings.Split(strings.TrimRight(string(list[:size]), "\x00"), "\x00") {
		if key == "" || overlayXattr(key) {
			continue
		}
		n, err := unix.Lgetxattr(src, key, nil)
		if err != nil {
			return fmt.Errorf("get xattr %s: %w", quote(key), err)
		}
		val := make([]byte, n)
		if n, err = unix.Lgetxattr(src, key, val); err != nil {
			return fmt.Errorf("get xattr %s: %w", quote(key), err)
		}
		if err := unix.Lsetxattr(dst, key, val[:n], 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", quote(key), err)
		}
	}
	return nil
}
