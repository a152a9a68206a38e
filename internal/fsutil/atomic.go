package fsutil

import (
	"io"
	"os"
	"path/filepath"
)

// Option changes how WriteAtomic and WriteFileAtomic write.
type Option func(*writeConfig)

type writeConfig struct {
	sync, syncDir, exchange, unnamed bool
	create                           func(dir, pattern string) (*os.File, error)
}

// Sync syncs the file's data before it takes path's place, so that after
// a machine crash path holds the old content or all of the new, never an
// empty file. Default: no sync, which costs nothing but a crash may leave
// path empty or missing. Use it for what outlives a reboot.
func Sync() Option { return func(c *writeConfig) { c.sync = true } }

// SyncDir is Sync, and syncs path's directory after the rename too, so
// that once the write returns the new content survives a crash.
func SyncDir() Option { return func(c *writeConfig) { c.sync, c.syncDir = true, true } }

// Exchange swaps the new file with the old (renameat2 RENAME_EXCHANGE)
// and deletes the old one, where the kernel and file system can, instead
// of renaming over it. Meant for writes without Sync of a file that is
// soon deleted: ext4 starts writing a file's data out when a rename
// replaces another file (its auto_da_alloc), a disk write per change that
// buys nothing when the file is deleted before the kernel's own writeback
// would reach it (a container's state.json). Elsewhere it renames.
func Exchange() Option { return func(c *writeConfig) { c.exchange = true } }

// Unnamed writes the new content into a file with no name (Linux's
// O_TMPFILE) that is linked into the directory only once written: a
// writer killed midway leaves nothing behind, which matters for large
// files written into a user's directory (hull save -o). Where there is no
// O_TMPFILE (other systems, some file systems) the file is a named one.
func Unnamed() Option { return func(c *writeConfig) { c.unnamed = true } }

// CreateTemp makes the named temporary file with create (given the
// directory and an os.CreateTemp pattern) instead of os.CreateTemp: the
// store's makes it under a lock and flocks it, so that a cleanup of dead
// writers' files spares it. The file's mode is set to perm afterwards.
func CreateTemp(create func(dir, pattern string) (*os.File, error)) Option {
	return func(c *writeConfig) { c.create = create }
}

// WriteFileAtomic replaces the file at path with one holding data and
// mode perm, in one step: readers see the old content or all of the new,
// never a mix, and a failed write leaves the old file as it was. By
// default the new file is written beside path under a hidden name
// (.tmp-<name>-<random>) and renamed over it without any sync; opts
// change that.
func WriteFileAtomic(path string, data []byte, perm os.FileMode, opts ...Option) error {
	return WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, opts...)
}

// WriteAtomic is WriteFileAtomic for content that write streams into w
// (an *os.File). An error of write is returned as is and leaves no new
// file.
func WriteAtomic(path string, perm os.FileMode, write func(io.Writer) error, opts ...Option) (retErr error) {
	var cfg writeConfig
	for _, o := range opts {
		o(&cfg)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	var (
		f     *os.File
		tmp   string // the temporary file's name, "" while it has none
		chmod = true
		err   error
	)
	if cfg.unnamed {
		f, err = unnamedFile(dir, path, perm)
	}
	if f == nil && err == nil {
		create := cfg.create
		if create == nil {
			create = os.CreateTemp
			chmod = perm != 0o600 // os.CreateTemp's mode
		}
		f, err = create(dir, ".tmp-"+base+"-*")
		if err == nil {
			tmp = f.Name()
		}
	}
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if retErr != nil && tmp != "" {
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if chmod { // whatever the umask
		if err := f.Chmod(perm); err != nil {
			return err
		}
	}
	if cfg.sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if tmp == "" {
		if tmp, err = linkUnnamed(f, dir, base); err != nil {
			return err
		}
	}
	// f stays open until tmp is in place: a lock on it (CreateTemp) marks
	// the file as alive until then.
	if cfg.exchange && exchangeFiles(tmp, path) == nil {
		// tmp now holds the old content; path is right even if this
		// fails, and path's directory takes tmp with it when deleted.
		_ = os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		// (Rename also where the exchange failed: no file at path
		// yet, or no exchange on this file system.)
		return err
	}
	tmp = ""
	err = f.Close()
	f = nil
	if err == nil && cfg.syncDir {
		err = syncDir(dir)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
