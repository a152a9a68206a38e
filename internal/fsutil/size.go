package fsutil

import (
	"io/fs"
	"path/filepath"
)

// DirSize is the apparent size of the regular files under dir, in bytes:
// what removing the tree frees, as `docker system df` counts it. Entries
// it cannot read are skipped.
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
