//go:build unix

package dockerfile

import "syscall"

const nonBlock = syscall.O_NONBLOCK
