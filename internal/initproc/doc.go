// Package initproc is what runs inside a new container before the user's
// process: hull re-executes a sealed copy of its own binary with
// _HULL_INIT=1 in new namespaces, and this package's init() takes over
// there, mounts the root filesystem, /proc, /dev, /sys..., pivots into it,
// drops privileges and execs the user's command (docs/containers.md).
//
// It is a package of its own, importing only the standard library,
// x/sys/unix, securejoin and the runtime-spec types, for start-up speed:
// Go runs package initialisers in dependency order, and a package with few
// dependencies runs early, before the heavy initialisers (registry
// clients, protobuf, ...) of the program that linked hull. Those would
// otherwise delay every container start by tens of milliseconds, in a
// process that only needs to exec.
//
// Most containers do not even pay for that: the parent compiles the same
// setup into a plan of system calls (Compile), and Spawn starts an init
// that carries it out in C (plan.c) as a clone of the parent that shares
// its memory until it execs the user's command: no exec of the binary, no
// Go runtime. The Go init runs the rest (Compile says which).
package initproc
