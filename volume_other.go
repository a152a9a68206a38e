//go:build !linux

package hull

import (
	"context"
	"io"
)

// Export returns ErrUnsupported: volumes need Linux.
func (v *Volume) Export(ctx context.Context, w io.Writer, opts ...ExportVolumeOption) error {
	return ErrUnsupported
}

// ImportVolume returns ErrUnsupported: volumes need Linux.
func (rt *Runtime) ImportVolume(ctx context.Context, name string, r io.Reader, opts ...VolumeOption) (*Volume, error) {
	return nil, ErrUnsupported
}

// lockVolumes fails, so CreateVolume, Volume.Remove and PruneVolumes
// return ErrUnsupported.
func (rt *Runtime) lockVolumes() (func(), error) { return nil, ErrUnsupported }

func (rt *Runtime) lockContainersAndVolumes() (func(), error) { return nil, ErrUnsupported }
