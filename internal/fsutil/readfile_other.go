//go:build !linux

package fsutil

import "os"

// ReadSmallFile is os.ReadFile (readfile_linux.go saves syscalls).
func ReadSmallFile(path string) ([]byte, error) { return os.ReadFile(path) }
