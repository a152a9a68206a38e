//go:build !linux

package attach

import "golang.org/x/sys/unix"

// oPath opens a directory only to name paths under it (containers need
// Linux: this only keeps the package building elsewhere).
const oPath = unix.O_RDONLY
