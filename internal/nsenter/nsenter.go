//go:build cgo

// Package nsenter joins a running container's namespaces before the Go
// runtime starts. A Go program is multi-threaded from its first
// instruction, and the kernel refuses setns(CLONE_NEWNS) to a process
// whose threads share their filesystem context, so a Go function cannot
// enter a container's mount namespace. The C constructor in nsenter.c
// runs before the Go runtime, while the process still has one thread: when
// _HULL_NSENTER=<pid> is set it enters the cgroup, ipc, uts, net and
// mount namespaces of <pid> and leaves its pid namespace open at PidNSFD.
// The process itself stays outside the container's pid namespace, where
// no process of the container can see it (nor ptrace it, whatever
// capabilities the container has): internal/initproc takes the
// container's credentials on one thread, joins the pid namespace there
// and forks the command from it, which alone is a member of the
// container. Without the variable it does nothing.
//
// Package hull imports it blank, so it is linked only into programs that
// use hull. It needs cgo; without cgo Available is false and exec fails.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"

// Env names the variable that holds the PID whose namespaces to join.
const Env = "_HULL_NSENTER"

// PidNSFD is the descriptor of the container's pid namespace that the
// constructor leaves open (close-on-exec).
const PidNSFD = 9

// Available reports whether the constructor is linked in (cgo builds).
const Available = true
