package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal (TCGETS succeeds on it).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return termios(f, syscall.TCGETS, &t) == nil
}

// echoOff turns off the echo of the terminal f, keeping line editing and
// Ctrl-C, for a password prompt (what golang.org/x/term's ReadPassword
// does, without the dependency). restore puts the old mode back.
func echoOff(f *os.File) (restore func(), err error) {
	var old syscall.Termios
	if err := termios(f, syscall.TCGETS, &old); err != nil {
		return nil, err
	}
	t := old
	t.Lflag &^= syscall.ECHO
	t.Lflag |= syscall.ICANON | syscall.ISIG
	t.Iflag |= syscall.ICRNL
	if err := termios(f, syscall.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { _ = termios(f, syscall.TCSETS, &old) }, nil
}

func termios(f *os.File, req uintptr, t *syscall.Termios) error {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(t)))
	if errno != 0 {
		return errno
	}
	return nil
}

// makeRaw puts the terminal f in raw mode (cfmakeraw), for a container's
// terminal: keys, Ctrl-C included, go to it as typed. restore puts the old
// mode back.
func makeRaw(f *os.File) (restore func(), err error) {
	var old syscall.Termios
	if err := termios(f, syscall.TCGETS, &old); err != nil {
		return nil, err
	}
	t := old
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB
	t.Cflag |= syscall.CS8
	t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
	if err := termios(f, syscall.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { _ = termios(f, syscall.TCSETS, &old) }, nil
}

// termSize returns the rows and columns of the terminal f.
func termSize(f *os.File) (rows, cols uint16, err error) {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return 0, 0, errno
	}
	return ws.Row, ws.Col, nil
}
