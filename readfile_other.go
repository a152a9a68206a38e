//go:build !linux

package hull

import "os"

// readSmallFile is os.ReadFile (readfile_linux.go saves syscalls).
func readSmallFile(path string) ([]byte, error) { return os.ReadFile(path) }
