package snapshot

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// MountReadOnly mounts the layers (top-most first) read-only at target: a
// read-only bind of the single layer, or an overlay of several. The caller
// must Unmount it.
func MountReadOnly(target string, layers []string) error {
	switch len(layers) {
	case 0:
		return fmt.Errorf("mount %s: no layers", target)
	case 1:
		if err := unix.Mount(layers[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", layers[0], err)
		}
		return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
	}
	opts := "lowerdir=" + strings.Join(layers, ":")
	if len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("mount %s: %d layers make overlay options longer than a page", target, len(layers))
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mount overlay at %s: %w", target, err)
	}
	return nil
}

// Unmount detaches what is mounted at target.
func Unmount(target string) error {
	return unix.Unmount(target, unix.MNT_DETACH)
}
