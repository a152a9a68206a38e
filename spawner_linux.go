package hull

import (
	"os/exec"

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

// spawnStart starts cmd on the Runtime's spawner thread and returns the
// command that runs (a retry may have started a copy of cmd); after
// Close it fails with ErrClosed.
func (rt *Runtime) spawnStart(cmd *exec.Cmd) (*exec.Cmd, error) {
	cmd, err := rt.ctrs.spawner.Start(cmd)
	return cmd, spawnErr(err)
}

// spawnErr makes spawn.ErrClosed match ErrClosed too.
func spawnErr(err error) error { return alsoIs(err, spawn.ErrClosed, ErrClosed) }
