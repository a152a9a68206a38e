package hull

import "github.com/hullbox/hull/internal/initproc"

// Init runs a container's init when this process was started as one, and
// then never returns; otherwise it does nothing. hull runs it
// automatically, early, from a package initialiser (internal/initproc), so
// programs need not call it; calling it first thing in main is harmless.
func Init() { initproc.Run() }
