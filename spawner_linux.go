package hull

import (
	"github.com/hullbox/hull/internal/spawn"
)

// Container inits are started by internal/spawn: from the sealed copy of
// this binary (execFile), on the Runtime's spawner threads, or by a warm
// Go init standing in (spawn.WarmInit).
type (
	execFile = spawn.Exe
	spawner  = spawn.Spawner
)

// initExe returns the Runtime's sealed binary, made on first use.
func (rt *Runtime) initExe() (*execFile, error) {
	rt.ctrs.exeOnce.Do(func() { rt.ctrs.exe, rt.ctrs.exeErr = spawn.NewExe() })
	return rt.ctrs.exe, rt.ctrs.exeErr
}

// spawnErr makes spawn.ErrClosed match ErrClosed too.
func spawnErr(err error) error { return alsoIs(err, spawn.ErrClosed, ErrClosed) }
