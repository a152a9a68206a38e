package store

import (
	"os"
	"path/filepath"
)

// writeFileAtomic writes data to path so that readers see either the old
// content or all of the new: temp file in the same directory, fsync, rename,
// fsync of the directory.
func (s *Store) writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return s.writeFile(path, data, perm, true)
}

// writeFile is writeFileAtomic, without the fsyncs unless durable: readers
// still see the old content or all of the new, but after a machine crash
// the file may be missing or empty.
func (s *Store) writeFile(path string, data []byte, perm os.FileMode, durable bool) (retErr error) {
	dir := filepath.Dir(path)
	f, err := createLocked(s.root, func() (*os.File, error) {
		return os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	})
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
