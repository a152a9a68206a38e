package hull

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/spawn"
)

// spawn starts the container's init (spawn.Spawner.StartInit) in its
// cgroup, made here with its limits. The returned liveProcess is non-nil
// once a process exists, even on error: the caller reaps it.
func (rt *Runtime) spawn(ctx context.Context, cfg *initproc.Config, rc *runConfig) (*liveProcess, error) {
	if cfg.Volatile { // the mark the last volatile mount left, which fails the next (initproc.Config.Volatile)
		if err := os.RemoveAll(filepath.Join(cfg.Work, initproc.VolatileMarker)); err != nil {
			return nil, err
		}
	}
	initproc.Trace("P spawn begin")
	cg, err := rt.newCgroup(cfg.ID, rc.memory, rc.pidsLimit)
	if err != nil {
		return nil, err
	}
	if err := cg.SetResources(cfg.Spec.Linux.Resources); err != nil {
		return nil, errors.Join(cgroupErr(err), cg.Remove())
	}
	initproc.Trace("P cgroup made")
	in, err := rt.ctrs.spawner.StartInit(ctx, spawn.InitRequest{
		Config:      cfg,
		HostNetwork: rc.net.mode == NetworkModeHost,
		Cgroup:      cg,
		PidsLimit:   rc.pidsLimit,
		ForceGo:     rt.goInit,
		Wire: func(cmd *exec.Cmd) (spawn.Streams, error) {
			sio, err := rt.wireStdio(cfg, rc, cmd)
			if err != nil {
				return nil, err
			}
			return sio, nil
		},
		Exe:        rt.initExe,
		StartError: func(m initproc.Message) error { return startError(cfg.ID, m) },
	})
	err = spawnErr(err)
	if in == nil {
		return nil, err
	}
	sio := in.Streams.(*containerStdio)
	return &liveProcess{proc: in.Proc, wait: in.Wait, kind: in.Kind, in: in, cfgW: in.CfgW, cg: cg, io: sio, rc: rc, done: make(chan struct{})}, err
}

func startError(id string, m initproc.Message) error {
	var err error = errors.New(m.Message)
	if m.Errno != 0 {
		err = &errnoError{msg: m.Message, errno: syscall.Errno(m.Errno)}
	}
	return &StartError{ID: id, Stage: m.Stage, ExitCode: m.Code, Err: err}
}

// errnoError is a message from the init that carries an errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }
func (e *errnoError) Unwrap() error { return e.errno }
