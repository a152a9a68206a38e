// Package volumes owns the on-disk layout of a root's volumes: each one
// is volumes/<name>/ holding meta.json and _data (the content containers
// mount), made and removed by renames so that a reader never sees half a
// volume; the hidden directories of creates, imports and removes under
// way (or left by a dead process) lie beside them. hull's root keeps what
// a volume means (who uses it, what may be removed); this package, where
// its files are and how they change.
package volumes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
)

// ErrInvalidName is wrapped by CheckName's error.
var ErrInvalidName = errors.New("invalid volume name")

// Meta is a volume's meta.json.
type Meta struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	Anonymous bool              `json:"anonymous,omitempty"`
}

// Dir is a root's volumes directory.
type Dir string

// Path is the directory of volume name.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// Data is the directory holding volume name's content.
func (d Dir) Data(name string) string { return filepath.Join(d.Path(name), "_data") }

// CheckName applies Docker's rule for volume names:
// [a-zA-Z0-9][a-zA-Z0-9_.-]+, 255 bytes at most. It also keeps the
// hidden directories beside the volumes from being taken for volumes.
func CheckName(name string) error {
	ok := len(name) >= 2 && len(name) <= 255
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '.' && r != '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", ErrInvalidName, name)
	}
	return nil
}

// Read reads volume name's metadata; the error wraps fs.ErrNotExist if
// there is no such volume.
func (d Dir) Read(name string) (Meta, error) {
	var meta Meta
	data, err := os.ReadFile(filepath.Join(d.Path(name), "meta.json"))
	if err != nil {
		return meta, err
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return meta, fmt.Errorf("volume %s metadata: %w", name, err)
	}
	return meta, nil
}

// Names lists the names of the directories that may be volumes, sorted:
// not the hidden ones of creates, imports and removes. A volume listed
// may be removed before it is read.
func (d Dir) Names() ([]string, error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && CheckName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Lock takes the volumes lock (an flock, so it holds across processes),
// creating the directory if need be. The caller must call the function
// returned.
func (d Dir) Lock() (func(), error) {
	l, err := fsutil.LockFile(filepath.Join(string(d), ".lock"), fsutil.CreateDir)
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// Make creates the volume meta names with an empty _data (0755 root, as
// Docker's), all or nothing: it is built in a hidden directory and
// renamed into place. The caller holds the lock.
func (d Dir) Make(meta Meta) error {
	tmp, err := os.MkdirTemp(string(d), ".create-")
	if err != nil {
		return err
	}
	err = os.Mkdir(filepath.Join(tmp, "_data"), 0o755)
	if err == nil {
		err = writeMeta(tmp, meta)
	}
	if err == nil {
		err = os.Rename(tmp, d.Path(meta.Name))
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}

func writeMeta(dir string, meta Meta) error {
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "meta.json"), data, 0o600, fsutil.Sync())
}

// Delete renames the volume's directory away (readers never see half a
// volume) and removes it. The caller holds the lock.
func (d Dir) Delete(name string) error {
	gone := filepath.Join(string(d), ".removing-"+name)
	_ = os.RemoveAll(gone) // a dead process's half-done remove
	if err := os.Rename(d.Path(name), gone); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}

// RemoveStale removes the hidden directories of creates, imports and
// removes that a dead process left, and returns the bytes it freed. The
// caller holds the lock, as every writer of such a directory does while
// its name is visible, except an import, which holds its own lock in it
// (StartImport) and is left alone while it does.
func (d Dir) RemoveStale() (freed int64) {
	entries, _ := os.ReadDir(string(d))
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, ".") {
			continue
		}
		p := filepath.Join(string(d), n)
		if strings.HasPrefix(n, ".import-") && fsutil.Held(filepath.Join(p, ".lock")) {
			continue
		}
		size := fsutil.DirSize(p)
		if os.RemoveAll(p) == nil {
			freed += size
		}
	}
	return freed
}

// Exporting reports whether an export of volume name runs (HoldExport).
func (d Dir) Exporting(name string) bool {
	return fsutil.Held(filepath.Join(d.Path(name), "export.lock"))
}

// HoldExport marks volume name as being exported, until the function
// returned is called: a shared lock, so that exports may overlap.
func (d Dir) HoldExport(name string) (func(), error) {
	l, err := fsutil.LockFile(filepath.Join(d.Path(name), "export.lock"), fsutil.Shared)
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// Import is a volume being made from outside content: a hidden directory
// beside the volumes, locked so that RemoveStale leaves it alone.
type Import struct {
	d    Dir
	tmp  string
	lock *fsutil.Lock
	done bool
}

// StartImport makes the directory of a new import, with an empty _data
// to fill. The caller must Close it.
func (d Dir) StartImport() (*Import, error) {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(string(d), ".import-")
	if err != nil {
		return nil, err
	}
	l, err := fsutil.LockFile(filepath.Join(tmp, ".lock"), fsutil.Exclusive)
	if err == nil {
		err = os.Mkdir(filepath.Join(tmp, "_data"), 0o755)
		if err != nil {
			l.Unlock()
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &Import{d: d, tmp: tmp, lock: l}, nil
}

// Data is the directory to fill.
func (im *Import) Data() string { return filepath.Join(im.tmp, "_data") }

// Commit makes the import the volume meta names, taking the volumes lock
// for it. It fails with an error wrapping fs.ErrExist if the name was
// taken meanwhile.
func (im *Import) Commit(meta Meta) error {
	if err := os.Remove(filepath.Join(im.tmp, ".lock")); err != nil {
		return err
	}
	unlock, err := im.d.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(im.d.Path(meta.Name)); err == nil {
		return fmt.Errorf("a volume named %s exists: %w", meta.Name, fs.ErrExist)
	}
	if err := writeMeta(im.tmp, meta); err != nil {
		return err
	}
	if err := os.Rename(im.tmp, im.d.Path(meta.Name)); err != nil {
		return err
	}
	im.done = true
	return nil
}

// Close releases the import's lock and, unless it was committed, removes
// its directory.
func (im *Import) Close() {
	im.lock.Unlock()
	if !im.done {
		os.RemoveAll(im.tmp)
	}
}
