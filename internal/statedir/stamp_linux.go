package statedir

import (
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func stampOf(st *unix.Stat_t) Stamp {
	return Stamp{Ino: st.Ino, Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}

// stat returns the stamp of the file at path.
func stat(path string) (Stamp, error) { return statAt(unix.AT_FDCWD, "", path) }

// openDir opens directory dir for statAt and readStampedAt, and returns
// it with the function that closes it; if it cannot, it returns
// AT_FDCWD, and they use whole paths.
func openDir(dir string) (int, func()) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return unix.AT_FDCWD, func() {}
	}
	return fd, func() { unix.Close(fd) }
}

// statAt is stat of the file at rel in directory base (openDir of dir).
func statAt(base int, dir, rel string) (Stamp, error) {
	name := rel
	if base == unix.AT_FDCWD {
		name = filepath.Join(dir, rel)
	}
	var st unix.Stat_t
	err := unix.Fstatat(base, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	for err == unix.EINTR {
		err = unix.Fstatat(base, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return Stamp{}, &fs.PathError{Op: "stat", Path: filepath.Join(dir, rel), Err: err}
	}
	return stampOf(&st), nil
}

// readStamped reads the file at path whole, with the stamp of what it
// read (the open file's, not the path's: a rename may replace it
// meanwhile).
func readStamped(path string) ([]byte, Stamp, error) { return readStampedAt(unix.AT_FDCWD, "", path) }

// readStampedAt is readStamped of the file at rel in directory base
// (openDir of dir).
func readStampedAt(base int, dir, rel string) ([]byte, Stamp, error) {
	path, name := filepath.Join(dir, rel), rel
	if base == unix.AT_FDCWD {
		name = path
	}
	fd, err := unix.Openat(base, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	for err == unix.EINTR {
		fd, err = unix.Openat(base, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, Stamp{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, Stamp{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	buf := make([]byte, 0, max(st.Size+1, 512))
	for {
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, Stamp{}, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, stampOf(&st), nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
