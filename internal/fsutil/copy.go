package fsutil

import (
	"os"
	"path/filepath"
)

// CopyFiles copies each file files names (a name in dir -> the path to
// copy it from) into dir, with mode perm: a container's own /etc/hosts
// and resolv.conf made from the host's or another container's.
func CopyFiles(dir string, files map[string]string, perm os.FileMode) error {
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, perm); err != nil {
			return err
		}
	}
	return nil
}
