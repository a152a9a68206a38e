package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	maxID  = 1<<32 - 2 // (uid_t)-1 means "unchanged" to chown
	maxDev = 1<<32 - 1
)

// checkHeader refuses metadata the kernel would misread before anything is created.
func checkHeader(hdr *tar.Header) error {
	if hdr.Uid < 0 || hdr.Uid > maxID || hdr.Gid < 0 || hdr.Gid > maxID {
		return unsafe("invalid owner %d:%d", hdr.Uid, hdr.Gid)
	}
	if hdr.Devmajor < 0 || hdr.Devmajor > maxDev || hdr.Devminor < 0 || hdr.Devminor > maxDev {
		return unsafe("invalid device number %d:%d", hdr.Devmajor, hdr.Devminor)
	}
	return nil
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

// isWhiteout reports whether st is an overlayfs whiteout: a character device 0:0.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// implicitDir creates the directory name in dirfd, which the tar did not list: 0755,
// owned by root. It returns the new directory opened.
func implicitDir(dirfd int, name string) (int, error) {
	if err := unix.Mkdirat(dirfd, name, 0o755); err != nil {
		return -1, fmt.Errorf("create parent directory: %w", err)
	}
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return -1, fmt.Errorf("open parent directory: %w", err)
	}
	// Explicit, so neither the umask nor a setgid parent decides.
	if err := unix.Fchown(fd, 0, 0); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("chown parent directory: %w", err)
	}
	if err := unix.Fchmod(fd, 0o755); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("chmod parent directory: %w", err)
	}
	return fd, nil
}

// setOpaque marks the directory fd opaque.
func setOpaque(fd int) error {
	if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark directory opaque: %w", err)
	}
	return nil
}

// setMetaFD applies hdr's owner, mode and xattrs to fd, a regular file or directory.
// The order matters: chown clears setuid/setgid bits and file capabilities, so chmod
// and the xattrs (security.capability among them) come after it.
func setMetaFD(fd int, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return setXattrs(hdr, func(key string, val []byte) error { return unix.Fsetxattr(fd, key, val, 0) })
}

// setMetaAt is setMetaFD for the entry name of the directory dirfd, a symlink or device
// (never followed, never opened); xpath is a path to it for the xattr calls.
func setMetaAt(dirfd int, name, xpath string, hdr *tar.Header) error {
	if err := unix.Fchownat(dirfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink { // a symlink's mode means nothing on Linux
		mode := uint32(hdr.Mode) & 0o7777
		// fchmodat2 (Linux 6.6) can refuse to follow a symlink; before it, name was just
		// created by mknodat, and fchmodat follows nothing but a symlink.
		err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = unix.Fchmodat(dirfd, name, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return setXattrs(hdr, func(key string, val []byte) error { return unix.Lsetxattr(xpath, key, val, 0) })
}

// setXattrs applies the SCHILY.xattr.* PAX records with set, except overlayfs's own
// xattrs.
func setXattrs(hdr *tar.Header, set func(key string, val []byte) error) error {
	for k, v := range hdr.PAXRecords {
		key, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || overlayXattr(key) {
			continue
		}
		err := set(key, []byte(v))
		switch {
		case errors.Is(err, unix.EOPNOTSUPP):
			// The filesystem has no such namespace (security.selinux without SELinux...).
		case errors.Is(err, unix.EPERM) && strings.HasPrefix(key, "user.") &&
			hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir:
			// Linux allows user.* xattrs only on files and directories.
		case err != nil:
			return fmt.Errorf("set xattr %s: %w", quote(key), err)
		}
	}
	return nil
}

// timespecs returns hdr's access and modification times; a missing atime is the mtime.
func timespecs(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}
