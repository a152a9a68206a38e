package store

import (
	"os"

	"github.com/hullbox/hull/internal/fsutil"
)

// writeFile replaces path atomically (fsutil.WriteFileAtomic: readers see
// the old content or all of the new) with the temp file made by
// createLocked, so that a concurrent Open's cleanup spares it. Index and
// sources are written with fsutil.SyncDir; volatile holds without.
func (s *Store) writeFile(path string, data []byte, perm os.FileMode, opts ...fsutil.Option) error {
	create := fsutil.CreateTemp(func(dir, pattern string) (*os.File, error) {
		return createLocked(s.root, func() (*os.File, error) { return os.CreateTemp(dir, pattern) })
	})
	return fsutil.WriteFileAtomic(path, data, perm, append(opts, create)...)
}
