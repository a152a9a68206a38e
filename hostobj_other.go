//go:build !linux

package hull

import "context"

// hostObjects has nothing to record where there are no containers.
type hostObjects struct{}

// Sweep returns ErrUnsupported: containers need Linux.
func (rt *Runtime) Sweep(ctx context.Context) (SweepReport, error) {
	return SweepReport{}, ErrUnsupported
}
