// Package initproc is what runs inside a new container before the user's
// process, and the helpers hull starts beside containers.
//
// A container's Go init is a sealed in-memory copy of the program that
// linked hull, executed with Env (_HULL_INIT) set in new namespaces: this
// package's init() sees it and takes over (Run), mounts the root
// filesystem, /proc, /dev, /sys..., pivots into it, drops privileges and
// execs the user's command (docs/containers.md). The same re-execution,
// with Env set to WarmMode, ShimMode or ShimWarmMode, runs a warm pool's
// spare init, a Detached container's shim or a shim started ahead of time
// (which serves one container after another). A shim clones a plan init
// as an owner does (SpawnTold) where Compile gives a plan. An exec into a
// running container is a plan (CompileExec) run by plan.c, like most
// inits.
//
// It is a package apart so that its init() runs early: Go runs package
// initialisers in dependency order, so only those of its own imports run
// first (hull's leaf packages, securejoin, klauspost/compress, netlink,
// nftables, the runtime-spec types: `go list -deps` lists them), not the
// heavy ones of the program that linked hull (registry clients, protobuf,
// ...), which would otherwise delay every container start by tens of
// milliseconds in a process that only needs to exec. Nothing in this
// package's imports may be costly to initialise.
//
// Most containers do not even pay for that: the parent compiles the same
// setup into a plan of system calls (Compile), and Spawn starts an init
// that carries it out in C (plan.c) as a clone of the parent that shares
// its memory until it execs the user's command: no exec of the binary, no
// Go runtime. The Go init runs the rest (Compile says which).
package initproc
