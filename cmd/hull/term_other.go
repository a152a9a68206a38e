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

// makeRaw is not implemented here: the terminal stays in line mode.
func makeRaw(*os.File) (restore func(), err error) {
	return nil, errors.ErrUnsupported
}

// termSize is not implemented here.
func termSize(*os.File) (rows, cols uint16, err error) {
	return 0, 0, errors.ErrUnsupported
}
