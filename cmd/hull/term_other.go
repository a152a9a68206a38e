//go:build !linux

package main

import (
	"errors"
	"os"
)

// isTerminal guesses from the file mode; /dev/null also passes, which only
// costs a few escape sequences written to nowhere.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// echoOff is not implemented here: a password typed at a prompt is echoed.
func echoOff(*os.File) (restore func(), err error) {
	return nil, errors.ErrUnsupported
}
