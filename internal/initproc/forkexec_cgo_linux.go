//go:build cgo

package initproc

// #include <stdlib.h>
// #include "forkexec.h"
import "C"

import (
	"syscall"
	"unsafe"
)

// forkExec forks the command of an exec from the calling thread, which
// must be locked and hold the command's credentials, and execs path in
// the child with fds as its stdin, stdout and stderr (a new session with
// fds[0] as its controlling terminal if tty). The child gets SIGKILL when
// this thread ends. It returns the child's pid, or the error of the fork,
// of the stdio or terminal setup, or of execve (that child is reaped).
//
// This is C because syscall.ForkExec cannot be used: the child is in the
// container's pid namespace, where its parent's pid reads as 0, and
// ForkExec's Pdeathsig takes that for a parent already dead and kills
// the child.
func forkExec(path string, argv, env []string, fds [3]int, tty bool) (int, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cargv, freeArgv := cStrings(argv)
	defer freeArgv()
	cenv, freeEnv := cStrings(env)
	defer freeEnv()
	cfds := [3]C.int{C.int(fds[0]), C.int(fds[1]), C.int(fds[2])}
	ctty := C.int(0)
	if tty {
		ctty = 1
	}
	pid := int(C.hull_forkexec(cpath, cargv, cenv, &cfds[0], ctty))
	if pid >= 0 {
		return pid, nil
	}
	return 0, syscall.Errno(-pid)
}

// cStrings makes a NULL-terminated C array of C strings of ss, in C
// memory (cgo may not keep Go pointers in it), and its free.
func cStrings(ss []string) (**C.char, func()) {
	arr := (*[1 << 20]*C.char)(C.malloc(C.size_t(len(ss)+1) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))[: len(ss)+1 : len(ss)+1]
	for i, s := range ss {
		arr[i] = C.CString(s)
	}
	arr[len(ss)] = nil
	return &arr[0], func() {
		for _, p := range arr[:len(ss)] {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(&arr[0]))
	}
}
