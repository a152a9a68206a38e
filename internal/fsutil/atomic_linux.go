package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// unnamedFile makes a file with no name in dir (O_TMPFILE) with mode perm
// (less the umask); errors and f.Name() say path. Where the file system
// has no O_TMPFILE it returns nil and no error.
func unnamedFile(dir, path string, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "create temporary file in", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// linkUnnamed gives the unnamed file f a hidden name in dir and returns
// it: linkat of /proc/self/fd, as linking by descriptor (AT_EMPTY_PATH)
// needs CAP_DAC_READ_SEARCH.
func linkUnnamed(f *os.File, dir, base string) (string, error) {
	fd := strconv.Itoa(int(f.Fd()))
	tmp := filepath.Join(dir, ".tmp-"+base+"-"+strconv.Itoa(os.Getpid())+"-"+fd)
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+fd, unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
		return "", &os.LinkError{Op: "link", Old: "(temporary file)", New: tmp, Err: err}
	}
	return tmp, nil
}

// exchangeFiles swaps the files at a and b in one step; it fails when
// either is missing or the file system cannot.
func exchangeFiles(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
