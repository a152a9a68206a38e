//go:build !linux

package hull

import (
	"context"
	"syscall"
	"time"
)

// Init does nothing outside Linux: there are no containers to initialise.
func Init() {}

type liveProcess struct{}

type execFile struct{}

type spawner struct{}

// Create returns ErrUnsupported: containers need Linux.
func (rt *Runtime) Create(ctx context.Context, ref string, opts ...RunOption) (*Container, error) {
	return nil, ErrUnsupported
}

func (rt *Runtime) create(ctx context.Context, ref string, img *Image, opts ...RunOption) (*Container, error) {
	return nil, ErrUnsupported
}

// Start returns ErrUnsupported: containers need Linux.
func (c *Container) Start(ctx context.Context) error { return ErrUnsupported }

// Wait returns ErrUnsupported: containers need Linux.
func (c *Container) Wait(ctx context.Context) (ExitStatus, error) {
	return ExitStatus{}, ErrUnsupported
}

// Kill returns ErrUnsupported: containers need Linux.
func (c *Container) Kill(ctx context.Context, sig syscall.Signal) error { return ErrUnsupported }

// Stop returns ErrUnsupported: containers need Linux.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error { return ErrUnsupported }

// Remove returns ErrUnsupported: containers need Linux.
func (c *Container) Remove(ctx context.Context, opts ...RemoveOption) error { return ErrUnsupported }

func (rt *Runtime) closeContainers(also func() error) error { return also() }
func (rt *Runtime) recover() error                          { return nil }

// pendingStart is Linux's (container_linux.go): nothing is ever created
// elsewhere.
type pendingStart struct{}
