//go:build cgo

package initproc

// #cgo CFLAGS: -Wall -O2 -fstack-clash-protection
// #include <stdlib.h>
// #include "spawn.h"
import "C"

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// planAvailable: plan.c is linked in (see Spawn).
const planAvailable = true

// spawnStackSize is a plan init's stack until it execs: plan.c keeps what
// it needs there (never on the heap), up to about 360 KiB for a plan with
// the most groups and arguments; pages never touched cost nothing. Below
// it, spawnGuardSize of no access: an overflow faults (and with
// -fstack-clash-protection, no frame jumps past it) instead of writing
// into the program's memory. Below that guard, forkStackSize and another
// guard: the stack of an exec's child (opFork), which runs the end of the
// plan while the init waits on its own.
const (
	spawnStackSize = 1 << 20
	forkStackSize  = 512 << 10
	spawnGuardSize = 64 << 10
)

// SpawnStack is the stack plan inits run on until they exec. One thread
// spawns one at a time, so it keeps one stack for all of them.
type SpawnStack struct{ mem []byte }

// NewSpawnStack maps a stack, with its guard below it, and opFork's with
// its own.
func NewSpawnStack() (*SpawnStack, error) {
	mem, err := unix.Mmap(-1, 0, 2*spawnGuardSize+forkStackSize+spawnStackSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_STACK|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("init stack: %w", err)
	}
	for _, guard := range [][]byte{mem[:spawnGuardSize], mem[spawnGuardSize+forkStackSize:][:spawnGuardSize]} {
		if err := unix.Mprotect(guard, unix.PROT_NONE); err != nil {
			_ = unix.Munmap(mem)
			return nil, fmt.Errorf("init stack: %w", err)
		}
	}
	return &SpawnStack{mem: mem}, nil
}

// Free unmaps the stack; no init may be running on it.
func (s *SpawnStack) Free() { _ = unix.Munmap(s.mem) }

// Spawn starts a plan init from the calling thread, which it blocks until
// the init has exec'd the container's process or exited, as posix_spawn
// does: clone(CLONE_VM|CLONE_VFORK) into the namespaces of cloneflags,
// and the init runs plan.c in this program's memory, on stack, with no
// exec of this program (plan.c's hull_plan_spawn). The caller must keep
// the thread for as long as the init may live: pdeathsig, when set, is
// sent when that thread ends.
//
// The init first reports its pid on the status pipe ("pid", in Code),
// then waits for one byte on the config pipe (the parent puts it in its
// cgroup in between), then runs plan (Compile's) as the Go init runs a
// config: "ready", the start byte, exec; or an exec's plan
// (CompileExec), with fork, where its child's pid goes. The descriptors
// (stdio: -1 is /dev/null; console, the socket a terminal's master is sent
// on, and nsfd, the pidfd whose namespaces an exec joins, -1 if none) must
// stay open until the pid is reported.
func Spawn(stack *SpawnStack, plan []byte, cloneflags uintptr, stdio [3]int, config, status, console, nsfd int, pdeathsig syscall.Signal, fork *ForkSlot) (int, error) {
	return spawn(stack, plan, cloneflags, stdio, config, status, console, nsfd, pdeathsig, fork, nil, nil)
}

// SpawnTold is Spawn for a Detached container's shim: no parent-death
// signal, no exec's namespaces; the kernel writes the init's pid to told
// as it clones it (before the init runs), and the init sets started to 1
// once it has read its start byte (opReady), in our memory: the caller
// may read both from another thread while this one waits.
func SpawnTold(stack *SpawnStack, plan []byte, cloneflags uintptr, stdio [3]int, config, status, console int, told, started *ForkSlot) error {
	_, err := spawn(stack, plan, cloneflags, stdio, config, status, console, -1, 0, nil, told, started)
	return err
}

func spawn(stack *SpawnStack, plan []byte, cloneflags uintptr, stdio [3]int, config, status, console, nsfd int, pdeathsig syscall.Signal, fork, told, started *ForkSlot) (int, error) {
	s := (*C.struct_hull_spawn)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_hull_spawn{}))))
	defer C.free(unsafe.Pointer(s))
	s.plan = (*C.uchar)(C.CBytes(plan))
	defer C.free(unsafe.Pointer(s.plan))
	s.plan_len = C.size_t(len(plan))
	s.flags = C.ulong(cloneflags)
	for i, fd := range append(stdio[:], config, status, console, nsfd) {
		s.fds[i] = C.int(fd)
	}
	s.pdeathsig = C.int(pdeathsig)
	if Tracing() {
		s.trace = C.CString(os.Getenv(TraceEnv))
		defer C.free(unsafe.Pointer(s.trace))
	}
	s.stack = (*C.char)(unsafe.Pointer(&stack.mem[0]))
	s.stack_size = C.size_t(len(stack.mem))
	s.fork_stack = (*C.char)(unsafe.Add(unsafe.Pointer(&stack.mem[0]), spawnGuardSize+forkStackSize))
	if fork != nil {
		s.fork_pid = fork.p
	}
	if told != nil {
		s.pid_out = told.p
	}
	if started != nil {
		s.started = started.p
	}
	pid := int(C.hull_plan_spawn(s))
	if pid < 0 {
		return 0, fmt.Errorf("clone: %w", syscall.Errno(-pid))
	}
	return pid, nil
}

// ForkSlot is where the kernel writes the pid of an exec's child (opFork)
// as it clones it, before the child runs: the parent reads it there to
// kill a child that never reported (the container can stop it). It is C
// memory: Free it once the exec's plan init is done.
type ForkSlot struct{ p *C.int }

// NewForkSlot allocates a slot, 0 until a child is cloned.
func NewForkSlot() *ForkSlot {
	return &ForkSlot{p: (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))}
}

// Pid is the child's pid, or 0 before the clone.
func (f *ForkSlot) Pid() int { return int(atomic.LoadInt32((*int32)(unsafe.Pointer(f.p)))) }

// Free releases the slot.
func (f *ForkSlot) Free() { C.free(unsafe.Pointer(f.p)) }

// Undumpable reports whether an exec's plan (CompileExec) has run in this
// program: its child may still be in a container, stopped there before its
// exec with our memory, so the program stays non-dumpable from then on
// (nothing without CAP_SYS_PTRACE can read or write its memory).
func Undumpable() bool { return C.hull_plan_undumpable() != 0 }

// cExecutes reports whether plan.c has an executor for op
// (TestPlanExecutors).
func cExecutes(op uint32) bool { return C.hull_plan_executes(C.unsigned(op)) != 0 }
