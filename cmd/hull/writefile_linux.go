package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// tempFile makes a file in dir with no name (O_TMPFILE; Name is ""), and
// the commit that gives it the name path: linked under a hidden name, then
// renamed over path, so that path changes in one step. Where the file
// system has no O_TMPFILE, the file is a named one (namedTempFile).
func tempFile(dir string, mode os.FileMode) (*os.File, func(string) error, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(mode.Perm()))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return namedTempFile(dir)
	}
	if err != nil {
		return nil, nil, &os.PathError{Op: "create temporary file in", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), "")
	commit := func(path string) error {
		tmp := filepath.Join(dir, ".hull_temp_"+strconv.Itoa(os.Getpid())+"_"+strconv.Itoa(fd))
		if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
			return &os.LinkError{Op: "link", Old: "(temporary file)", New: tmp, Err: err}
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	return f, commit, nil
}
