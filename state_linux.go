package hull

import "golang.org/x/sys/unix"

// exchangeFiles swaps the files at a and b atomically; it fails when
// either is missing or the filesystem cannot (replaceFile then renames).
func exchangeFiles(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
