package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeFileAtomic writes path with write, as docker save -o does: through
// a temporary file beside it, put in place only once write succeeded, so a
// failed write leaves no partial file and an earlier file at path stays
// as it was. The temporary file has no name while it is written where the
// file system allows (O_TMPFILE, tempFile): a hull killed midway leaves
// nothing behind. The file gets mode.
func writeFileAtomic(path string, mode os.FileMode, write func(io.Writer) error) (retErr error) {
	f, commit, err := tempFile(filepath.Dir(path), mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if retErr != nil {
			f.Close()
			if f.Name() != "" {
				os.Remove(f.Name())
			}
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil { // whatever the umask
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := commit(path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// namedTempFile is tempFile where a file cannot be made without a name: a
// hidden file in dir, renamed to the destination.
func namedTempFile(dir string) (*os.File, func(string) error, error) {
	f, err := os.CreateTemp(dir, ".hull_temp_")
	if err != nil {
		return nil, nil, err
	}
	return f, func(path string) error { return os.Rename(f.Name(), path) }, nil
}
