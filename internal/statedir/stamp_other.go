//go:build !linux

package statedir

import (
	"errors"
	"os"
	"path/filepath"
)

// stat has no stamp to give here: nothing is cached (ReadStates).
func stat(path string) (Stamp, error) { return Stamp{}, errors.ErrUnsupported }

// openDir has nothing to open here: statAt and readStampedAt use whole
// paths.
func openDir(string) (int, func()) { return 0, func() {} }

func statAt(_ int, dir, rel string) (Stamp, error) { return stat(filepath.Join(dir, rel)) }

func readStampedAt(_ int, dir, rel string) ([]byte, Stamp, error) {
	return readStamped(filepath.Join(dir, rel))
}

// readStamped reads the file at path whole, with no stamp.
func readStamped(path string) ([]byte, Stamp, error) {
	data, err := os.ReadFile(path)
	return data, Stamp{}, err
}
