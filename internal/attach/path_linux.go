package attach

import "golang.org/x/sys/unix"

// oPath opens a directory only to name paths under it.
const oPath = unix.O_PATH
