package snapshot

import (
	"errors"
	"os"
	"path/filepath"
)

// initLayerName is the init layer's directory under the root: versioned, so
// that a hull that changes its content makes a new one beside the old.
const initLayerName = "init-1"

// InitLayer returns the directory of the init layer, made on first use:
// what every container's root has over its image's layers, as with
// Docker's init layer. /etc/mtab is a link to /proc/mounts, and the mount
// points the init mounts over exist (/etc/hostname, /etc/hosts,
// /etc/resolv.conf, /dev, /proc, /sys; /dev/pts, /dev/shm and /dev/console
// too, under the /dev tmpfs, as in Docker's), so that starting a container
// writes none of them into its own upper directory, and its export has
// them as Docker's has. It is made in a temp snapshot directory and
// renamed into place: readers never see it half made.
func (s *Store) InitLayer() (string, error) {
	dir := filepath.Join(s.root, initLayerName, "fs")
	if _, err := os.Lstat(filepath.Join(dir, "etc", "mtab")); err == nil {
		return dir, nil
	}
	p, err := s.Prepare()
	if err != nil {
		return "", err
	}
	defer p.Abort()
	for _, d := range []string{"etc", "dev", "dev/pts", "dev/shm", "proc", "sys"} {
		if err := os.Mkdir(filepath.Join(p.Dir, d), 0o755); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/console"} {
		if err := os.WriteFile(filepath.Join(p.Dir, f), nil, 0o644); err != nil {
			return "", err
		}
	}
	// Last: its presence says the layer is whole.
	if err := os.Symlink("/proc/mounts", filepath.Join(p.Dir, "etc", "mtab")); err != nil {
		return "", err
	}
	if err := os.Rename(p.tmp, filepath.Join(s.root, initLayerName)); err != nil {
		if _, serr := os.Lstat(filepath.Join(dir, "etc", "mtab")); serr == nil {
			return dir, nil // another process made it first
		}
		return "", errors.Join(err, errors.New("make the init layer"))
	}
	return dir, nil
}
