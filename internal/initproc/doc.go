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
// setup into a plan of system calls (Compile), which a C constructor
// (plan.c) carries out before the Go runtime starts, when _HULL_INIT=plan.
// The Go init runs the rest (PlanMode says which).
package initproc
