package initproc

import (
	"encoding/binary"
	"os"
	"unsafe"
)

// atSecure is the auxiliary vector's AT_SECURE: the kernel set it for an
// exec that raised privileges (setuid or setgid, file capabilities, an
// LSM transition).
const atSecure = 23

// secureExec reports whether this process was exec'd in secure-execution
// mode (AT_SECURE set; true when it cannot tell). Such a process must not
// become a container init: its environment and descriptors, which say
// what an init sets up, are its unprivileged caller's.
func secureExec() bool {
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return true
	}
	word := int(unsafe.Sizeof(uintptr(0)))
	read := func(b []byte) uint64 {
		if word == 8 {
			return binary.NativeEndian.Uint64(b)
		}
		return uint64(binary.NativeEndian.Uint32(b))
	}
	for len(data) >= 2*word {
		key, val := read(data), read(data[word:])
		data = data[2*word:]
		if key == atSecure {
			return val != 0
		}
	}
	return true
}
