//go:build !linux

package fsutil

import (
	"errors"
	"os"
)

// unnamedFile returns no file: only Linux has O_TMPFILE, so the caller
// makes a named one.
func unnamedFile(dir, path string, perm os.FileMode) (*os.File, error) { return nil, nil }

// linkUnnamed is never called off Linux: unnamedFile makes no file.
func linkUnnamed(f *os.File, dir, base string) (string, error) {
	return "", errors.ErrUnsupported
}

// exchangeFiles is Linux's renameat2(RENAME_EXCHANGE); elsewhere the
// caller renames.
func exchangeFiles(a, b string) error { return errors.ErrUnsupported }
