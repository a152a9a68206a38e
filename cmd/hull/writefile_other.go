//go:build !linux

package main

import "os"

// tempFile makes a named temporary file in dir (namedTempFile): only
// Linux has O_TMPFILE.
func tempFile(dir string, _ os.FileMode) (*os.File, func(string) error, error) {
	return namedTempFile(dir)
}
