package seccomp

import (
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccomp(2) operation and flags (linux/seccomp.h).
const (
	setModeFilter = 1

	flagTsync     = 1 << 0
	flagLog       = 1 << 1
	flagSpecAllow = 1 << 2
)

var flagNames = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":      flagTsync,
	"SECCOMP_FILTER_FLAG_LOG":        flagLog,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW": flagSpecAllow,
}

// LoadFlags returns the seccomp(2) flags p asks for.
func LoadFlags(p *specs.LinuxSeccomp) (uint, error) { return loadFlags(p) }

func loadFlags(p *specs.LinuxSeccomp) (uint, error) {
	var flags uint
	for _, f := range p.Flags {
		v, ok := flagNames[f]
		if !ok {
			return 0, fmt.Errorf("%w: flag %s", ErrUnsupported, f)
		}
		flags |= v
	}
	return flags, nil
}

// Load loads a compiled filter on the calling thread with seccomp(2).
// The thread must stay locked to its goroutine (runtime.LockOSThread) up
// to the execve the filter is meant for: a filter is per thread and
// survives execve. The thread needs no_new_privs or CAP_SYS_ADMIN.
func Load(prog []unix.SockFilter, flags uint) error {
	if len(prog) == 0 {
		return fmt.Errorf("seccomp: empty filter")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, setModeFilter, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp: load filter: %w", errno)
	}
	return nil
}
