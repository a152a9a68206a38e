//go:build !linux

package hull

import (
	"context"
	"time"
)

// Stats returns ErrUnsupported: containers need Linux.
func (c *Container) Stats(ctx context.Context) (Stats, error) { return Stats{}, ErrUnsupported }

// StatsStream returns ErrUnsupported: containers need Linux.
func (c *Container) StatsStream(ctx context.Context, interval time.Duration) (<-chan Stats, error) {
	return nil, ErrUnsupported
}

// Top returns ErrUnsupported: containers need Linux.
func (c *Container) Top(ctx context.Context) ([]Process, error) { return nil, ErrUnsupported }

// Pause returns ErrUnsupported: containers need Linux.
func (c *Container) Pause(ctx context.Context) error { return ErrUnsupported }

// Resume returns ErrUnsupported: containers need Linux.
func (c *Container) Resume(ctx context.Context) error { return ErrUnsupported }

// Restart returns ErrUnsupported: containers need Linux.
func (c *Container) Restart(ctx context.Context, timeout time.Duration) error { return ErrUnsupported }

func (c *Container) refresh() error { return nil }

func (rt *Runtime) removeAutoRemoved([]containerState) {}
