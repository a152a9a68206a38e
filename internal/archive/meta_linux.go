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

// implicitDir creates a directory the tar did not list: 0755, owned by root.
func implicitDir(p string) error {
	if err := unix.Mkdir(p, 0o755); err != nil {
		return fmt.Errorf("create parent directory: %w", err)
	}
	// Explicit, so neither the umask nor a setgid parent decides.
	if err := unix.Lchown(p, 0, 0); err != nil {
		return fmt.Errorf("chown parent directory: %w", err)
	}
	if err := unix.Chmod(p, 0o755); err != nil {
		return fmt.Errorf("chmod parent directory: %w", err)
	}
	return nil
}

func setOpaque(p string) error {
	if err := unix.Lsetxattr(p, opaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark directory opaque: %w", err)
	}
	return nil
}

// setMeta applies hdr's owner, mode and xattrs to the entry at p, through fd if it is not
// -1. The order matters: chown clears setuid/setgid bits and file capabilities, so chmod
// and the xattrs (security.capability among them) come after it.
func setMeta(p string, fd int, hdr *tar.Header) error {
	var err error
	if fd >= 0 {
		err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
	} else {
		err = unix.Lchown(p, hdr.Uid, hdr.Gid)
	}
	if err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink { // a symlink's mode means nothing on Linux
		mode := uint32(hdr.Mode) & 0o7777
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Chmod(p, mode) // p was just checked or created: not a symlink
		}
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return setXattrs(p, fd, hdr)
}

// setXattrs applies the SCHILY.xattr.* PAX records, except overlayfs's own xattrs.
func setXattrs(p string, fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		key, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || overlayXattr(key) {
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, key, []byte(v), 0)
		} else {
			err = unix.Lsetxattr(p, key, []byte(v), 0)
		}
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

// setTimes sets hdr's times on p itself, never on what a symlink points to.
func setTimes(p string, hdr *tar.Header) error {
	ts := timespecs(hdr)
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
