// Package spawn starts containers' inits from the owning process
// (Spawner.StartInit: a plan init, a Detached container's shim or a Go
// init, up to its report that it is ready): the sealed memfd copy of the program they are started from (Exe), the
// locked OS threads they are forked or cloned from, which must live as
// long as the Runtime because pdeathsig follows the thread (Spawner),
// the pool of Go inits started ahead of time (WarmInit) and that of
// Detached containers' shims (warmshim_linux.go).
//
// It is the owner's side of internal/initproc, which holds what runs in
// the child: the C plan executor behind initproc.Spawn and the Go init.
// The two are apart because nothing here runs inside a container, and
// nothing of initproc's child side needs the owner's threads.
package spawn
