//go:build !linux

package hull

import "errors"

// exchangeFiles is Linux's renameat2(RENAME_EXCHANGE); elsewhere
// replaceFile renames.
func exchangeFiles(a, b string) error {
	return errors.ErrUnsupported
}
