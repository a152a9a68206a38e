//go:build cgo

// Package nsenter joins a running container's namespaces before the Go
// runtime starts. A Go program is multi-threaded from its first
// instruction, and the kernel refuses setns(CLONE_NEWNS) to a process
// whose threads share their filesystem context, so a Go function cannot
// enter a container's mount namespace. The C constructor in nsenter.c
// runs before the Go runtime, while the process still has one thread: when
// _HULL_NSENTER=<pid> is set it enters the cgroup, ipc, uts, net, pid and
// mount namespaces of <pid>, forks once (a pid namespace applies to
// children only), and lets the child go on into Go as a member of the
// container; the parent waits and exits with the child's status. Without
// the variable it does nothing.
//
// Package hull imports it blank, so it is linked only into programs that
// use hull. It needs cgo; without cgo Available is false and exec fails.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"

// Env names the variable that holds the PID whose namespaces to join.
const Env = "_HULL_NSENTER"

// Available reports whether the constructor is linked in (cgo builds).
const Available = true
