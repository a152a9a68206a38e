//go:build !linux

package statedir

import (
	"errors"
	"os"
)

// stat has no stamp to give here: nothing is cached (ReadStates).
func stat(path string) (Stamp, error) { return Stamp{}, errors.ErrUnsupported }

// readStamped reads the file at path whole, with no stamp.
func readStamped(path string) ([]byte, Stamp, error) {
	data, err := os.ReadFile(path)
	return data, Stamp{}, err
}
